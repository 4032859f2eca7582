"""Shared fixtures. No test touches the network; tests that read ../shared skip without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cassette_config import pytest_recording_configure, sent, vcr_config  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MTSAMPLES = SHARED / "data" / "mtsamples" / "notes.jsonl"


@pytest.fixture
def standin():
    """A scripted OpenAI-compatible server on loopback (tests/llm_standin.py) for this test."""
    from llm_standin import standin_server

    with standin_server() as server:
        yield server


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test shares one throwaway cache dir, never the user's."""
    cache = tmp_path_factory.getbasetemp() / "review-cache"
    monkeypatch.setenv("REVIEW_CACHE_DIR", str(cache))


@pytest.fixture(scope="session")
def nlp():
    from review.parse.pipeline import build_pipeline

    return build_pipeline()


@pytest.fixture(scope="session")
def policy():
    from review.policy import load_policy

    return load_policy("hphc-tpi")


@pytest.fixture
def mtsamples_path() -> Path:
    if not MTSAMPLES.is_file():
        pytest.skip(f"{MTSAMPLES} is absent (a clone outside the organisation has no ../shared)")
    return MTSAMPLES


def review_text(
    text: str,
    *,
    claim: dict | None = None,
    history: list | None = None,
    kind="procedure_note",
    date="2026-03-14",
):
    """Review one synthetic note as a case (helper for unit tests)."""
    from review.case import case_from_dict
    from review.pipeline import review_case

    data = {
        "case_id": "T-1",
        "documents": [{"id": "note", "kind": kind, "date": date, "text": text}],
    }
    if claim is not None:
        data["claim"] = claim
    if history is not None:
        data["history"] = history
    return review_case(case_from_dict(data, source="test"))


os.environ.setdefault("REVIEW_RULES_DIR", str(ROOT / "rules"))
os.environ.setdefault("REVIEW_POLICY_DIR", "")  # never the user's ~/.config/tpi-review/policies


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden", action="store_true", help="rewrite tests/golden/expected/*.json"
    )


def evidence_items(node):
    """Every evidence-shaped object anywhere in a dumped recommendation (findings, facts, ...)."""
    if isinstance(node, dict):
        if {"document_id", "start", "end", "text"} <= node.keys():
            yield node
        for value in node.values():
            yield from evidence_items(value)
    elif isinstance(node, list):
        for value in node:
            yield from evidence_items(value)


# --------------------------------------------------------------------------- audit databases


@pytest.fixture(scope="session")
def postgres_cluster():
    """One throwaway PostgreSQL server for the session (tests/pg_cluster.py), stopped and removed
    at the end. Skips without the server binaries, unless REVIEW_TEST_POSTGRES=required (CI)."""
    from pg_cluster import REQUIRED, Cluster, Unavailable

    try:
        cluster = Cluster()
    except Unavailable as exc:
        if os.environ.get(REQUIRED) == "required":
            pytest.fail(f"{REQUIRED}=required, but no PostgreSQL server could be started: {exc}")
        pytest.skip(f"no PostgreSQL server for the tests ({exc}); CI sets {REQUIRED}=required")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster):
    """A ``postgresql+psycopg://`` URL to a fresh, empty schema of the test server."""
    with postgres_cluster.schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_db(request, tmp_path):
    """An audit database not created yet: an SQLite path, or a URL to an empty PostgreSQL schema
    (tests/audit_db.py reads and tampers with either)."""
    if request.param == "sqlite":
        return tmp_path / "audit.sqlite"
    return request.getfixturevalue("postgres_url")
