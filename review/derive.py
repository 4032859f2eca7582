"""Derive stage: facts + claim + history -> the flat, typed symbols the policy rules test.

Counts and timelines live here (distinct muscles, sessions in a window, diagnosis coverage), so
rules stay one-line expressions. A rule reads these as ``derived.<name>`` (or
by the bare name), beside ``claim``, ``history``, ``facts`` and ``settings``
(``review/policy/names.py``); ``review rules check`` rejects any other name with a suggestion.

What a policy reviews and excludes is the policy's own data, never a constant here: its procedure
codes are the keys of ``settings.codes_by_muscle_count`` and its excluded services are
``settings.exclusion_groups`` (kinds found in the facts, claim codes that bill them).
The symbols' schema, ``Derived``, is in ``review/schema.py``, where the policy checks read it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

from review.schema import Case, Derived, Facts, HistoryItem, date_of_service

if TYPE_CHECKING:
    from review.policy.model import Policy, Settings


def derive(case: Case, facts: Facts, policy: Policy) -> Derived:
    """Compute the rule symbols for one case under one policy's settings and code lists."""
    settings = policy.settings
    d = Derived()
    dos = date_of_service(case)
    _claim(d, case, dos, settings)
    _sites(d, facts, settings.count_sides_separately, policy)
    _exclusions(d, facts, settings)
    _diagnoses(d, facts, policy)
    _exam(d, facts, policy)
    _conservative(d, facts)
    _repeat(d, case, facts, dos, settings)
    _injectate(d, facts)
    d.extraction_failed = facts.extraction_error is not None
    d.unreadable_attachments = sorted(case.unreadable_attachments)
    d.extraction_error = facts.extraction_error or ""
    d.extractor_disagreements = [
        f"{x.fact}: offline {', '.join(x.offline) or 'none'} vs LLM {', '.join(x.llm) or 'none'}"
        for x in facts.extractor_disagreements
    ]
    return d


def _claim(d: Derived, case: Case, dos: dt.date | None, settings: Settings) -> None:
    claim = case.claim
    if claim is None:
        return
    d.has_claim = True
    d.claim_codes = sorted({line.code for line in claim.lines})
    procedure_codes = settings.procedure_codes
    tpi_lines = [line for line in claim.lines if line.code in procedure_codes]
    d.billed_codes = sorted({line.code for line in tpi_lines})
    d.billed_code = max(d.billed_codes) if d.billed_codes else ""
    d.tpi_line_count = len(tpi_lines)
    d.tpi_units = sum(line.units for line in tpi_lines)
    d.same_day_history_tpi = sum(
        1 for h in case.history if h.code in procedure_codes and dos and h.date_of_service == dos
    )
    excluded = settings.excluded_codes()
    d.excluded_codes_billed = sorted(code for code in d.claim_codes if code in excluded)
    d.authorization_present = bool(claim.authorization and claim.authorization.strip())
    d.claim_diagnoses = sorted(
        {dx.strip().upper() for line in (tpi_lines or claim.lines) for dx in line.diagnoses}
    )


def _sites(d: Derived, facts: Facts, count_sides: bool, policy: Policy) -> None:
    d.procedure_performed = facts.procedure_performed
    d.procedure_status = facts.procedure_status
    d.procedure_status_reason = facts.procedure_status_reason or ""
    d.muscles = sorted(
        f"{m.side} {m.name}" if m.side != "unspecified" else m.name for m in facts.injected_muscles
    )
    d.distinct_muscle_count = sum(
        2 if count_sides and m.side == "bilateral" else 1 for m in facts.injected_muscles
    )
    d.region_sites = sorted(r.name for r in facts.injected_regions)
    d.region_only_site_count = len(facts.injected_regions)
    areas = {m.body_area for m in facts.injected_muscles if m.body_area}
    areas |= {r.body_area for r in facts.injected_regions if r.body_area}
    d.body_areas = sorted(areas)
    d.body_area_count = len({policy.settings.coarse_area(a) for a in areas})
    if facts.procedure_performed and d.distinct_muscle_count:
        d.supported_code = policy.settings.code_for_muscles(d.distinct_muscle_count)
    d.code_supported = bool(d.billed_code) and d.billed_code == d.supported_code


def _exclusions(d: Derived, facts: Facts, settings: Settings) -> None:
    performed = sorted({e.kind for e in facts.excluded_services if e.performed})
    d.excluded_performed = performed
    d.excluded_mentioned_not_performed = sorted(
        {e.kind for e in facts.excluded_services if not e.performed} - set(performed)
    )
    excluded_codes = settings.excluded_codes()
    found = {*performed, *(excluded_codes[c] for c in d.excluded_codes_billed)}
    d.exclusion_signals = {
        name: sorted(found & set(group.kinds)) for name, group in settings.exclusion_groups.items()
    }
    if any(d.exclusion_signals.values()):
        d.supported_code = ""


def _diagnoses(d: Derived, facts: Facts, policy: Policy) -> None:
    if not d.claim_diagnoses:
        d.diagnosis_rationale_documented = bool(facts.diagnosis_rationale)
        return
    from review.codes import icd_index

    index = icd_index()
    for code in d.claim_diagnoses:
        if not index.is_valid(code):
            d.invalid_diagnoses.append(code)
        elif not index.is_billable(code):
            d.nonbillable_diagnoses.append(code)
        elif policy.codes.covers(index.normalise(code)):
            d.covered_diagnoses.append(code)
        else:
            d.uncovered_diagnoses.append(code)
    billable = [c for c in d.claim_diagnoses if index.is_billable(c)]
    d.nonspecific_diagnoses_only = bool(billable) and all(
        policy.codes.is_nonspecific(index.normalise(c)) for c in billable
    )
    d.diagnosis_rationale_documented = bool(facts.diagnosis_rationale)


def _exam(d: Derived, facts: Facts, policy: Policy) -> None:
    first_line = set(policy.settings.first_line_muscles)
    d.first_line_muscles_injected = sorted(
        {m.name for m in facts.injected_muscles if m.name in first_line}
    )
    d.exam_features = sorted({f.kind for f in facts.exam_findings if f.present})
    d.exam_feature_count = len(d.exam_features)
    d.exam_features_absent = sorted(
        {f.kind for f in facts.exam_findings if not f.present} - set(d.exam_features)
    )


def _conservative(d: Derived, facts: Facts) -> None:
    noninvasive = [t for t in facts.prior_treatments if t.category == "noninvasive"]
    d.noninvasive_tried = sorted({t.name for t in noninvasive})
    d.noninvasive_failed = sorted(
        {t.name for t in noninvasive if t.outcome in ("failed", "partial", "not_tolerated")}
    )
    d.noninvasive_contraindicated = sorted(
        {t.name for t in noninvasive if t.outcome == "contraindicated"}
    )
    d.noninvasive_effective = sorted({t.name for t in noninvasive if t.outcome == "effective"})
    d.noninvasive_outcome_unknown = sorted(
        {t.name for t in noninvasive if t.outcome in ("unknown", "ongoing")}
    )
    d.noninvasive_not_tried = sorted({t.name for t in noninvasive if t.outcome == "not_tried"})
    d.concurrent_therapies = sorted(
        {t.name for t in facts.concurrent_therapies if t.category == "noninvasive"}
    )


def _repeat(d: Derived, case: Case, facts: Facts, dos: dt.date | None, settings: Settings) -> None:
    procedure_codes = settings.procedure_codes
    prior_history = [
        h
        for h in case.history
        if h.code in procedure_codes and (dos is None or h.date_of_service < dos)
    ]
    d.prior_injection_count = max(len(prior_history), len(facts.prior_injections))
    d.is_repeat = d.prior_injection_count > 0
    responses = [p.response for p in facts.prior_injections]
    if "improved" in responses:
        d.prior_response = "improved"
    elif "no_relief" in responses:
        d.prior_response = "no_relief"
    elif d.is_repeat:
        d.prior_response = "unknown"
    # without relief: every documented response says no relief; the count comes from history
    if responses and all(r == "no_relief" for r in responses):
        d.no_relief_injections = max(len(prior_history), responses.count("no_relief"))
    if dos is not None:
        start = settings.window_start(dos)
        dates = {h.date_of_service for h in prior_history}
        dates |= {when for p in facts.prior_injections if (when := note_date(p.date)) is not None}
        d.prior_sessions_in_window = len({when for when in dates if start <= when < dos})
    d.sessions_in_window = d.prior_sessions_in_window + (
        1 if (d.procedure_performed or d.billed_code) else 0
    )
    # "today is his 4th TPI session in 12 months": the note's own count when it is higher
    d.sessions_in_window = max(d.sessions_in_window, facts.stated_session_number or 0)
    _intervals(d, facts, prior_history, dos)
    relief = [p.percent_relief for p in facts.prior_injections if p.percent_relief is not None]
    d.prior_percent_relief = max(relief, default=-1)
    weeks = [w for p in facts.prior_injections if (w := duration_weeks(p.duration)) is not None]
    d.prior_relief_weeks = max(weeks, default=-1)


def _intervals(
    d: Derived, facts: Facts, prior_history: list[HistoryItem], dos: dt.date | None
) -> None:
    """Days since the last earlier injection, and since the last one at a muscle injected today."""
    if dos is None:
        return
    today = {m.name for m in facts.injected_muscles}
    earlier: list[tuple[dt.date, set[str]]] = [
        (h.date_of_service, {" ".join(m.lower().split()) for m in h.muscles}) for h in prior_history
    ]
    for p in facts.prior_injections:
        when = note_date(p.date)
        if when is not None and when < dos:
            earlier.append((when, set(p.muscles)))
    if not earlier:
        return
    d.days_since_last_injection = min((dos - when).days for when, _ in earlier)
    same = [(dos - when).days for when, muscles in earlier if muscles & today]
    d.days_since_last_injection_same_site = min(same, default=-1)


_WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "eight": 8}


def duration_weeks(text: str | None) -> int | None:
    """Whole weeks in a stated duration ("x 6 wks", "for about one month", "for 2 months")."""
    if not text:
        return None
    match = re.search(
        r"(\d+|one|two|three|four|five|six|eight)\s*(?:-\s*\d+\s*)?"
        r"(day|d|week|wk|month|mo|year|yr)s?\b",
        text.lower(),
    )
    if not match:
        return None
    number = match.group(1)
    count = int(number) if number.isdigit() else _WORD_NUMBERS[number]
    per_week = {"day": 1 / 7, "d": 1 / 7, "week": 1, "wk": 1, "month": 4.345, "mo": 4.345}
    return int(count * per_week.get(match.group(2), 52.18))


def note_date(text: str | None) -> dt.date | None:
    """A date as notes write it: 05/21/2025, 5/21/25, 2025-05-21 or 05/2025 (first of month)."""
    if not text:
        return None
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text.strip())
    if match:
        year, month, day = (int(g) for g in match.groups())
    else:
        match = re.fullmatch(r"(\d{1,2})/(?:(\d{1,2})/)?(\d{4}|\d{2})", text.strip())
        if not match:
            return None
        month, day, year = int(match.group(1)), int(match.group(2) or 1), int(match.group(3))
        year += 2000 if year < 100 else 0
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _injectate(d: Derived, facts: Facts) -> None:
    d.injectate = sorted({i.name for i in facts.injectate})
    d.injectate_with_dose = sorted({i.name for i in facts.injectate if i.dose})
    d.injectate_count = len(d.injectate)
