"""Decision clocks (issue #14): the case contract's received_at and urgency, the FHIR mapping, the
limits (defaults and the per-line-of-business ``--clocks`` file), and the queue's time-left sort
and overdue marks. Every expected time and order below is worked out by hand from the table, at a
fixed ``now``."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from review.case import case_from_dict, load_case
from review.errors import CaseError, ReviewError
from review.schema import Facts, Provenance, Recommendation
from review.workbench.clocks import ClockSettings, clock_for, load_clocks, parse_duration

ROOT = Path(__file__).resolve().parents[1]
H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
UTC = dt.UTC
NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def _case() -> dict:
    return {"case_id": "CLK-1", "documents": [{"id": "n", "text": "Trigger point injection."}]}


def _write(tmp_path: Path, text: str, name: str = "clocks.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the case contract


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-06-14T09:30:00Z", dt.datetime(2026, 6, 14, 9, 30, tzinfo=UTC)),
        ("2026-06-14T09:30:00-05:00", dt.datetime(2026, 6, 14, 14, 30, tzinfo=UTC)),
        ("2026-06-14T09:30:00+05:30", dt.datetime(2026, 6, 14, 4, 0, tzinfo=UTC)),
    ],
)
def test_received_at_keeps_its_timezone(value, expected):
    case = case_from_dict({**_case(), "received_at": value}, source="case.json")
    assert case.received_at == expected and case.received_at.utcoffset() is not None
    assert case.urgency == "standard"  # the default


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("2026-06-14T09:30:00", "has no timezone"),
        ("2026-06-14 09:30", "has no timezone"),
        ("2026-06-14", "a date alone"),
        ("yesterday", "not an ISO 8601 date-time"),
        ("", "not an ISO 8601 date-time"),
        (1781438400, "expected an ISO 8601 date-time string, got int"),
    ],
)
def test_received_at_without_a_timezone_is_a_case_error(value, says):
    with pytest.raises(CaseError) as err:
        case_from_dict({**_case(), "received_at": value}, source="case.json")
    assert err.value.code == "C004" and err.value.field == "received_at"
    line = str(err.value)
    assert len(line.splitlines()) == 1 and says in line and "T09:30:00-05:00" in line


def test_a_naive_received_at_in_a_case_yaml_is_refused(tmp_path):
    # YAML reads an unquoted timestamp as a datetime itself: the check must still see the zone
    (tmp_path / "n.txt").write_text("Trigger point injection to the left trapezius.")
    (tmp_path / "case.yaml").write_text(
        "case_id: Y-1\nreceived_at: 2026-06-14 09:30:00\ndocuments: [{id: n, path: n.txt}]\n",
        encoding="utf-8",
    )
    with pytest.raises(CaseError, match=r"\[C004\].*received_at.*has no timezone"):
        load_case(tmp_path)
    (tmp_path / "case.yaml").write_text(
        "case_id: Y-1\nreceived_at: 2026-06-14T09:30:00Z\nurgency: expedited\n"
        "documents: [{id: n, path: n.txt}]\n",
        encoding="utf-8",
    )
    case = load_case(tmp_path)
    assert case.received_at == dt.datetime(2026, 6, 14, 9, 30, tzinfo=UTC)
    assert case.urgency == "expedited"


def test_urgency_is_standard_or_expedited():
    case = case_from_dict({**_case(), "urgency": "expedited"}, source="case.json")
    assert case.urgency == "expedited"
    with pytest.raises(CaseError, match=r"\[C004\].*urgency"):
        case_from_dict({**_case(), "urgency": "urgent"}, source="case.json")


def test_clock_fields_do_not_change_the_recommendation():
    from review.pipeline import review_case

    folder = ROOT / "examples" / "pend-no-conservative-care"
    plain = load_case(folder)
    timed = plain.model_copy(
        update={"received_at": dt.datetime(2026, 2, 18, 9, 0, tzinfo=UTC), "urgency": "expedited"}
    )
    assert review_case(timed).model_dump_json() == review_case(plain).model_dump_json()


# --------------------------------------------------------------------------- FHIR


PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"


def _priority(code: str, system: str = PRIORITY) -> dict:
    return {"coding": [{"system": system, "code": code}]}


def _bundle(created: str, priority: dict) -> dict:
    from fhir_bundles import bundle_from_case

    bundle = bundle_from_case(ROOT / "examples" / "approve-cervical-tpi")
    claim = bundle["entry"][0]["resource"]
    assert claim["resourceType"] == "Claim"
    claim["created"] = created  # Claim.created and Claim.priority are required (1..1) in R4
    claim["priority"] = priority
    return bundle


AT_9 = dt.datetime(2026, 3, 10, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("created", "priority", "received_at", "urgency"),
    [
        ("2026-03-10T09:00:00Z", _priority("stat"), AT_9, "expedited"),
        ("2026-03-10T04:00:00-05:00", _priority("normal"), AT_9, "standard"),
        ("2026-03-10T09:00:00Z", _priority("deferred"), AT_9, "standard"),
        ("2026-03-10T09:00:00Z", _priority("asap", "urn:local:priority"), AT_9, "standard"),
        ("2026-03-10T09:00:00Z", {"text": "urgent, per the provider"}, AT_9, "standard"),
        ("2026-03-10T09:00:00Z", _priority("stat", "urn:local:priority"), AT_9, "expedited"),
        (
            "2026-03-10T09:00:00Z",
            {"coding": [{"system": PRIORITY, "code": "normal"}, {"code": "stat"}]},
            AT_9,
            "standard",  # the processpriority coding wins
        ),
        ("2026-03-10", _priority("stat"), None, "expedited"),  # a date alone: no guessed time
        ("2026-03", _priority("normal"), None, "standard"),
    ],
)
def test_fhir_claim_created_and_priority_map_to_the_clock(created, priority, received_at, urgency):
    case = case_from_dict(_bundle(created, priority), source="b.json")
    assert (case.received_at, case.urgency) == (received_at, urgency)


def test_the_bundled_fhir_examples_carry_their_clock():
    case = load_case(ROOT / "examples" / "fhir" / "approve-cervical-tpi.bundle.json")
    assert (case.received_at, case.urgency) == (AT_9, "standard")  # created 2026-03-10T09:00:00Z
    # the one case folder with a received time says what its bundle says
    folder = load_case(ROOT / "examples" / "pend-no-conservative-care")
    bundle = load_case(ROOT / "examples" / "fhir" / "pend-no-conservative-care.bundle.json")
    assert folder.received_at == bundle.received_at == dt.datetime(2026, 2, 18, 9, tzinfo=UTC)


def test_fhir_created_without_a_timezone_is_invalid_fhir():
    with pytest.raises(CaseError) as err:
        case_from_dict(_bundle("2026-03-10T09:00:00", _priority("normal")), source="b.json")
    assert err.value.code == "F003" and "created" in str(err.value)


# --------------------------------------------------------------------------- limits


@pytest.mark.parametrize(
    ("text", "expected"),
    [("72h", 72 * H), ("7d", 7 * D), ("36h", 36 * H), (" 14d ", 14 * D), ("1h", H)],
)
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["7", "7 days", "0h", "-3h", "1.5d", "h", "", "3w", 72, None])
def test_bad_durations(text):
    with pytest.raises(ValueError, match=r"e\.g\. 72h or 7d"):
        parse_duration(text)


def test_default_limits():
    settings = ClockSettings()
    assert settings.limit("expedited", None) == 72 * H
    assert settings.limit("standard", None) == 7 * D
    assert settings.limit("standard", "medicaid") == 7 * D


def test_line_of_business_overrides(tmp_path):
    settings = load_clocks(
        _write(
            tmp_path,
            "default:\n  standard: 10d\n"
            "lines_of_business:\n"
            "  Medicaid:\n    standard: 14d\n"
            "  commercial:\n    expedited: 36h\n    standard: 5d\n",
        )
    )
    assert settings.limit("standard", "medicaid") == 14 * D  # case and spaces do not matter
    assert settings.limit("standard", "  MEDICAID ") == 14 * D
    assert settings.limit("expedited", "medicaid") == 72 * H  # not overridden: the default's
    assert settings.limit("expedited", "commercial") == 36 * H
    assert settings.limit("standard", "commercial") == 5 * D
    assert settings.limit("standard", "medicare_advantage") == 10 * D  # the file's default
    assert settings.limit("standard", None) == 10 * D
    assert settings.limit("expedited", None) == 72 * H


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("lines_of_business: [medicaid\n", "malformed YAML"),
        (
            "defaults:\n  standard: 7d\n",
            "defaults: unknown key (the keys here are default, lines_of_business); did you mean 'default'?",
        ),
        ("default: 7d\n", "default: Input should be a valid dictionary"),
        (
            "lines_of_business:\n  medicaid:\n    routine: 7d\n",
            "lines_of_business.medicaid.routine: unknown key (the keys here are expedited, standard)",
        ),
        (
            "lines_of_business:\n  medicaid:\n    standard: 7 days\n",
            "lines_of_business.medicaid.standard: '7 days' is not a duration",
        ),
        ("default:\n  expedited: 0h\n", "default.expedited: '0h' is not a duration"),
        ("- 72h\n", "expected a mapping"),
        (
            "lines_of_business:\n  medicaid: {standard: 7d}\n  Medicaid: {standard: 14d}\n",
            "name the same line of business",
        ),
    ],
)
def test_bad_clocks_file_is_one_line_naming_the_file(tmp_path, text, says):
    path = _write(tmp_path, text)
    with pytest.raises(ReviewError) as err:
        load_clocks(path)
    line = str(err.value)
    assert err.value.code == "W007" and line.startswith(f"[W007] {path}")
    assert says in line and len(line.splitlines()) == 1


def test_missing_clocks_file(tmp_path):
    with pytest.raises(ReviewError, match=r"^\[W007\] .*nope.yaml: cannot be read"):
        load_clocks(tmp_path / "nope.yaml")


def test_empty_clocks_file_means_the_defaults(tmp_path):
    settings = load_clocks(_write(tmp_path, "# nothing yet\n"))
    assert settings.limit("expedited", "medicaid") == 72 * H


def test_serve_refuses_a_bad_clocks_file_before_loading_cases(tmp_path):
    path = _write(tmp_path, "default:\n  standard: a week\n")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "review.cli",
            "serve",
            "--cases",
            "/nonexistent",
            "--clocks",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    lines = run.stderr.splitlines()
    assert run.returncode == 2 and len(lines) == 1, run.stderr
    assert lines[0].startswith(f"error: [W007] {path}: default.standard: 'a week'")


# --------------------------------------------------------------------------- one clock


@pytest.mark.parametrize(
    ("received", "urgency", "left", "state", "label"),
    [
        # received                     urgency      due - now        state
        (NOW - 71 * H, "expedited", H, "running", "1 h left"),
        (NOW - 72 * H, "expedited", dt.timedelta(0), "running", "0 min left"),
        (
            NOW - 72 * H - 20 * dt.timedelta(minutes=1),
            "expedited",
            -20 * dt.timedelta(minutes=1),
            "overdue",
            "overdue by 20 min",
        ),
        (
            NOW - 75 * H - dt.timedelta(minutes=59),
            "expedited",
            -(3 * H + dt.timedelta(minutes=59)),
            "overdue",
            "overdue by 3 h",
        ),
        (
            NOW - 2 * D + dt.timedelta(minutes=30),
            "standard",
            5 * D + dt.timedelta(minutes=30),
            "running",
            "5 d left",
        ),
        (
            NOW - 2 * D + 5 * H + dt.timedelta(minutes=59),
            "standard",
            5 * D + 5 * H + dt.timedelta(minutes=59),
            "running",
            "5 d 5 h left",
        ),
        (NOW - 10 * D, "standard", -3 * D, "overdue", "overdue by 3 d"),
    ],
)
def test_one_clock(received, urgency, left, state, label):
    clock = clock_for(
        received_at=received,
        urgency=urgency,
        line_of_business=None,
        settings=ClockSettings(),
        now=NOW,
    )
    assert (clock.left, clock.state, clock.label) == (left, state, label)


def test_no_received_time_gets_no_clock():
    clock = clock_for(
        received_at=None,
        urgency="expedited",
        line_of_business=None,
        settings=ClockSettings(),
        now=NOW,
    )
    assert clock.state == "no_received_time" and clock.due is None
    assert clock.label == "no received time"


def test_a_decided_clock_says_whether_it_was_in_time():
    received = dt.datetime(2026, 6, 10, 12, tzinfo=UTC)  # expedited: due 06-13 12:00
    early = clock_for(
        received_at=received,
        urgency="expedited",
        line_of_business=None,
        settings=ClockSettings(),
        now=NOW,
        decided=True,
        decided_at=dt.datetime(2026, 6, 12, 7, tzinfo=UTC),
    )
    late = clock_for(
        received_at=received,
        urgency="expedited",
        line_of_business=None,
        settings=ClockSettings(),
        now=NOW,
        decided=True,
        decided_at=dt.datetime(2026, 6, 14, 14, tzinfo=UTC),
    )
    assert early.state == late.state == "decided"
    assert "overdue" not in early.label and "stopped" in early.label
    assert early.detail.endswith("reviewed 1 d 5 h before the deadline")
    assert late.detail.endswith("reviewed 1 d 2 h after the deadline")


# --------------------------------------------------------------------------- the queue

pytest.importorskip("fastapi", reason="the workbench extra is not installed")
pytest.importorskip("httpx", reason="FastAPI's test client needs httpx")

from fastapi.testclient import TestClient  # noqa: E402

from review.workbench.app import create_app  # noqa: E402
from review.workbench.cases import CaseEntry, CaseSource  # noqa: E402

ORIGIN = "http://127.0.0.1"
CLOCKS = "lines_of_business:\n  medicaid:\n    standard: 14d\n  commercial:\n    expedited: 36h\n"

# now = 2026-06-15 12:00 UTC; limits: 72 h expedited, 7 d standard, medicaid standard 14 d,
# commercial expedited 36 h. "review": an audit row (accept) before the queue is read.
TABLE = [
    # key            received (UTC unless written)   urgency      line        decision  review
    ("late-exp", "2026-06-11T09:00:00Z", "expedited", None, "approve", None),
    # due 06-14 09:00: overdue by 27 h = 1 d 3 h
    ("late-std", "2026-06-08T06:00:00Z", "standard", None, "deny", None),
    # due 06-15 06:00: overdue by 6 h
    ("medicaid-std", "2026-06-08T06:00:00Z", "standard", "medicaid", "approve", None),
    # 14 d: due 06-22 06:00, 6 d 18 h left (7 d would be overdue by 6 h)
    ("comm-exp", "2026-06-14T06:00:00Z", "expedited", "Commercial", "pend", None),
    # 36 h: due 06-15 18:00, 6 h left (72 h would leave 1 d 18 h)
    ("exp-soon", "2026-06-13T00:00:00Z", "expedited", None, "approve", None),
    # due 06-16 00:00: 12 h left
    ("std-fresh", "2026-06-15T10:00:00+02:00", "standard", None, "approve", None),
    # 08:00 UTC; due 06-22 08:00: 6 d 20 h left
    ("no-time-b", None, "expedited", None, "approve", None),
    ("no-time-a", None, "standard", None, "pend", None),
    ("decided-late", "2026-06-01T00:00:00Z", "standard", None, "pend", "accept"),
    # overdue by 7 d 12 h, but decided: last
    ("decided-none", None, "standard", None, "approve", "override"),
]
EXPECTED_ORDER = [
    "late-exp",  # overdue by 1 d 3 h
    "late-std",  # overdue by 6 h
    "comm-exp",  # 6 h left
    "exp-soon",  # 12 h left
    "medicaid-std",  # 6 d 18 h left
    "std-fresh",  # 6 d 20 h left
    "no-time-a",  # no received time: pended first
    "no-time-b",
    "decided-late",  # decided: by case id
    "decided-none",
]
EXPECTED_LABELS = {
    "late-exp": "overdue by 1 d 3 h",
    "late-std": "overdue by 6 h",
    "comm-exp": "6 h left",
    "exp-soon": "12 h left",
    "medicaid-std": "6 d 18 h left",
    "std-fresh": "6 d 20 h left",
    "no-time-a": "no received time",
    "no-time-b": "no received time",
    "decided-late": "decided: clock stopped",
    "decided-none": "decided: clock stopped",
}


def _rec(case_id: str, decision: str) -> Recommendation:
    return Recommendation(
        case_id=case_id,
        decision=decision,
        billed_code="20552",
        supported_code="20552" if decision != "deny" else None,
        summary="",
        findings=[],
        facts=Facts(),
        missing_documentation=[],
        provenance=Provenance(version="test", policy="hphc-tpi", rules_sha256="0" * 64),
    )


@pytest.fixture
def queue_client(tmp_path):
    entries = [
        CaseEntry(
            key=key,
            case_id=key,
            source="test",
            rec=_rec(key, decision),
            received_at=dt.datetime.fromisoformat(received) if received else None,
            urgency=urgency,
            line_of_business=line,
        )
        for key, received, urgency, line, decision, _ in TABLE
    ]
    app = create_app(
        CaseSource("cases", "test", entries),
        tmp_path / "audit.sqlite",
        secret=b"test-secret-for-the-clocks-tests",
        clocks=load_clocks(_write(tmp_path, CLOCKS)),
        now=lambda: NOW,
    )
    store = app.state.workbench.store
    for key, _, _, _, decision, action in TABLE:
        if action:
            store.insert(
                reviewer="R. Nurse",
                case_key=key,
                case_id=key,
                action=action,
                from_decision=decision,
                from_code="20552",
                to_decision=decision if action == "accept" else "deny",
                to_code="20552" if action == "accept" else None,
                reason="test",
                provenance={},
                rec_sha256=None,
            )
    with TestClient(app, base_url=ORIGIN, headers={"Origin": ORIGIN}) as client:
        yield client


def _rows(html: str) -> list[tuple[str, str, str]]:
    """(case id, data-clock, the time-left cell's text) of each queue row, in order."""
    out = []
    for row in re.findall(r'<tr class="queue-row.*?</tr>', html, re.S):
        case_id = re.search(r'data-case-id="([^"]+)"', row).group(1)
        state = re.search(r'data-clock="([^"]+)"', row).group(1)
        cell = re.search(r'<td class="clock">(.*?)</td>', row, re.S).group(1)
        out.append((case_id, state, " ".join(re.sub(r"<[^>]+>", " ", cell).split())))
    return out


def test_time_left_is_the_default_sort(queue_client):
    rows = _rows(queue_client.get("/").text)
    assert [c for c, _, _ in rows] == EXPECTED_ORDER
    assert _rows(queue_client.get("/", params={"sort": "time"}).text) == rows
    desc = _rows(queue_client.get("/", params={"sort": "time", "order": "desc"}).text)
    assert [c for c, _, _ in desc] == EXPECTED_ORDER[::-1]


def test_each_row_says_its_time_left(queue_client):
    rows = _rows(queue_client.get("/").text)
    for case_id, _, text in rows:
        assert text.startswith(EXPECTED_LABELS[case_id]), (case_id, text)
    cells = {c: t for c, _, t in rows}
    assert "due 2026-06-22 06:00 UTC" in cells["medicaid-std"] and "14 d" in cells["medicaid-std"]
    assert "due 2026-06-15 18:00 UTC" in cells["comm-exp"] and "36 h" in cells["comm-exp"]
    assert "due 2026-06-22 08:00 UTC" in cells["std-fresh"]


def test_overdue_rows_are_marked_in_words(queue_client):
    html = queue_client.get("/").text
    rows = _rows(html)
    overdue = [c for c, state, _ in rows if state == "overdue"]
    assert overdue == ["late-exp", "late-std"]
    for row in re.findall(r'<tr class="queue-row.*?</tr>', html, re.S):
        marked = 'class="queue-row clock-overdue"' in row
        says = re.search(r"<strong[^>]*>overdue by [^<]+</strong>", row) is not None
        is_overdue = re.search(r'data-case-id="(late-exp|late-std)"', row) is not None
        assert marked == says == is_overdue
    assert re.search(
        r'id="count-overdue"><span class="n">2</span><span class="label">overdue', html
    )
    no_time = [t for c, s, t in rows if s == "no_received_time"]
    assert len(no_time) == 2 and all("no deadline can be set" in t for t in no_time)


def test_existing_sorts_still_put_pended_first(queue_client):
    rows = _rows(queue_client.get("/", params={"sort": "case"}).text)
    assert [c for c, _, _ in rows] == [
        "comm-exp",  # the recommendation pends: by case id
        "decided-late",
        "no-time-a",
        "decided-none",  # then the others by case id
        "exp-soon",
        "late-exp",
        "late-std",
        "medicaid-std",
        "no-time-b",
        "std-fresh",
    ]


def test_the_clock_moves_with_now(tmp_path):
    entry = CaseEntry(
        key="c",
        case_id="c",
        source="t",
        rec=_rec("c", "approve"),
        received_at=dt.datetime(2026, 6, 15, 0, tzinfo=UTC),
        urgency="expedited",
    )
    times = iter([dt.datetime(2026, 6, 16, 0, tzinfo=UTC), dt.datetime(2026, 6, 18, 3, tzinfo=UTC)])
    app = create_app(
        CaseSource("cases", "t", [entry]),
        tmp_path / "a.sqlite",
        secret=b"s" * 32,
        now=lambda: next(times),
    )
    with TestClient(app, base_url=ORIGIN, headers={"Origin": ORIGIN}) as client:
        assert _rows(client.get("/").text)[0][2].startswith("2 d left")  # due 06-18 00:00
        assert _rows(client.get("/").text)[0][2].startswith("overdue by 3 h")


def test_case_page_shows_the_clock_near_the_decision(queue_client):
    html = queue_client.get("/case/late-exp").text
    state = re.search(r'<section class="panel" id="review-state".*?</section>', html, re.S)
    assert state, "the review status panel"
    panel = " ".join(re.sub(r"<[^>]+>", " ", state.group(0)).split())
    assert "Decision clock: overdue by 1 d 3 h" in panel
    assert "expedited, 3 d from receipt: due 2026-06-14 09:00 UTC" in panel
    assert 'data-clock="decided"' in queue_client.get("/case/decided-late").text
