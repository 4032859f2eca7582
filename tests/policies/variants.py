"""End-to-end cases whose outcome differs between the two policies: one well documented first
injection (examples/approve-cervical-tpi, approved under both) and edits of its notes or claim,
each edit the kind of fact on which the plan's policy and the Medicare LCD disagree."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

from review.case import load_case
from review.schema import Case, HistoryItem

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "examples" / "approve-cervical-tpi"


@dataclass
class Variant:
    name: str
    why: str
    note_edits: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # doc id -> edits
    diagnoses: list[str] | None = None
    history: list[HistoryItem] = field(default_factory=list)
    # expected: decision and the finding that differs, per policy
    hphc: tuple[str, str, str] = ("approve", "", "")  # decision, rule id, status ("" = none)
    lcd: tuple[str, str, str] = ("approve", "", "")
    base: Path = BASE


def build(variant: Variant) -> Case:
    case = load_case(variant.base)
    case = copy.deepcopy(case)
    case.case_id = f"CMP-{variant.name}"
    case.policy = None
    for doc in case.documents:
        for old, new in variant.note_edits.get(doc.id, []):
            assert old in doc.text, f"{variant.name}: {old!r} not in {doc.id}"
            doc.text = doc.text.replace(old, new)
    if variant.diagnoses is not None:
        for line in case.claim.lines:
            line.diagnoses = list(variant.diagnoses)
    case.history = list(variant.history)
    return case


HPHC, LCD = "hphc-tpi", "medicare-lcd-tpi"
PRIOR = "First TPI."
VARIANTS = [
    Variant(
        "tension-type-headache",
        "the LCD covers tension-type headache; the plan's list does not",
        diagnoses=["G44.229"],
        hphc=("pend", "TPI-M01", "not_met"),
        lcd=("approve", "LCD-M01", "met"),
    ),
    Variant(
        "myositis-shoulder",
        "the plan covers myositis M60.812; the LCD is narrowed to headache and myalgia",
        diagnoses=["M60.812"],
        hphc=("approve", "TPI-M01", "met"),
        lcd=("pend", "LCD-M01", "not_met"),
    ),
    Variant(
        "exam-without-taut-band-or-referral",
        "the plan counts any two exam features; the LCD counts taut band, hypersensitive spot and "
        "referred pain only",
        note_edits={
            "proc": [
                (
                    "(taut bands, twitch response, referred pain, limited cervical\nrotation)",
                    "(twitch response, limited cervical rotation)",
                )
            ],
            "visit": [
                ("radiates to the L occiput and behind\nthe L eye", "stays in the neck"),
                (
                    "palpable taut band with an exquisitely tender nodule; snapping palpation\nproduces a local twitch response; sustained pressure reproduces her pain up to the L temple.",
                    "snapping palpation produces a local twitch response.",
                ),
                (
                    "focal tenderness near the superior angle of the scapula with a taut band;\npressure refers pain to the L neck angle.",
                    "focal tenderness near the superior angle of the scapula.",
                ),
            ],
        },
        hphc=("approve", "TPI-M04", "met"),
        lcd=("pend", "LCD-M04", "insufficient"),
    ),
    Variant(
        "platelet-rich-plasma",
        "the LCD does not cover biologic injectates; the plan has no such exclusion",
        note_edits={
            "proc": [
                ("1% lidocaine without epinephrine, 4 mL total", "platelet-rich plasma, 4 mL total")
            ]
        },
        hphc=("approve", "", ""),
        lcd=("deny", "LCD-A08", "not_met"),
    ),
    Variant(
        "ultrasound-guidance",
        "the LCD flags image guidance for review; the plan does not",
        note_edits={
            "proc": [
                (
                    "A 25g 1.5 inch needle was advanced",
                    "Under ultrasound guidance, a 25g 1.5 inch needle was advanced",
                )
            ]
        },
        hphc=("approve", "", ""),
        lcd=("pend", "LCD-M11", "not_met"),
    ),
    Variant(
        "occipital-nerve-block-same-session",
        "the plan denies a nerve block billed as a TPI; the LCD flags another block in the "
        "session for review",
        note_edits={
            "proc": [
                (
                    "No complications. Band-aids applied.",
                    "A left greater occipital nerve block was then performed with 2 mL 0.5% bupivacaine. No complications. Band-aids applied.",
                )
            ]
        },
        hphc=("deny", "TPI-A06", "not_met"),
        lcd=("pend", "LCD-M09", "not_met"),
    ),
    Variant(
        "no-ongoing-home-program",
        "the LCD needs active participation in rehabilitation or home exercise for every "
        "injection; the plan asks for concurrent therapy only in a series",
        note_edits={
            "proc": [
                (
                    "PLAN: Heat and gentle stretching tonight, resume HEP in 48 hours, naproxen prn.",
                    "PLAN: Naproxen prn.",
                )
            ],
            "visit": [
                (" Does daily home stretches.", ""),
                ("- Continue home stretching program and naproxen prn.", "- Naproxen prn."),
            ],
        },
        hphc=("approve", "TPI-M09", "not_applicable"),
        lcd=("pend", "LCD-M10", "not_met"),
    ),
    Variant(
        "repeat-30-percent-relief",
        "a repeat: the plan accepts documented improvement; the LCD needs at least 50% relief "
        "for at least 6 weeks",
        note_edits={
            "proc": [
                (
                    PRIOR,
                    "Repeat TPI: the previous TPI to the L upper trapezius on 12/01/2025 gave 30% relief x 8 wks.",
                )
            ]
        },
        history=[HistoryItem(date_of_service="2025-12-01", code="20552", muscles=["trapezius"])],
        hphc=("approve", "TPI-M06", "met"),
        lcd=("pend", "LCD-M06", "not_met"),
    ),
    Variant(
        "repeat-good-relief-no-percent",
        'a repeat with "good relief": improvement for the plan, no percent or duration for the LCD',
        note_edits={
            "proc": [
                (
                    PRIOR,
                    "Repeat TPI: the previous TPI to the L upper trapezius on 11/20/2025 gave good relief.",
                )
            ]
        },
        history=[HistoryItem(date_of_service="2025-11-20", code="20552", muscles=["trapezius"])],
        hphc=("approve", "TPI-M06", "met"),
        lcd=("pend", "LCD-M06", "insufficient"),
    ),
    Variant(
        "repeat-same-muscle-after-4-weeks",
        "the LCD needs 6 weeks before a site is injected again; the plan sets no interval",
        note_edits={
            "proc": [
                (
                    PRIOR,
                    "Repeat TPI: the previous TPI to the L upper trapezius on 02/10/2026 gave 70% relief x 8 wks.",
                )
            ]
        },
        history=[HistoryItem(date_of_service="2026-02-10", code="20552", muscles=["trapezius"])],
        hphc=("approve", "", ""),
        lcd=("pend", "LCD-M07", "not_met"),
    ),
    Variant(
        "unlisted-m542-with-rationale",
        "the plan accepts an unlisted diagnosis with a documented rationale; the LCD does not",
        base=ROOT / "tests" / "golden" / "cases" / "g20-m542-rationale-documented",
        hphc=("approve", "TPI-M01", "met"),
        lcd=("pend", "LCD-M01", "not_met"),
    ),
    Variant(
        "nonspecific-myalgia-neck-and-low-back",
        "the plan pends non-specific myalgia for several body areas (TPI-M02); the LCD flags "
        "several anatomic regions",
        note_edits={
            "proc": [
                (
                    "No complications. Band-aids applied.",
                    "A third trigger point in the L gluteus medius was injected with 1 mL of the same injectate. No complications. Band-aids applied.",
                )
            ]
        },
        hphc=("pend", "TPI-M02", "not_met"),
        lcd=("pend", "LCD-M02", "not_met"),
    ),
]
