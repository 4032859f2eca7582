"""A blind second reviewer cannot read the first decision through the FHIR API either: the
ClaimResponse of a case assigned to them for a blind second review is refused (F009), while
everyone else reads it as before."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the workbench extra is not installed")
pytest.importorskip("argon2", reason="argon2-cffi is not installed (the workbench extra)")

from test_auth import _quick_argon2, form_token, make_app, signed_in  # noqa: F401 (fixture)

from review.workbench.cases import load_cases

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "examples" / "fhir" / "pend-no-conservative-care.bundle.json"
USERS = [("first-nurse", "nurse"), ("second-nurse", "nurse"), ("the-supervisor", "supervisor")]
REASON = "FIRST-REASON-six-weeks-of-PT-in-the-visit-note"


def test_the_claimresponse_is_refused_to_its_blind_second_reviewer(tmp_path):
    app, _ = make_app(
        load_cases(ROOT / "examples" / "deny-dry-needling"), tmp_path / "a.db", users=USERS
    )
    first = signed_in(app, "first-nurse")
    submitted = first.post(
        "/fhir/Claim/$submit",
        content=BUNDLE.read_bytes(),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert submitted.status_code == 200, submitted.text
    rid = submitted.json()["entry"][0]["resource"]["id"]
    slug = next(e.slug for e in app.state.workbench.source.entries if e.key != "deny-dry-needling")
    token = form_token(first, f"/case/{slug}")
    decided = first.post(
        f"/case/{slug}/review",
        data={"action": "accept", "reviewer": "first-nurse", "reason": REASON, "csrf_token": token},
        follow_redirects=False,
    )
    assert decided.status_code == 303, decided.text
    supervisor = signed_in(app, "the-supervisor")
    token = form_token(supervisor, "/agreement")
    sent = supervisor.post(
        "/agreement/second-reviews",
        data={"reviewer": "second-nurse", "size": "5", "csrf_token": token},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text

    assert REASON in supervisor.get(f"/fhir/ClaimResponse/{rid}").text  # others still read it
    blind = signed_in(app, "second-nurse").get(f"/fhir/ClaimResponse/{rid}")
    assert blind.status_code == 403
    assert "F009" in blind.text and REASON not in blind.text and "first-nurse" not in blind.text
