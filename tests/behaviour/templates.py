"""Generator library for the behavioural suite: fillers, sentence frames and note layouts.

Everything here is synthetic text written for this suite. A generator knows what it put into a
note, so every expected value is derived from the template (``base_expect``), never from running
the extractor. Nothing runs at import time; the lexicons are read on first use.

Vocabulary
----------
- ``Site``: one injected muscle with its expected canonical name and side, plus the surface forms
  used to write it (full name, clinical abbreviation).
- ``Tx``: one prior treatment with its expected outcome and the phrases that state it.
- ``NoteSpec``: everything a complete, approvable TPI note needs (history with failed care, exam
  with >= 2 features, diagnosis, a procedure section with action verb + injectate + dose + named
  muscles). ``render_case`` turns it into a case dict in one of three layouts (SOAP prose, a
  templated EHR note with headings, a terse log). Perturbations are fields of the spec (or text
  transforms applied after rendering) so the same clinical content can be written several ways.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
LEXICONS = ROOT / "review" / "lexicons"
DOS = dt.date(2026, 3, 14)
LAYOUTS = ("soap", "ehr", "terse")
NOT_APPROVE = frozenset({"pend", "deny"})


def cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def join_list(items: list[str], oxford: bool = True, conj: str = "and") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]} {conj} {items[1]}"
    comma = "," if oxford else ""
    return ", ".join(items[:-1]) + f"{comma} {conj} {items[-1]}"


def bare(np: str) -> str:
    """Drop a leading article: 'a home exercise program' -> 'home exercise program'."""
    return re.sub(r"^(?:a|an|the)\s+", "", np)


# --------------------------------------------------------------------------- lexicon names


@dataclass(frozen=True)
class LexMuscle:
    name: str
    body_area: str
    phrases: tuple[str, ...]


# Listed in the lexicon only so eyelid notes do not resolve "levator" to levator scapulae; it is
# not a trigger point muscle, so a TPI note naming it would be clinically wrong.
NOT_TPI_MUSCLES = frozenset({"levator palpebrae superioris"})


@cache
def lexicon_muscles() -> tuple[LexMuscle, ...]:
    data = yaml.safe_load((LEXICONS / "muscles.yaml").read_text(encoding="utf-8"))
    return tuple(
        LexMuscle(e["name"], e["body_area"], tuple(e["phrases"]))
        for e in data["entries"]
        if e["name"] not in NOT_TPI_MUSCLES
    )


@cache
def lexicon_names(kind: str) -> frozenset[str]:
    """Canonical ``name:`` entries of one lexicon file (treatments, exam_findings, ...)."""
    data = yaml.safe_load((LEXICONS / f"{kind}.yaml").read_text(encoding="utf-8"))
    return frozenset(e["name"] for e in data["entries"])


# --------------------------------------------------------------------------- sides

SIDE_FORMS: dict[str, tuple[str, ...]] = {
    "left": ("left", "L", "lt", "(L)", "left-sided"),
    "right": ("right", "R", "rt", "(R)", "right-sided"),
    "bilateral": ("bilateral", "bilaterally", "both"),
    "unspecified": ("",),
}
POSTFIX_FORMS = frozenset({"(L)", "(R)", "bilaterally"})
ALL_SIDE_FORMS: tuple[tuple[str, str], ...] = tuple(
    (side, form) for side, forms in SIDE_FORMS.items() for form in forms
)
FULL_SIDE = {"left": "left", "right": "right", "bilateral": "bilateral", "unspecified": ""}
ABBR_SIDE = {"left": "L", "right": "R", "bilateral": "bilat", "unspecified": ""}


def sided(phrase: str, form: str) -> str:
    """'left upper trapezius', 'upper trapezius (L)', 'QL bilaterally', 'both QLs'."""
    if not form:
        return phrase
    if form in POSTFIX_FORMS:
        return f"{phrase} {form}"
    return f"{form} {phrase}"


def the(site_text: str, form: str) -> str:
    """Add the article unless the side form is 'both' ('both traps', not 'the both traps')."""
    return site_text if form == "both" else f"the {site_text}"


# --------------------------------------------------------------------------- sites


@dataclass(frozen=True)
class Site:
    canon: str  # lexicon name, the expected value
    full: str  # surface form written out
    abbr: str  # clinical shorthand for the same muscle
    side: str  # expected side
    points: int = 1

    def text(self, abbreviate: bool = False) -> str:
        side = (ABBR_SIDE if abbreviate else FULL_SIDE)[self.side]
        name = self.abbr if abbreviate else self.full
        return f"{side} {name}".strip()

    def count(self) -> int:
        return 2 if self.side == "bilateral" else 1


def expand_sides(pairs) -> frozenset[tuple[str, str]]:
    """(m, bilateral) == (m, left) + (m, right): the label convention counts bilateral as two."""
    out = set()
    for name, side in pairs:
        if side == "bilateral":
            out |= {(name, "left"), (name, "right")}
        else:
            out.add((name, side))
    return frozenset(out)


def code_for(pairs) -> str:
    return "20553" if len(expand_sides(pairs)) >= 3 else "20552"


# Muscles used in base notes, by region: (canonical, full surface, abbreviation).
REGIONS: dict[str, dict] = {
    "neck": {
        "muscles": [
            ("trapezius", "upper trapezius", "upper trap"),
            ("levator scapulae", "levator scapulae", "levator scap"),
            ("rhomboid", "rhomboid muscles", "rhomboids"),
            ("sternocleidomastoid", "sternocleidomastoid", "SCM"),
            ("splenius capitis", "splenius capitis", "splenius capitis"),
            ("infraspinatus", "infraspinatus", "infraspinatus"),
        ],
        "dx": [("M79.12", "Myalgia of auxiliary muscles, head and neck")],
        "pain": ("neck and upper back pain", "neck/upper back pain"),
        "onsets": [
            ("that began after lifting a heavy box at work", "after lifting a heavy box at work"),
            (
                "that started after a rear-end motor vehicle collision in November",
                "since a rear-end MVC 11/2025",
            ),
            (
                "that began when {pron} started a new desk job with a laptop setup",
                "since starting a new desk job with a laptop",
            ),
        ],
        "refer": ["the temple", "the occiput", "the medial scapular border"],
        "rom": [
            (
                "Cervical rotation is limited to 50 degrees by pain.",
                "Cervical rotation limited to 50 deg by pain.",
            ),
            (
                "Neck range of motion is restricted in lateral flexion.",
                "Neck ROM restricted in lateral flexion.",
            ),
        ],
        "weak": [
            (
                "Shoulder abduction strength is 4+/5 on the affected side.",
                "Shoulder abd 4+/5 on affected side.",
            ),
        ],
    },
    "low_back": {
        "muscles": [
            ("quadratus lumborum", "quadratus lumborum", "QL"),
            ("gluteus medius", "gluteus medius", "glute med"),
            ("piriformis", "piriformis", "piriformis"),
            ("gluteus maximus", "gluteus maximus", "glute max"),
            ("tensor fasciae latae", "tensor fasciae latae", "TFL"),
        ],
        "dx": [("M79.18", "Myalgia, other site")],
        "pain": ("low back and buttock pain", "LBP/buttock pain"),
        "onsets": [
            (
                "that began after shoveling heavy snow in January",
                "after shoveling heavy snow 1/2026",
            ),
            ("that started after {pron} lifted a heavy suitcase", "after lifting a heavy suitcase"),
        ],
        "refer": ["the buttock", "the lateral hip", "the posterior thigh"],
        "rom": [
            (
                "Lumbar flexion is limited by pain, fingertips reaching mid-shin.",
                "Lumbar flexion limited by pain, fingertips to mid-shin.",
            ),
            (
                "Lumbar range of motion is restricted in side bending.",
                "Lumbar ROM restricted in side bending.",
            ),
        ],
        "weak": [
            ("Hip abduction strength is 4/5 on the affected side.", "Hip abd 4/5 on affected side.")
        ],
    },
    "leg": {
        "muscles": [
            ("gastrocnemius", "medial gastrocnemius", "medial gastroc"),
            ("soleus", "soleus", "soleus"),
            ("tibialis anterior", "tibialis anterior", "tib ant"),
        ],
        "dx": [("M79.18", "Myalgia, other site")],
        "pain": ("calf pain", "calf pain"),
        "onsets": [
            (
                "that began after {pron} increased {poss} running mileage for a marathon",
                "after ramping up marathon mileage",
            ),
            ("that started after a fall down two stairs", "after a fall down 2 stairs"),
        ],
        "refer": ["the heel", "the back of the knee"],
        "rom": [
            (
                "Ankle dorsiflexion is limited to 5 degrees with the knee extended.",
                "Ankle DF limited to 5 deg with knee extended.",
            ),
        ],
        "weak": [
            (
                "Plantarflexion strength is 4+/5 on the affected side.",
                "PF strength 4+/5 on affected side.",
            )
        ],
    },
}

FIRST_NAMES = {
    "F": ["Dana", "Maren", "Priya", "Lucia", "Odette", "Wren", "Hana", "Ines"],
    "M": ["Tomas", "Ike", "Rafael", "Soren", "Kwame", "Arlo", "Dev", "Otto"],
}
PRONOUNS = {
    "F": {"pron": "she", "poss": "her", "obj": "her", "noun": "woman"},
    "M": {"pron": "he", "poss": "his", "obj": "him", "noun": "man"},
}


# --------------------------------------------------------------------------- injectates


@dataclass(frozen=True)
class Injectate:
    full: str  # "{pf}" marks where a "-free" prefix goes, "{ef}" a "-free" suffix
    abbr: str
    names: frozenset[str]
    dose: str
    dose_abbr: str

    def text(self, abbreviate: bool = False, free_word: str = "") -> str:
        pf = ef = ""
        if free_word == "preservative-free":
            pf = "preservative-free "
        elif free_word == "epinephrine-free":
            ef = " (epinephrine-free)"
        elif free_word == "both":
            pf, ef = "preservative-free ", " (epinephrine-free)"
        return (self.abbr if abbreviate else self.full).format(pf=pf, ef=ef)


INJECTATES = [
    Injectate(
        "{pf}1% lidocaine{ef}",
        "{pf}1% lido{ef}",
        frozenset({"lidocaine"}),
        "1 mL per trigger point",
        "1 mL/TrP",
    ),
    Injectate(
        "{pf}0.5% bupivacaine{ef}",
        "{pf}0.5% bupivacaine{ef}",
        frozenset({"bupivacaine"}),
        "1 mL per trigger point",
        "1 mL/TrP",
    ),
    Injectate(
        "a 1:1 mixture of {pf}1% lidocaine{ef} and 0.25% bupivacaine",
        "1:1 {pf}1% lido{ef}/0.25% bupivacaine",
        frozenset({"lidocaine", "bupivacaine"}),
        "1.5 mL per trigger point",
        "1.5 mL/TrP",
    ),
    Injectate(
        "{pf}1% lidocaine{ef} 4 mL mixed with triamcinolone 10 mg",
        "{pf}1% lido{ef} 4 mL + triamcinolone 10 mg",
        frozenset({"lidocaine", "triamcinolone"}),
        "about 1 mL of the mixture per trigger point",
        "~1 mL/TrP",
    ),
    Injectate(
        "{pf}0.2% ropivacaine{ef}",
        "{pf}0.2% ropivacaine{ef}",
        frozenset({"ropivacaine"}),
        "1 mL per trigger point",
        "1 mL/TrP",
    ),
]


# --------------------------------------------------------------------------- treatments (base)


@dataclass(frozen=True)
class Tx:
    name: str  # lexicon treatment name, the expected value
    full: str
    abbr: str
    plural: bool
    dur: str
    outcome: str  # expected outcome label
    pred: str  # "did not help"            ({TX} for {dur} {pred})
    post: str  # "without relief"          ({pron} tried {TX} for {dur}, {post})
    short: str  # "no relief"              (terse / EHR field)
    frame: int = 0  # which prose frame

    def surface(self, abbreviate: bool) -> str:
        return self.abbr if abbreviate else self.full


BASE_TREATMENTS = [
    ("physical_therapy", "physical therapy", "PT", False, ["6 weeks", "8 weeks", "10 sessions"]),
    ("nsaid", "naproxen 500 mg twice daily", "naproxen 500 mg BID", False, ["4 weeks", "6 weeks"]),
    (
        "nsaid",
        "ibuprofen 600 mg three times daily",
        "ibuprofen 600 mg TID",
        False,
        ["3 weeks", "1 month"],
    ),
    ("nsaid", "meloxicam 15 mg daily", "meloxicam 15 mg qd", False, ["4 weeks"]),
    (
        "muscle_relaxant",
        "cyclobenzaprine 10 mg at bedtime",
        "cyclobenzaprine 10 mg qhs",
        False,
        ["3 weeks", "1 month"],
    ),
    ("home_exercise", "a home exercise program", "HEP", False, ["2 months", "6 weeks"]),
    ("heat_ice", "a heating pad and ice packs", "heat/ice", True, ["2 months"]),
    ("massage", "massage therapy", "massage therapy", False, ["6 sessions"]),
    ("stretching", "daily stretching", "daily stretching", False, ["2 months"]),
]

# (pred, post, short): three ways to write the same failed outcome.
FAILED_OUTCOMES = [
    ("did not help", "without relief", "no relief"),
    ("gave no lasting relief", "without lasting relief", "no lasting relief"),
    ("brought minimal benefit", "with minimal benefit", "minimal benefit"),
    (
        "failed to provide meaningful improvement",
        "without meaningful improvement",
        "no meaningful improvement",
    ),
    ("made no difference to the pain", "with no change in the pain", "no change"),
]
EFFECTIVE_OUTCOMES = [
    ("helped a lot", "with good relief", "helped a lot"),
    ("gave excellent relief", "with excellent relief", "excellent relief"),
    ("worked well", "with lasting improvement", "good relief"),
]


def base_treatment(rng: random.Random, entry, outcome=("failed", None)) -> Tx:
    name, full, abbr, plural, durs = entry
    label, phrases = outcome
    pred, post, short = phrases or rng.choice(FAILED_OUTCOMES)
    return Tx(
        name, full, abbr, plural, rng.choice(durs), label, pred, post, short, rng.randrange(3)
    )


def contraindicated_nsaid() -> Tx:
    return Tx("nsaid", "NSAIDs", "NSAIDs", True, "", "contraindicated", "", "", "", 0)


def render_tx(tx: Tx, layout: str, abbreviate: bool, p: dict) -> str:
    if tx.outcome == "contraindicated" and tx.name == "nsaid" and not tx.pred:
        return {
            "soap": f"NSAIDs are contraindicated because of {p['poss']} stage 3 chronic kidney disease.",
            "ehr": "- NSAIDs: contraindicated (CKD stage 3)",
            "terse": "NSAIDs contraindicated - CKD 3",
        }[layout]
    s = tx.surface(abbreviate)
    if layout == "ehr":
        return f"- {cap(s)} x {tx.dur}: {tx.short}"
    if layout == "terse":
        return f"{s} x {tx.dur} - {tx.short}"
    if tx.frame == 0:
        return f"{cap(p['pron'])} tried {s} for {tx.dur}, {tx.post}."
    if tx.frame == 1:
        return f"{cap(s)} for {tx.dur} {tx.pred}."
    return f"{cap(s)} ({tx.dur}) {tx.pred}."


def with_outcome(tx: Tx, label: str, phrases: tuple[str, str, str]) -> Tx:
    pred, post, short = phrases
    if tx.outcome == "contraindicated" and not tx.pred:
        tx = replace(tx, full="NSAIDs", abbr="NSAIDs", dur="4 weeks")
    return replace(tx, outcome=label, pred=pred, post=post, short=short)


# --------------------------------------------------------------------------- exam (base)


@dataclass(frozen=True)
class ExamItem:
    kind: str
    full: str  # may contain {sites}, {ref}, {poss}
    abbr: str


EXAM_TEMPLATES: dict[str, list[tuple[str, str]]] = {
    "tenderness": [
        (
            "Focal tenderness at discrete trigger points in the {sites}.",
            "Focal TTP at discrete TrPs in the {sites}.",
        ),
        (
            "Discrete trigger points in the {sites} are exquisitely tender.",
            "Discrete TrPs in the {sites}, exquisitely tender.",
        ),
    ],
    "taut_band": [
        ("Palpable taut bands in the {sites}.", "Palpable taut bands in the {sites}."),
        ("A ropy taut band is felt in the {sites}.", "Ropy taut band felt in the {sites}."),
    ],
    "twitch_response": [
        (
            "Snapping palpation elicits a local twitch response.",
            "Snapping palpation elicits an LTR.",
        ),
        (
            "Local twitch responses are elicited at the trigger points.",
            "LTRs elicited at the TrPs.",
        ),
    ],
    "referred_pain": [
        (
            "Sustained pressure on the trigger points reproduces {poss} usual pain and refers it toward {ref}.",
            "Sustained pressure on the TrPs reproduces {poss} usual pain, referring toward {ref}.",
        ),
    ],
}
EXAM_KINDS = (
    "tenderness",
    "taut_band",
    "twitch_response",
    "referred_pain",
    "restricted_rom",
    "weakness",
)
ALL_EXAM_KINDS = (*EXAM_KINDS, "onset_history")


def exam_item(rng: random.Random, kind: str, region: str) -> ExamItem:
    reg = REGIONS[region]
    if kind == "restricted_rom":
        full, abbr = rng.choice(reg["rom"])
    elif kind == "weakness":
        full, abbr = rng.choice(reg["weak"])
    else:
        full, abbr = rng.choice(EXAM_TEMPLATES[kind])
    ref = rng.choice(reg["refer"])
    return ExamItem(kind, full.replace("{ref}", ref), abbr.replace("{ref}", ref))


# --------------------------------------------------------------------------- the note spec


@dataclass(frozen=True)
class NoteSpec:
    layout: str
    sex: str
    first: str
    age: int
    region: str
    sites: tuple[Site, ...]
    injectate: Injectate
    exam: tuple[ExamItem, ...]
    onset: tuple[str, str] | None
    dur: str
    txs: tuple[Tx, ...]
    dx: tuple[str, str]
    pain_score: int
    # ---- rendering options and perturbations (all default to the plain base)
    abbreviate: bool = False
    oxford: bool = True
    free_word: str = ""
    extras: tuple[tuple[str, str], ...] = ()  # (where, text); where in pmh | exam | assessment
    split_history: bool = False
    history_block: str | None = None  # replaces the treatment history (rendered)
    exam_block: str | None = None  # replaces the exam items (rendered)
    proc_block: str | None = None  # replaces the whole procedure section (with its heading)
    plan_block: str | None = None  # replaces the plan section (with its heading)
    pain: str | None = None  # replaces the region's pain wording in the history
    hpi_extra: str = ""  # appended to the history
    addendum: str = ""
    drop_injectate: bool = False
    extra_claim_lines: tuple[tuple[str, int], ...] = ()
    units: int = 1
    billed_code: str | None = None
    transforms: tuple[str, ...] = ()  # text transforms applied to every document
    generic: bool = False  # HPI/exam without muscles or trigger points (excluded-service notes)

    @property
    def p(self) -> dict:
        return PRONOUNS[self.sex]

    def pairs(self) -> frozenset[tuple[str, str]]:
        return frozenset((s.canon, s.side) for s in self.sites)

    def code(self) -> str:
        return self.billed_code or code_for(self.pairs())


def make_base(
    rng: random.Random,
    layout: str | None = None,
    region: str | None = None,
    n_sites: int | None = None,
) -> NoteSpec:
    """A complete, approvable TPI note spec, drawn deterministically from ``rng``."""
    layout = layout or rng.choice(LAYOUTS)
    region = region or rng.choice(["neck", "neck", "low_back", "leg"])
    reg = REGIONS[region]
    sex = rng.choice("FM")
    n = n_sites or rng.choice([1, 2, 2, 3])
    n = min(n, len(reg["muscles"]))
    chosen = rng.sample(reg["muscles"], n)
    side_mode = rng.choice(["same", "same", "mixed", "one_bilateral"])
    main = rng.choice(["left", "right"])
    sites = []
    for i, (canon, full, abbr) in enumerate(chosen):
        if side_mode == "same":
            side = main
        elif side_mode == "mixed":
            side = rng.choice(["left", "right"])
        else:
            side = "bilateral" if i == 0 else main
        sites.append(Site(canon, full, abbr, side, rng.choice([1, 1, 2, 3])))
    exam_kinds = ["tenderness", "taut_band"] if rng.random() < 0.7 else ["tenderness"]
    extra_pool = [k for k in EXAM_KINDS if k not in exam_kinds]
    exam_kinds += rng.sample(extra_pool, rng.choice([1, 1, 2]))
    exam = tuple(exam_item(rng, k, region) for k in exam_kinds)
    onset = rng.choice(reg["onsets"]) if rng.random() < 0.6 else None
    entries = rng.sample(BASE_TREATMENTS, len(BASE_TREATMENTS))
    target = rng.choice([2, 2, 3])
    txs, names = [], set()
    for entry in entries:
        if entry[0] in names:
            continue
        names.add(entry[0])
        txs.append(base_treatment(rng, entry))
        if len(txs) == target:
            break
    if rng.random() < 0.15 and "nsaid" not in names:
        txs.append(contraindicated_nsaid())
    return NoteSpec(
        layout=layout,
        sex=sex,
        first=rng.choice(FIRST_NAMES[sex]),
        age=rng.randint(24, 71),
        region=region,
        sites=tuple(sites),
        injectate=rng.choice(INJECTATES),
        exam=exam,
        onset=onset,
        dur=rng.choice(["4 months", "5 months", "6 months", "10 weeks"]),
        txs=tuple(txs),
        dx=rng.choice(reg["dx"]),
        pain_score=rng.randint(5, 8),
    )


def exam_kinds_present(spec: NoteSpec) -> frozenset[str]:
    kinds = {e.kind for e in spec.exam}
    if spec.onset:
        kinds.add("onset_history")
    return frozenset(kinds)


# --------------------------------------------------------------------------- rendering


def sites_text(spec: NoteSpec, points: bool = False) -> str:
    ab = spec.abbreviate
    items = []
    for s in spec.sites:
        t = s.text(ab)
        if points:
            if spec.layout == "soap":
                pass
            elif ab or spec.layout == "terse":
                t += f" x{s.points}"
            else:
                t += f" ({s.points} trigger point{'s' if s.points > 1 else ''})"
        items.append(t)
    return join_list(items, spec.oxford)


def n_points(spec: NoteSpec) -> int:
    return sum(s.points * s.count() for s in spec.sites)


def agent_text(spec: NoteSpec) -> str:
    return spec.injectate.text(spec.abbreviate, spec.free_word)


def dose_text(spec: NoteSpec) -> str:
    return spec.injectate.dose_abbr if spec.abbreviate else spec.injectate.dose


def fmt(text: str, spec: NoteSpec) -> str:
    return text.format(sites=sites_text(spec), **spec.p)


def history_lines(spec: NoteSpec) -> list[str]:
    """The treatment history, as the layout writes it (one string per sentence / bullet)."""
    return [render_tx(tx, spec.layout, spec.abbreviate, spec.p) for tx in spec.txs]


def hpi_text(spec: NoteSpec) -> str:
    """History of present illness + treatment history, in the layout's style."""
    p, ab = spec.p, spec.abbreviate
    reg = REGIONS[spec.region]
    pain = spec.pain or reg["pain"][1 if (ab or spec.layout == "terse") else 0]
    onset_full = onset_terse = ""
    if spec.onset:
        onset_full = " " + spec.onset[0].format(**p)
        onset_terse = " " + spec.onset[1].format(**p)
    hist = spec.history_block if spec.history_block is not None else None
    extra = (" " + spec.hpi_extra) if spec.hpi_extra else ""
    if spec.layout == "soap":
        body = hist if hist is not None else " ".join(history_lines(spec))
        gap = "\n" if "\n" in body else " "  # a field or checkbox block keeps its own lines
        return (
            f"{spec.age}-year-old {p['noun']} with {spec.dur} of {pain}{onset_full}.{gap}{body}{extra}{gap}"
            f"Pain is {spec.pain_score}/10 today."
        )
    if spec.layout == "ehr":
        body = hist if hist is not None else "\n".join(history_lines(spec))
        return (
            f"History of present illness: {spec.age}-year-old {p['noun']} with {pain} for {spec.dur}"
            f"{onset_full}.{extra}\nConservative treatment:\n{body}"
        )
    body = hist if hist is not None else "Tried: " + "; ".join(history_lines(spec)) + "."
    gap = "\n" if "\n" in body else " "
    return f"Hx: {pain} x {spec.dur}{onset_terse}.{gap}{body}{extra}"


def exam_lines(spec: NoteSpec) -> list[str]:
    items = [fmt(e.abbr if spec.abbreviate else e.full, spec) for e in spec.exam]
    items += [text for where, text in spec.extras if where == "exam"]
    return items


def exam_text(spec: NoteSpec) -> str:
    if spec.exam_block is not None:
        body = spec.exam_block
    elif spec.generic:
        body = "Focal tenderness at the treated site; pressure there reproduces the pain."
    else:
        items = exam_lines(spec)
        body = "\n".join(f"- {i}" for i in items) if spec.layout == "ehr" else " ".join(items)
    return {"soap": "OBJECTIVE: ", "ehr": "Physical exam:\n", "terse": "Exam: "}[spec.layout] + body


def assessment_text(spec: NoteSpec) -> str:
    code, label = spec.dx
    extra = [text for where, text in spec.extras if where == "assessment"]
    if spec.layout == "soap":
        what = label if spec.generic else f"myofascial pain syndrome of the {sites_text(spec)}"
        line = f"ASSESSMENT: {cap(what)} ({code})."
        return " ".join([line, *extra])
    if spec.layout == "ehr":
        return "\n".join([f"Diagnosis: {code} {label}", *extra])
    what = label.lower() if spec.generic else "myofascial pain"
    return "\n".join([f"Dx: {what}, {code}.", *extra])


def procedure_text(spec: NoteSpec) -> str:
    if spec.proc_block is not None:
        return spec.proc_block
    p, ab = spec.p, spec.abbreviate
    agent, dose, n = agent_text(spec), dose_text(spec), n_points(spec)
    if spec.layout == "soap":
        tpi = "TPIs" if ab else "trigger point injections"
        needle = '25g 1.5" needle' if ab else "25-gauge 1.5-inch needle"
        first = f"After informed consent and chlorhexidine skin prep, {tpi} were performed in the {sites_text(spec)} with a {needle}."
        if spec.drop_injectate:
            second = f"Each trigger point was injected after negative aspiration ({n} trigger points in total)."
        else:
            second = f"{cap(agent)} was injected, {dose}, after negative aspiration ({n} trigger points in total)."
        return f"PROCEDURE: {first} {second} {cap(p['pron'])} tolerated the procedure well without complications."
    if spec.layout == "ehr":
        lines = [
            "Procedure: " + ("TPIs" if ab else "Trigger point injections"),
            "Consent: Written informed consent obtained",
            f"Muscles injected: {sites_text(spec, points=True)}",
        ]
        if spec.drop_injectate:
            lines.append(
                "Technique: Chlorhexidine prep; a 25-gauge 1.5-inch needle was inserted into each trigger point and injected after negative aspiration."
            )
        else:
            lines.append(f"Medication: {agent}, {dose}")
            lines.append(
                "Technique: Chlorhexidine prep; a 25-gauge 1.5-inch needle was inserted into each trigger point and the medication was injected after negative aspiration."
            )
        lines.append("Complications: None")
        return "\n".join(lines)
    if ab:
        if spec.drop_injectate:
            return f"Proc: TPI {sites_text(spec, points=True)}, neg aspiration. Tol well, no comp."
        return f"Proc: TPI {sites_text(spec, points=True)}, {agent} {dose}, neg aspiration. Tol well, no comp."
    if spec.drop_injectate:
        return f"Proc: trigger point injections to the {sites_text(spec, points=True)} after negative aspiration. Tolerated well, no complications."
    return (
        f"Proc: trigger point injections to the {sites_text(spec, points=True)} with {agent}, {dose}, "
        "after negative aspiration. Tolerated well, no complications."
    )


def plan_text(spec: NoteSpec) -> str:
    if spec.plan_block is not None:
        return spec.plan_block
    return {
        "soap": "PLAN: Follow up in 4 weeks, sooner if symptoms worsen.",
        "ehr": "Plan: Follow up in 4 weeks.",
        "terse": "F/u 4 wk.",
    }[spec.layout]


def header_text(spec: NoteSpec, date: dt.date = DOS, title: str = "Procedure visit") -> str:
    if spec.layout == "soap":
        return (
            f"Physical Medicine & Rehabilitation - {title}\nDate of service: {date:%m/%d/%Y}\n"
            f"Patient: Synthetic, {spec.first}   {spec.age} {spec.sex}"
        )
    if spec.layout == "ehr":
        return f"ENCOUNTER: {title}    DOS: {date:%Y-%m-%d}\nPatient: Synthetic, {spec.first} ({spec.age} y, {spec.sex})"
    return f"{date:%m/%d/%y} {title} - Synthetic, {spec.first}, {spec.age}{spec.sex}."


def pmh_lines(spec: NoteSpec) -> list[str]:
    items = [text for where, text in spec.extras if where == "pmh"]
    if not items:
        return []
    label = {"soap": "PMH: ", "ehr": "Past medical history: ", "terse": "PMH: "}[spec.layout]
    return [label + " ".join(items)]


def subjective_block(spec: NoteSpec) -> str:
    hpi = hpi_text(spec)
    if spec.layout == "soap":
        return "SUBJECTIVE: " + hpi
    if spec.layout == "ehr":
        return f"Chief complaint: {spec.pain or REGIONS[spec.region]['pain'][0]}\n{hpi}"
    return hpi


def render_documents(spec: NoteSpec) -> list[dict]:
    sep = "\n\n" if spec.layout == "soap" else "\n"
    blocks_hist = [subjective_block(spec), *pmh_lines(spec)]
    rest = [
        exam_text(spec),
        assessment_text(spec),
        procedure_text(spec),
        plan_text(spec),
        spec.addendum,
    ]
    rest = [block for block in rest if block]
    docs = []
    if spec.split_history:
        prog_date = DOS - dt.timedelta(days=14)
        prog = sep.join(
            [
                header_text(spec, prog_date, "Progress note"),
                *blocks_hist,
                "Return for a procedure visit.",
            ]
        )
        see = {"soap": "SUBJECTIVE: ", "ehr": "History: ", "terse": "Hx: "}[spec.layout]
        proc = sep.join(
            [header_text(spec), f"{see}See progress note of {prog_date:%m/%d/%Y}.", *rest]
        )
        docs.append(
            {"id": "prog", "kind": "progress_note", "date": prog_date.isoformat(), "text": prog}
        )
        docs.append({"id": "proc", "kind": "procedure_note", "date": DOS.isoformat(), "text": proc})
    else:
        text = sep.join([header_text(spec), *blocks_hist, *rest])
        docs.append({"id": "proc", "kind": "procedure_note", "date": DOS.isoformat(), "text": text})
    for doc in docs:
        doc["text"] = apply_transforms(doc["text"], spec.transforms) + "\n"
    return docs


def render_case(spec: NoteSpec, case_id: str) -> dict:
    lines = [{"code": spec.code(), "units": spec.units, "modifiers": [], "diagnoses": [spec.dx[0]]}]
    for code, units in spec.extra_claim_lines:
        lines.append({"code": code, "units": units, "modifiers": [], "diagnoses": [spec.dx[0]]})
    return {
        "case_id": case_id,
        "claim": {"date_of_service": DOS.isoformat(), "authorization": None, "lines": lines},
        "history": [],
        "documents": render_documents(spec),
    }


def note_text(case: dict) -> str:
    return "\n---\n".join(d["text"] for d in case["documents"])


# --------------------------------------------------------------------------- text transforms

TRANSFORMS = {
    "caps": lambda t: t.upper(),
    "crlf": lambda t: t.replace("\r\n", "\n").replace("\n", "\r\n"),
    "ml_tight": lambda t: re.sub(r"(\d) mL\b", r"\1mL", t),
    "ml_lower": lambda t: re.sub(r"(\d) ?mL\b", r"\1 ml", t),
    "double_space": lambda t: re.sub(r"([.;]) (?=[A-Z])", r"\1  ", t),
    "no_final_period": lambda t: re.sub(r"\.(?=\n|$)", "", t),
    "colon_nospace": lambda t: re.sub(r"(?m)^([A-Za-z][A-Za-z /()-]{0,40}): ", r"\1:", t),
    "percent_space": lambda t: re.sub(r"(\d)%", r"\1 %", t),
    "hyphen_tpi": lambda t: re.sub(r"\b(trigger) (point inj)", r"\1-\2", t),
    "semicolon_items": lambda t: re.sub(r"(?m)^- (.*)$", r"\1;", t),
}
PUNCT_TRANSFORMS = (
    "ml_tight",
    "ml_lower",
    "double_space",
    "no_final_period",
    "colon_nospace",
    "percent_space",
    "hyphen_tpi",
    "semicolon_items",
)


def apply_transforms(text: str, names: tuple[str, ...]) -> str:
    for name in names:
        text = TRANSFORMS[name](text)
    return text
