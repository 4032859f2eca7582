"""Case generators, one per capability. Each takes a seed, uses its own ``random.Random(seed)``
and returns the same cases on every run. Expected values come from what the generator put in.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

from .harness import ABSENT, DirCase, Expect, GenCase, InvPair
from .templates import (
    EFFECTIVE_OUTCOMES,
    LAYOUTS,
    NOT_APPROVE,
    PUNCT_TRANSFORMS,
    REGIONS,
    SIDE_FORMS,
    NoteSpec,
    Site,
    agent_text,
    cap,
    code_for,
    dose_text,
    exam_item,
    exam_kinds_present,
    join_list,
    lexicon_muscles,
    make_base,
    n_points,
    procedure_text,
    render_case,
    sided,
    sites_text,
    the,
    with_outcome,
)

# --------------------------------------------------------------------------- shared helpers


def base_expect(spec: NoteSpec) -> Expect:
    """What a complete base note documents: approvable, every fact known from the spec."""
    return Expect(
        decision="approve",
        supported_code=spec.code(),
        status="performed",
        performed=True,
        muscles=spec.pairs(),
        injectate=spec.injectate.names,
        exam_present=exam_kinds_present(spec),
        treatments={tx.name: frozenset({tx.outcome}) for tx in spec.txs},
        treatments_exact=True,
        excluded=frozenset(),
    )


def heading(layout: str, which: str) -> str:
    return {
        ("soap", "proc"): "PROCEDURE: ",
        ("ehr", "proc"): "Procedure: ",
        ("terse", "proc"): "Proc: ",
        ("soap", "plan"): "PLAN: ",
        ("ehr", "plan"): "Plan: ",
        ("terse", "plan"): "Plan: ",
    }[(layout, which)]


def ctx(spec: NoteSpec, **more) -> dict:
    p = spec.p
    return {
        "sites": sites_text(spec),
        "agent": agent_text(spec),
        "dose": dose_text(spec),
        "n": n_points(spec),
        "pron": p["pron"],
        "Pron": cap(p["pron"]),
        "poss": p["poss"],
        "obj": p["obj"],
        **more,
    }


GENERIC_EXAM = "Taut band with focal tenderness and a local twitch response at the trigger point; pressure on it reproduces the pain."


# --------------------------------------------------------------------------- MFT: procedure status

DEFER_REASONS = [
    "{pron} has a temperature of 38.3 C",
    "{poss} INR is 4.2",
    "there is an open abrasion over the injection site",
    "{pron} took a full dose of apixaban this morning",
]

STATUS_FRAMES: dict[str, list[tuple[str, str | None]]] = {
    # (where, text): where = proc | plan | hpi; text None = the base procedure section
    "performed": [
        ("proc", None),
        (
            "proc",
            "I injected {agent}, {dose}, into the trigger points of the {sites} after negative aspiration; {n} trigger points in total. No complications.",
        ),
        (
            "proc",
            "Trigger point injections performed today in the {sites} with {agent}, {dose}, after negative aspiration. Tolerated well.",
        ),
        (
            "proc",
            "Under sterile conditions, the trigger points in the {sites} were injected with {agent}, {dose}. {Pron} tolerated it well.",
        ),
        (
            "proc",
            "The patient consented and underwent trigger point injection of the {sites} with {agent}, {dose}, after negative aspiration.",
        ),
        ("proc", "TPI x{n} to the {sites}: {agent}, {dose}. Tolerated well, no complications."),
    ],
    "planned": [
        ("plan", "Will schedule TPI to the {sites} at the next visit."),
        ("plan", "Trigger point injections to the {sites} with {agent}, {dose}, in 2 weeks."),
        (
            "plan",
            "{Pron} would like to proceed with trigger point injections; these will be scheduled for next week.",
        ),
        (
            "plan",
            "Recommend a series of trigger point injections to the {sites}, to start at the follow-up visit.",
        ),
        ("plan", "TPIs to the {sites} at follow-up in 2 weeks."),
    ],
    "deferred": [
        ("proc", "TPIs were deferred today because {reason}."),
        ("proc", "TPIs deferred - {reason}."),
        ("proc", "We agreed to hold off on the injections today because {reason}."),
        ("proc", "Injection of the {sites} postponed because {reason}."),
        ("proc", "Procedure deferred to a later date: {reason}."),
        ("proc", "Trigger point injections to the {sites} were deferred today because {reason}."),
    ],
    "cancelled": [
        ("proc", "TPI cancelled - pt left before the procedure."),
        (
            "proc",
            "Procedure cancelled: {pron} had a vasovagal episode during positioning and no needle was placed.",
        ),
        (
            "proc",
            "The trigger point injections scheduled for today were canceled because {pron} arrived late.",
        ),
        (
            "proc",
            "Trigger point injection of the {sites} was cancelled by the patient at check-in.",
        ),
        ("proc", "TPI canceled today; {pron} had to leave for a family emergency."),
    ],
    "declined": [
        ("proc", "Patient declined trigger point injections."),
        ("proc", "TPI offered; {pron} declined."),
        (
            "proc",
            "Trigger point injections to the {sites} were discussed; {pron} does not wish to proceed with them.",
        ),
        ("proc", "Pt refused TPI today."),
        (
            "proc",
            "After a discussion of risks and benefits, {pron} opted against trigger point injections.",
        ),
    ],
    "historical": [
        ("hpi", "{Pron} is s/p TPI to the {sites} 3 months ago."),
        ("hpi", "{Pron} had trigger point injections to the {sites} in 2024."),
        ("hpi", "Previous TPI (12/2025) gave about two weeks of relief."),
        ("hpi", "{Pron} received trigger point injections from a prior physician last year."),
        ("hpi", "Status post trigger point injections x2 in 2025."),
    ],
    "negated": [
        ("proc", "No trigger point injections were given."),
        ("proc", "TPI not performed."),
        ("proc", "Trigger point injection was not done today."),
        ("proc", "No injections were performed at this visit; examination only."),
        ("proc", "Trigger points in the {sites} were identified but not injected."),
    ],
}


def procedure_status_cases(seed: int = 101, per_status: int = 21) -> list[GenCase]:
    rng = random.Random(seed)
    cases = []
    for status, frames in STATUS_FRAMES.items():
        for i in range(per_status):
            where, frame = frames[i % len(frames)]
            layout = LAYOUTS[(i // len(frames) + i) % 3]
            spec = make_base(rng, layout=layout)
            c = ctx(spec, reason=rng.choice(DEFER_REASONS))
            c["reason"] = c["reason"].format(**c)
            text = frame.format(**c) if frame else procedure_text(spec)
            if where == "proc" and frame:
                spec = replace(spec, proc_block=heading(layout, "proc") + text)
            elif where == "plan":
                spec = replace(spec, proc_block="", plan_block=heading(layout, "plan") + text)
            elif where == "hpi":
                spec = replace(spec, proc_block="", hpi_extra=text)
            if status == "performed":
                expect = Expect(
                    decision="approve",
                    supported_code=spec.code(),
                    status="performed",
                    performed=True,
                    muscles=spec.pairs(),
                )
            else:
                expect = Expect(
                    decision="pend", supported_code=None, status=status, performed=False
                )
            cid = f"MFT-status-{status}-{i:02d}"
            cases.append(GenCase(cid, render_case(spec, cid), text, expect, (status,)))
    return cases


# --------------------------------------------------------------------------- MFT: treatment outcomes

# name -> [(surface, plural)]; plain surfaces for lists, richer ones for single frames
TX_SURFACES: dict[str, list[tuple[str, bool]]] = {
    "physical_therapy": [
        ("physical therapy", False),
        ("PT", False),
        ("6 weeks of physical therapy", False),
        ("a course of PT", False),
        ("formal physical therapy", False),
    ],
    "nsaid": [
        ("naproxen", False),
        ("ibuprofen 600 mg three times daily", False),
        ("meloxicam 15 mg daily", False),
        ("NSAIDs", True),
        ("diclofenac 75 mg twice daily", False),
    ],
    "muscle_relaxant": [
        ("cyclobenzaprine", False),
        ("tizanidine 4 mg at bedtime", False),
        ("a muscle relaxant", False),
        ("methocarbamol", False),
    ],
    "home_exercise": [("a home exercise program", False), ("HEP", False), ("home exercises", True)],
    "heat_ice": [
        ("heat and ice", True),
        ("a heating pad", False),
        ("ice packs", True),
        ("moist heat", False),
    ],
    "stretching": [
        ("daily stretching", False),
        ("a stretching program", False),
        ("stretches", True),
    ],
    "massage": [("massage therapy", False), ("deep tissue massage", False), ("massage", False)],
    "acetaminophen": [("acetaminophen", False), ("Tylenol 1 g three times daily", False)],
    "topical": [("diclofenac gel", False), ("lidocaine patches", True)],
    "chiropractic": [("chiropractic care", False), ("chiropractic adjustments", True)],
    "tricyclic": [("amitriptyline 10 mg at night", False), ("nortriptyline", False)],
    "anticonvulsant": [("gabapentin", False), ("pregabalin 75 mg twice daily", False)],
    "tens": [("a TENS unit", False)],
    "activity_modification": [("activity modification", False), ("light duty at work", False)],
    "osteopathic_manipulation": [("OMT", False), ("osteopathic manipulation", False)],
    "yoga": [("yoga", False)],
    "ultrasound": [("therapeutic ultrasound", False)],
    "medication": [("duloxetine 30 mg daily", False)],
    "opioid": [("tramadol", False)],
}
LIST_SURFACES: dict[str, list[tuple[str, bool]]] = {
    "physical_therapy": [("physical therapy", False), ("PT", False)],
    "nsaid": [("naproxen", False), ("ibuprofen", False), ("NSAIDs", True)],
    "muscle_relaxant": [("cyclobenzaprine", False), ("tizanidine", False)],
    "home_exercise": [("home exercises", True), ("a home exercise program", False)],
    "heat_ice": [("heat and ice", True), ("a heating pad", False)],
    "stretching": [("stretching", False)],
    "massage": [("massage", False), ("massage therapy", False)],
    "acetaminophen": [("acetaminophen", False)],
    "chiropractic": [("chiropractic care", False)],
    "anticonvulsant": [("gabapentin", False)],
    "topical": [("diclofenac gel", False)],
}
# Plain surfaces (no dose or duration) for frames like "has not tried {tx}" or "No {tx} given ...".
PLAIN_SURFACES: dict[str, list[tuple[str, bool]]] = {
    **LIST_SURFACES,
    "nsaid": [("NSAIDs", True), ("ibuprofen", False), ("naproxen", False)],
    "muscle_relaxant": [
        ("muscle relaxants", True),
        ("cyclobenzaprine", False),
        ("tizanidine", False),
    ],
    "tricyclic": [("amitriptyline", False), ("nortriptyline", False)],
    "opioid": [("opioids", True), ("tramadol", False)],
    "tens": [("a TENS unit", False)],
    "activity_modification": [("activity modification", False)],
    "osteopathic_manipulation": [("OMT", False), ("osteopathic manipulation", False)],
    "yoga": [("yoga", False)],
    "ultrasound": [("therapeutic ultrasound", False)],
    "medication": [("duloxetine", False)],
    "topical": [("diclofenac gel", False), ("lidocaine patches", True)],
}
MEDS = ("nsaid", "muscle_relaxant", "tricyclic", "anticonvulsant", "opioid")
NOUN_THERAPIES = (
    "physical_therapy",
    "massage",
    "chiropractic",
    "osteopathic_manipulation",
    "yoga",
    "ultrasound",
)
SIDE_EFFECTS = {
    "nsaid": ["GI upset", "dyspepsia"],
    "muscle_relaxant": ["drowsiness", "daytime sedation"],
    "tricyclic": ["dry mouth and next-day grogginess"],
    "anticonvulsant": ["dizziness"],
    "opioid": ["nausea and constipation"],
}

BENEFITS = ["relief", "improvement", "benefit", "response", "change", "help"]
QUANTIFIERS = {
    # weak quantifier / negator -> (modifiers it takes, benefit words it takes)
    "no": (
        ["", "significant", "lasting", "meaningful", "real", "sustained"],
        ["relief", "improvement", "benefit", "response", "change"],
    ),
    "little": (
        ["", "lasting", "real", "sustained"],
        ["relief", "improvement", "benefit", "change"],
    ),
    "minimal": (
        ["", "lasting", "sustained"],
        ["relief", "improvement", "benefit", "response", "change"],
    ),
    "inadequate": ([""], ["relief", "improvement", "response"]),
    "not much": (["", "lasting", "real"], ["relief", "improvement", "benefit", "change"]),
}
VERB_FOR = {
    "relief": ["gave", "provided", "brought"],
    "improvement": ["gave", "produced", "resulted in"],
    "benefit": ["gave", "provided"],
    "response": ["produced"],
    "change": ["made", "produced", "resulted in"],
}
NEG_VERBS = {
    # negated verb -> benefit words
    "failed to provide": ["relief", "improvement", "benefit"],
    "did not give": ["relief", "improvement", "benefit"],
    "did not provide": ["relief", "improvement", "benefit"],
    "did not bring": ["relief", "improvement", "change"],
    "did not lead to": ["improvement", "change", "relief"],
}
NEG_VERB_MODS = ["", "any", "significant", "lasting", "meaningful", "real", "sustained"]
WITHOUT_MODS = ["", "any", "significant", "lasting", "meaningful", "real", "sustained"]


def np_words(*words: str) -> str:
    return " ".join(w for w in words if w)


def be(plural: bool, past: bool = True) -> str:
    return ("were" if plural else "was") if past else ("are" if plural else "is")


def failed_sentence(
    rng: random.Random, family: int, name: str, tx: str, plural: bool, c: dict
) -> str:
    """A failed outcome built compositionally: negator/weak quantifier + modifier + benefit word,
    in either order, or a fixed idiom."""
    T = cap(tx)
    if family == 0:  # {TX} gave little lasting relief / There was not much real change with PT
        q = rng.choice(list(QUANTIFIERS))
        mods, bens = QUANTIFIERS[q]
        if q == "not much":
            return f"There was {np_words(q, rng.choice(mods), rng.choice(bens))} with {tx}."
        ben = rng.choice([b for b in bens if not (q == "inadequate" and b == "response")])
        return f"{T} {rng.choice(VERB_FOR[ben])} {np_words(q, rng.choice(mods), ben)}."
    if family == 1:  # She had minimal sustained relief with PT
        q = rng.choice([q for q in QUANTIFIERS if q != "not much"])
        mods, bens = QUANTIFIERS[q]
        ben = rng.choice([b for b in bens if b in ("relief", "improvement", "benefit")])
        return f"{c['Pron']} had {np_words(q, rng.choice(mods), ben)} with {tx}."
    if family == 2:  # PT was of little real help / was not much help
        q = rng.choice(["no", "little", "not much"])
        if q == "not much":
            return f"{T} {be(plural)} not much help."
        return f"{T} {be(plural)} of {np_words(q, rng.choice(['', 'real']), 'help')}."
    if family == 3:  # terse: PT x 6 wk - no lasting benefit
        q = rng.choice(list(QUANTIFIERS))
        mods, bens = QUANTIFIERS[q]
        return f"{T} x {rng.choice(['4 wk', '6 wk', '2 mo'])} - {np_words(q, rng.choice(mods), rng.choice(bens))}."
    if family == 4:  # She tried PT for 6 weeks without any lasting relief
        ben = rng.choice(["relief", "improvement", "benefit", "change"])
        return f"{c['Pron']} tried {tx} for {rng.choice(['6 weeks', 'a month', '3 months'])} without {np_words(rng.choice(WITHOUT_MODS), ben)}."
    if family == 5:  # PT failed to provide meaningful relief
        verb = rng.choice(list(NEG_VERBS))
        return f"{T} {verb} {np_words(rng.choice(NEG_VERB_MODS), rng.choice(NEG_VERBS[verb]))}."
    if family == 6:  # benefit word first: Relief with naproxen was minimal.
        ben = rng.choice(["relief", "improvement", "benefit", "response"])
        pred = rng.choice(["minimal", "negligible", "inadequate", "not significant", "nil"])
        mod = rng.choice(["", "", "lasting", "sustained"])
        prep = "to" if ben == "response" else rng.choice(["with", "from"])
        return f"{cap(np_words(mod, ben))} {prep} {tx} was {pred}."
    if family == 7:  # Lasting relief was not achieved with PT. / Relief from PT: none.
        if rng.random() < 0.5:
            mod = rng.choice(["", "significant", "lasting", "meaningful", "sustained"])
            ben = rng.choice(["relief", "improvement", "benefit"])
            return f"{cap(np_words(mod, ben))} was not achieved with {tx}."
        return f"{cap(rng.choice(['relief', 'improvement', 'benefit']))} from {tx}: none."
    # family 8: fixed idioms
    idioms = [
        f"{T} did not help.",
        f"{T} {be(plural)} ineffective.",
        f"{T} made no difference.",
        f"{T} did nothing for the pain.",
        f"Pain persists despite {tx}.",
        f"{T} helped for only a few hours.",
        f"{T} helped for a day or two, then the pain came back.",
        f"{T} did not help much.",
    ]
    if name in ("physical_therapy", "nsaid", "muscle_relaxant", "home_exercise", "chiropractic"):
        idioms.append(f"{c['Pron']} failed {bare_np(rng.choice(PLAIN_SURFACES[name])[0])}.")
    return rng.choice(idioms)


def bare_np(tx: str) -> str:
    for article in ("a ", "an "):
        if tx.startswith(article):
            return tx[len(article) :]
    return tx


def partial_sentence(rng, name, tx, plural, c) -> str:
    T = cap(tx)
    return rng.choice(
        [
            f"{T} took the edge off.",
            f"{T} took the edge off but did not resolve the pain.",
            f"{T} {'help' if plural else 'helps'} a bit.",
            f"{T} gave partial relief.",
            f"{T} {be(plural)} somewhat helpful.",
            f"Slight help from {tx}.",
            f"{T} gave some relief, though the pain persists.",
            f"{T} brought the pain down from 7/10 to 5/10.",
        ]
    )


def effective_sentence(rng, name, tx, plural, c) -> str:
    T = cap(tx)
    return rng.choice(
        [
            f"{T} helped a lot.",
            f"{T} gave good relief.",
            f"{T} worked well.",
            f"{c['Pron']} had excellent relief with {tx}.",
            f"{T} {'have' if plural else 'has'} been very helpful.",
            f"{T} made a big difference.",
            f"{T} relieved the pain completely.",
        ]
    )


def not_tolerated_sentence(rng, name, tx, plural, c) -> str:
    T = cap(tx)
    se = rng.choice(SIDE_EFFECTS[name])
    frames = [
        f"{T} caused {se} and {be(plural)} stopped.",
        f"{T} {be(plural)} stopped because of {se}.",
        f"{c['Pron']} could not tolerate {tx} because of {se}.",
        f"{T} {be(plural)} discontinued after two days due to side effects.",
    ]
    if name in ("muscle_relaxant", "tricyclic", "anticonvulsant"):
        frames.append(
            f"{T} made {c['obj']} too drowsy to work, so {c['pron']} stopped {'them' if plural else 'it'}."
        )
    return rng.choice(frames)


CONTRA_FRAMES = {
    "nsaid": [
        "{T} {be_now} contraindicated because of stage 3 chronic kidney disease.",
        "{Pron} cannot take {tx} due to a prior GI bleed.",
        "{T} {be_now} avoided because {pron} is anticoagulated on apixaban.",
        "No {bare} given {poss} history of peptic ulcer disease.",
    ],
    "muscle_relaxant": [
        "{T} {be_now} avoided because of {poss} fall risk.",
        "{T} {be_now} not an option given {poss} fall risk.",
    ],
    "tricyclic": ["{T} {be_now} contraindicated because of a prolonged QTc."],
    "opioid": ["{T} {be_now} contraindicated given a history of opioid use disorder."],
}


def contraindicated_sentence(rng, name, tx, plural, c) -> str:
    frame = rng.choice(CONTRA_FRAMES[name])
    return frame.format(T=cap(tx), tx=tx, bare=bare_np(tx), be_now=be(plural, past=False), **c)


def not_tried_sentence(rng, name, tx, plural, c) -> str:
    T = cap(tx)
    frames = [
        f"{c['Pron']} has not tried {tx}.",
        f"{T} {'have' if plural else 'has'} not been tried.",
        f"{T}: not yet tried.",
    ]
    if name in (*NOUN_THERAPIES, "home_exercise", "stretching"):
        frames.append(f"{c['Pron']} has not started {tx} yet.")
    if name in NOUN_THERAPIES:
        frames += [f"No {bare_np(tx)} to date.", f"{c['Pron']} has never had {bare_np(tx)}."]
    return rng.choice(frames)


def ongoing_sentence(rng, name, tx, plural, c) -> str:
    if name in MEDS or name in ("acetaminophen", "medication"):
        return rng.choice([f"{c['Pron']} is currently taking {tx}.", f"Still taking {tx}."])
    if name == "physical_therapy":
        return rng.choice(
            [
                f"{c['Pron']} is currently in {bare_np(tx)} twice a week.",
                f"{c['Pron']} continues {tx} twice a week.",
            ]
        )
    if name in ("heat_ice", "tens", "topical"):
        return rng.choice([f"Still using {tx} daily.", f"{c['Pron']} continues to use {tx}."])
    return rng.choice([f"{c['Pron']} continues {tx}.", f"Still doing {tx} daily."])


OUTCOME_MAKERS = {
    # outcome -> (sentence maker, treatments it applies to or None for all, surfaces)
    "partial": (partial_sentence, None, TX_SURFACES),
    "effective": (effective_sentence, None, TX_SURFACES),
    "not_tolerated": (not_tolerated_sentence, tuple(SIDE_EFFECTS), TX_SURFACES),
    "contraindicated": (contraindicated_sentence, tuple(CONTRA_FRAMES), PLAIN_SURFACES),
    "not_tried": (not_tried_sentence, None, PLAIN_SURFACES),
    "ongoing": (ongoing_sentence, None, PLAIN_SURFACES),
}
# "ongoing" is a schema value; the label conventions call an ongoing treatment with no stated
# outcome "unknown". Either is accepted.
ALLOWED = {
    "failed": frozenset({"failed"}),
    "partial": frozenset({"partial"}),
    "effective": frozenset({"effective"}),
    "not_tolerated": frozenset({"not_tolerated"}),
    "contraindicated": frozenset({"contraindicated"}),
    "not_tried": frozenset({"not_tried"}),
    "ongoing": frozenset({"ongoing", "unknown"}),
}

LIST_FRAMES = [
    # (outcome, n items, frame); {a} {b} {c} surfaces, {A} capitalised first item
    ("failed", 3, "{Pron} has tried {a}, {b} and {c}; none of these helped."),
    ("failed", 3, "Tried {a}, {b} and {c} without relief."),
    ("failed", 3, "{A}, {b} and {c} have all failed."),
    ("failed", 2, "Neither {a} nor {b} helped."),
    ("failed", 3, "No relief from {a}, {b} or {c}."),
    ("failed", 3, "{A}, {b}, {c}: no lasting benefit from any of them."),
    ("failed", 2, "{Pron} has tried {a} and {b}; neither gave lasting relief."),
    (
        "failed",
        3,
        "{A}, {b} and {c} were all tried for at least 6 weeks, with minimal improvement.",
    ),
    ("partial", 2, "{A} and {b} both took the edge off."),
    ("not_tried", 2, "{Pron} has not tried {a} or {b}."),
    ("effective", 2, "Both {a} and {b} gave good relief."),
]
CONTRAST_FRAMES = [
    # (outcome a, outcome b, frame, constraint on b)
    ("effective", "failed", "{A} helped but {b} failed.", None),
    ("partial", "failed", "{A} took the edge off, whereas {b} did nothing.", None),
    ("failed", "effective", "{A} did not help; {b}, however, gave good relief.", None),
    (
        "partial",
        "not_tolerated",
        "{A} gave some relief but {b} caused drowsiness.",
        "muscle_relaxant",
    ),
    ("failed", "effective", "{A} {was} ineffective, but {b} helped a lot.", None),
    ("effective", "failed", "Although {a} helped, {b} did not.", None),
    ("partial", "failed", "{A} helped a little; {b}, not at all.", None),
    (
        "failed",
        "contraindicated",
        "{A} failed, while {b} are contraindicated because of {poss} CKD.",
        "nsaid_plural",
    ),
]


def _history_note(rng: random.Random, sentence: str, i: int, prefix: str) -> tuple[str, dict]:
    layout = LAYOUTS[i % 3]
    spec = make_base(rng, layout=layout)
    block = f"- {sentence}" if layout == "ehr" else sentence
    spec = replace(spec, history_block=block)
    cid = f"{prefix}-{i:03d}"
    return cid, render_case(spec, cid)


def treatment_outcome_cases(seed: int = 202) -> list[GenCase]:
    rng = random.Random(seed)
    cases: list[GenCase] = []
    names = sorted(TX_SURFACES)
    i = 0

    def add(sentence: str, expected: dict[str, frozenset], tag: str) -> None:
        nonlocal i
        cid, data = _history_note(rng, sentence, i, f"MFT-outcome-{tag}")
        cases.append(GenCase(cid, data, sentence, Expect(treatments=expected), (tag,)))
        i += 1

    # failed: 9 frame families x several treatments
    for k in range(90):
        family = k % 9
        name = names[(k * 7) % len(names)]
        tx, plural = rng.choice(TX_SURFACES[name])
        c = {"Pron": rng.choice(["She", "He"])}
        add(failed_sentence(rng, family, name, tx, plural, c), {name: ALLOWED["failed"]}, "failed")
    # the other outcomes
    for outcome, (maker, only, surfaces) in OUTCOME_MAKERS.items():
        pool = list(only) if only else names
        for k in range(18):
            name = pool[k % len(pool)]
            tx, plural = rng.choice(surfaces[name])
            sex = rng.choice(["She", "He"])
            c = {
                "Pron": sex,
                "pron": sex.lower(),
                "poss": "her" if sex == "She" else "his",
                "obj": "her" if sex == "She" else "him",
            }
            add(maker(rng, name, tx, plural, c), {name: ALLOWED[outcome]}, outcome)
    # one outcome after a list covers the list
    list_names = sorted(LIST_SURFACES)
    for k in range(33):
        outcome, n, frame = LIST_FRAMES[k % len(LIST_FRAMES)]
        chosen = rng.sample(list_names, n)
        surf = [rng.choice(LIST_SURFACES[nm])[0] for nm in chosen]
        fill = dict(zip("abc", surf, strict=False))
        sex = rng.choice(["She", "He"])
        sentence = frame.format(A=cap(surf[0]), Pron=sex, **fill)
        add(sentence, {nm: ALLOWED[outcome] for nm in chosen}, "list")
    # contrastive scope: each treatment keeps its own outcome
    for k in range(32):
        oa, ob, frame, constraint = CONTRAST_FRAMES[k % len(CONTRAST_FRAMES)]
        if constraint == "muscle_relaxant":
            nb, sb = (
                "muscle_relaxant",
                rng.choice(["cyclobenzaprine", "tizanidine", "a muscle relaxant"]),
            )
        elif constraint == "nsaid_plural":
            nb, sb = "nsaid", "NSAIDs"
        else:
            nb = rng.choice([n for n in list_names if n != "muscle_relaxant"])
            sb = rng.choice(LIST_SURFACES[nb])[0]
        na = rng.choice([n for n in list_names if n != nb])
        sa, pa = rng.choice(LIST_SURFACES[na])
        sex = rng.choice(["She", "He"])
        sentence = frame.format(
            A=cap(sa), a=sa, b=sb, was=be(pa), poss="her" if sex == "She" else "his"
        )
        add(sentence, {na: ALLOWED[oa], nb: ALLOWED[ob]}, "contrast")
    return cases


# --------------------------------------------------------------------------- MFT: excluded services

BOTOX = [
    ("onabotulinumtoxinA", "100 units"),
    ("Botox", "100 units"),
    ("Dysport", "300 units"),
    ("abobotulinumtoxinA", "300 units"),
    ("incobotulinumtoxinA", "100 units"),
    ("Xeomin", "100 units"),
    ("rimabotulinumtoxinB", "5,000 units"),
    ("Myobloc", "5,000 units"),
]

# kind -> list of (named?, pain wording, text, other acceptable kinds)
EXCLUDED_FRAMES: dict[str, list[tuple[bool, str, str, tuple[str, ...]]]] = {
    "acupuncture": [
        (
            True,
            "neck and shoulder pain",
            "Acupuncture: sterile single-use acupuncture needles (0.25 x 40 mm) were placed at GB20, GB21 and SI14 and retained for 20 minutes.",
            (),
        ),
        (
            True,
            "neck and shoulder pain",
            "Acupuncture treatment at ashi points over the {sites} and at LI4; needles retained for 25 minutes.",
            (),
        ),
        (
            True,
            "neck and shoulder pain",
            "The {sites} was treated with acupuncture, 6 needles, 20 minutes.",
            (),
        ),
        (
            False,
            "neck and shoulder pain",
            "Fine filiform needles were inserted at the meridian points GB21, SI11 and LI4 and left in place for 20 minutes, with manual stimulation until de qi was obtained.",
            (),
        ),
        (
            False,
            "neck and shoulder pain",
            "Six 0.20 x 30 mm needles were placed along the gallbladder and small intestine channels over the shoulder and retained for 25 minutes; moxibustion was applied.",
            (),
        ),
        (
            False,
            "neck and shoulder pain",
            "Using clean needle technique, needles were placed at the traditional points GB20, GB21 and BL10 and retained for 20 minutes.",
            (),
        ),
    ],
    "dry_needling": [
        (
            True,
            "neck and shoulder pain",
            "Trigger point dry needling of the {sites}: a 0.30 x 50 mm monofilament needle was inserted into each trigger point and pistoned until the twitch responses subsided.",
            (),
        ),
        (
            True,
            "neck and shoulder pain",
            "Dry needling performed to the {sites}, 3 trigger points.",
            (),
        ),
        (
            True,
            "neck and shoulder pain",
            "Functional dry needling of the {sites} was performed.",
            (),
        ),
        (
            False,
            "neck and shoulder pain",
            "A 0.30 x 50 mm solid filiform needle was inserted into each trigger point in the {sites} and moved in and out until the local twitch responses stopped. Nothing was injected.",
            (),
        ),
        (
            False,
            "neck and shoulder pain",
            "A 25-gauge needle on an empty syringe was passed repeatedly through the trigger points in the {sites} until the twitch responses ceased.",
            (),
        ),
        (
            False,
            "neck and shoulder pain",
            "Filiform needles were inserted into the taut bands of the {sites} and pistoned for 30 seconds at each point; no medication was used.",
            (),
        ),
    ],
    "electrical_stimulation": [
        (
            True,
            "neck and shoulder pain",
            "Electroacupuncture to the {sites}: needle pairs connected to a stimulator at 2 Hz for 20 minutes.",
            (),
        ),
        (
            True,
            "neck and shoulder pain",
            "Percutaneous electrical nerve stimulation (PENS) of the {sites} was performed for 15 minutes.",
            (),
        ),
        (
            True,
            "neck and shoulder pain",
            "Electrical dry needling of the {sites}: after needle placement, electrical stimulation was delivered through the needles at 4 Hz for 10 minutes.",
            (),
        ),
        (
            False,
            "neck and shoulder pain",
            "Four needles were placed in the trigger points of the {sites} and current was passed through them at 2 Hz for 15 minutes.",
            (),
        ),
        (
            False,
            "neck and shoulder pain",
            "After needle insertion into the {sites}, the needles were attached to an electrical stimulator (10 Hz, 20 minutes).",
            (),
        ),
        (
            False,
            "neck and shoulder pain",
            "Leads were clipped onto the needle handles in the {sites} and a low-frequency current was applied for 15 minutes.",
            (),
        ),
    ],
    "prolotherapy": [
        (
            True,
            "low back pain",
            "Prolotherapy: 15% dextrose with 0.5% lidocaine, 20 mL total, was injected at the iliolumbar and sacroiliac ligament attachments.",
            (),
        ),
        (
            True,
            "low back pain",
            "Dextrose prolotherapy of the lumbosacral ligaments was performed, 12 injection sites.",
            (),
        ),
        (
            True,
            "low back pain",
            "Prolotherapy injections were given along the supraspinous ligament from L3 to S1.",
            (),
        ),
        (
            False,
            "low back pain",
            "25% hypertonic dextrose mixed with 1% lidocaine was injected at the fibro-osseous insertions of the iliolumbar and posterior sacroiliac ligaments, 1 mL per site.",
            (),
        ),
        (
            False,
            "low back pain",
            "A proliferant solution (P2G) was injected at the tendon insertions on the iliac crest and into the interspinous ligaments, 0.5 mL per site.",
            (),
        ),
        (
            False,
            "neck pain",
            "Sodium morrhuate 5% was injected along the insertions of the nuchal ligament at the occiput, 8 sites.",
            (),
        ),
        (
            False,
            "low back pain",
            "Using a peppering technique, 12.5% dextrose was injected onto the bone at the ligament attachments of the lumbosacral junction.",
            (),
        ),
    ],
    "joint_injection": [
        (
            True,
            "right knee pain",
            "Intra-articular injection of the right knee: 40 mg triamcinolone with 4 mL 1% lidocaine via a superolateral approach.",
            (),
        ),
        (
            True,
            "right shoulder pain",
            "Right glenohumeral joint injection under ultrasound guidance with 40 mg methylprednisolone and 3 mL 0.5% bupivacaine.",
            (),
        ),
        (
            True,
            "left buttock pain",
            "Left sacroiliac joint injection under fluoroscopy with 1 mL triamcinolone 40 mg/mL and 1 mL 0.5% bupivacaine.",
            (),
        ),
        (
            False,
            "right knee pain",
            "Via a superolateral approach the needle was advanced into the right knee joint space; synovial fluid was aspirated and 40 mg triamcinolone with 4 mL lidocaine was injected.",
            (),
        ),
        (
            False,
            "right shoulder pain",
            "Under ultrasound the needle was directed into the posterior glenohumeral joint and 40 mg methylprednisolone with 3 mL bupivacaine was injected into the capsule.",
            (),
        ),
        (
            False,
            "low back pain",
            "Under fluoroscopy a 22-gauge spinal needle entered the left L4-5 facet capsule and 0.5 mL triamcinolone with 0.5 mL bupivacaine was injected.",
            (),
        ),
    ],
    "bursa_injection": [
        (
            True,
            "right shoulder pain",
            "Right subacromial bursa injection: 40 mg triamcinolone with 4 mL 1% lidocaine via a posterior approach.",
            (),
        ),
        (
            True,
            "left lateral hip pain",
            "Left greater trochanteric bursa injection with 40 mg Kenalog and 5 mL lidocaine.",
            (),
        ),
        (
            True,
            "right elbow swelling",
            "Right olecranon bursa injection after aspiration of 3 mL of clear fluid, with 20 mg triamcinolone.",
            (),
        ),
        (
            False,
            "right shoulder pain",
            "From a posterolateral approach the needle was advanced beneath the acromion into the subacromial space and 40 mg triamcinolone with 4 mL lidocaine was injected.",
            (),
        ),
        (
            False,
            "left lateral hip pain",
            "The needle was advanced to bone at the point of maximal tenderness over the left greater trochanter, withdrawn slightly, and 40 mg triamcinolone with 5 mL lidocaine was injected.",
            (),
        ),
        (
            False,
            "right elbow swelling",
            "The fluid-filled sac over the right olecranon was aspirated (4 mL of straw-colored fluid) and 20 mg triamcinolone was instilled into it.",
            (),
        ),
    ],
    "tendon_sheath_injection": [
        (
            True,
            "right wrist pain",
            "Tendon sheath injection of the right first dorsal compartment (de Quervain) with 10 mg triamcinolone and 1 mL lidocaine.",
            (),
        ),
        (
            True,
            "left ankle pain",
            "Left peroneal tendon sheath injection under ultrasound with 20 mg methylprednisolone and 1 mL lidocaine.",
            (),
        ),
        (
            True,
            "right wrist pain",
            "Injection of the right flexor carpi radialis tendon sheath with 10 mg triamcinolone.",
            (),
        ),
        (
            False,
            "right wrist pain",
            "Under ultrasound the needle was placed alongside the abductor pollicis longus and extensor pollicis brevis tendons in the first dorsal compartment of the right wrist, and 10 mg triamcinolone with 1 mL lidocaine was injected around the tendons.",
            (),
        ),
        (
            False,
            "left ankle pain",
            "The needle was directed along the peroneal tendons behind the left lateral malleolus, and 20 mg methylprednisolone with 1 mL lidocaine was injected within their synovial sheath.",
            (),
        ),
        (
            False,
            "right anterior shoulder pain",
            "Under ultrasound, 10 mg triamcinolone with 1 mL lidocaine was injected around the long head of the biceps tendon in the bicipital groove.",
            (),
        ),
    ],
    "nerve_block": [
        (
            True,
            "occipital headaches",
            "Right greater occipital nerve block with 2 mL 0.5% bupivacaine and 10 mg triamcinolone.",
            (),
        ),
        (
            True,
            "left shoulder pain",
            "Left suprascapular nerve block under ultrasound with 5 mL 0.25% bupivacaine.",
            (),
        ),
        (
            True,
            "occipital headaches",
            "Bilateral lesser occipital nerve blocks were performed with 1 mL 0.5% bupivacaine each.",
            (),
        ),
        (
            False,
            "occipital headaches",
            "The right greater occipital nerve was located medial to the occipital artery, and 2 mL 0.5% bupivacaine with 10 mg triamcinolone was injected around it.",
            (),
        ),
        (
            False,
            "left shoulder pain",
            "Under ultrasound the left suprascapular nerve was identified in the suprascapular notch and 5 mL 0.25% bupivacaine was deposited around the nerve.",
            (),
        ),
        (
            False,
            "right anterolateral thigh pain",
            "1% lidocaine 3 mL was injected adjacent to the lateral femoral cutaneous nerve, medial to the right ASIS.",
            (),
        ),
        (
            False,
            "left groin pain",
            "0.25% bupivacaine 2 mL was infiltrated around the ilioinguinal nerve medial to the left ASIS.",
            (),
        ),
    ],
    "epidural": [
        (
            True,
            "low back and leg pain",
            "L5-S1 interlaminar epidural steroid injection under fluoroscopy with 80 mg methylprednisolone and 2 mL saline.",
            (),
        ),
        (
            True,
            "low back and leg pain",
            "Right L4-5 transforaminal epidural injection with 10 mg dexamethasone.",
            (),
        ),
        (
            True,
            "low back and leg pain",
            "Caudal epidural injection with 80 mg triamcinolone in 10 mL saline.",
            (),
        ),
        (
            False,
            "low back and leg pain",
            "Under fluoroscopy a 20-gauge Tuohy needle was advanced at L5-S1 until loss of resistance to saline; contrast outlined the dorsal space and 80 mg methylprednisolone with 2 mL saline was injected.",
            (),
        ),
        (
            False,
            "low back and leg pain",
            "A 22-gauge spinal needle was guided into the right L5-S1 neural foramen; after contrast spread along the L5 nerve root, 10 mg dexamethasone was injected.",
            ("nerve_block",),
        ),
        (
            False,
            "low back and leg pain",
            "Through the sacral hiatus a needle was advanced into the caudal canal and 80 mg triamcinolone in 10 mL saline was injected after negative aspiration.",
            (),
        ),
    ],
    "trigger_finger": [
        (
            True,
            "right ring finger catching",
            "Right ring trigger finger injection: 10 mg triamcinolone with 0.5 mL lidocaine at the A1 pulley.",
            ("tendon_sheath_injection",),
        ),
        (
            True,
            "left thumb catching",
            "Injection for a left trigger thumb with 10 mg Kenalog.",
            ("tendon_sheath_injection",),
        ),
        (
            True,
            "right middle finger locking",
            "Trigger finger injection, right middle finger, with 10 mg triamcinolone and 0.5 mL lidocaine.",
            ("tendon_sheath_injection",),
        ),
        (
            False,
            "right ring finger catching",
            "For painful catching and locking of the right ring finger, 10 mg triamcinolone with 0.5 mL lidocaine was injected into the flexor sheath at the distal palmar crease.",
            ("tendon_sheath_injection",),
        ),
        (
            False,
            "left thumb catching",
            "The tender nodule over the A1 pulley of the left thumb was injected with 10 mg triamcinolone.",
            ("tendon_sheath_injection",),
        ),
        (
            False,
            "right middle finger locking",
            "The right middle finger locks in flexion; the flexor tendon sheath over the metacarpal head was injected with 10 mg triamcinolone and 0.5 mL lidocaine.",
            ("tendon_sheath_injection",),
        ),
    ],
}
BOTOX_FRAMES = [
    (
        True,
        "Chemodenervation of the {sites}: {drug} {units} was injected in divided doses under EMG guidance.",
    ),
    (True, "Botulinum toxin injection to the {sites} with {drug}, {units} in total."),
    (
        False,
        "{Drug} {units}, reconstituted with preservative-free saline, was injected into the {sites} in four aliquots.",
    ),
    (False, "Injected {drug} {units} into the trigger points of the {sites}."),
    (False, "{Drug} ({units} total) was administered intramuscularly to the {sites}."),
]


def excluded_service_cases(seed: int = 303, reps: int = 2) -> list[GenCase]:
    rng = random.Random(seed)
    cases = []
    i = 0

    def add(
        kind: str, named: bool, pain: str, text: str, alt: tuple[str, ...], spec: NoteSpec
    ) -> None:
        nonlocal i
        layout = spec.layout
        spec = replace(spec, generic=True, pain=pain, proc_block=heading(layout, "proc") + text)
        cid = f"MFT-excluded-{kind}-{'named' if named else 'described'}-{i:03d}"
        expect = Expect(decision=NOT_APPROVE, excluded_any=(frozenset({kind, *alt}),))
        cases.append(
            GenCase(
                cid, render_case(spec, cid), text, expect, (kind, "named" if named else "described")
            )
        )
        i += 1

    for kind, frames in EXCLUDED_FRAMES.items():
        for rep in range(reps):
            for j, (named, pain, frame, alt) in enumerate(frames):
                spec = make_base(rng, layout=LAYOUTS[(j + rep) % 3], region="neck", n_sites=1)
                add(kind, named, pain, frame.format(**ctx(spec)), alt, spec)
    for j, (drug, units) in enumerate(BOTOX * 2):
        named, frame = BOTOX_FRAMES[j % len(BOTOX_FRAMES)]
        spec = make_base(rng, layout=LAYOUTS[j % 3], region="neck", n_sites=1)
        text = frame.format(drug=drug, Drug=cap(drug), units=units, **ctx(spec))
        add("botulinum_toxin", named, "neck and shoulder pain", text, (), spec)
    return cases


# --------------------------------------------------------------------------- MFT: muscles and sides

MUSCLE_FRAMES = [
    (
        "soap",
        "PROCEDURE: Trigger point injections were performed in {the_site} with 1% lidocaine, 1 mL at each of 2 trigger points, after negative aspiration.",
    ),
    (
        "soap",
        "PROCEDURE: After negative aspiration, 0.5% bupivacaine 1.5 mL was injected into the trigger point in {the_site}.",
    ),
    ("terse", "Proc: TPI {site} x2 - 1% lido 1 mL each. Tol well."),
    (
        "ehr",
        "Procedure: Trigger point injections\nMuscle injected: {site}\nMedication: 1% lidocaine, 2 mL total\nTechnique: 25-gauge needle, injected after negative aspiration.",
    ),
]


def muscle_side_cases(seed: int = 404, per_muscle: int = 5) -> list[GenCase]:
    """Every muscle in the lexicon, with left, right, bilateral and unspecified side forms (the
    forms rotate across muscles so each form is used many times), in several frames."""
    rng = random.Random(seed)
    cases = []
    rotation = {side: 0 for side in SIDE_FORMS}
    for mi, muscle in enumerate(lexicon_muscles()):
        sides = [
            "left",
            "right",
            "bilateral",
            "unspecified",
            rng.choice(["left", "right", "bilateral"]),
        ][:per_muscle]
        for k, side in enumerate(sides):
            forms = SIDE_FORMS[side]
            form = forms[rotation[side] % len(forms)]
            rotation[side] += 1
            phrase = muscle.name if k == 0 else rng.choice(muscle.phrases)
            site = sided(phrase, form)
            layout, frame = MUSCLE_FRAMES[(mi + k) % len(MUSCLE_FRAMES)]
            text = frame.format(site=site, the_site=the(site, form))
            spec = make_base(rng, layout=layout)
            spec = replace(
                spec,
                sites=(Site(muscle.name, phrase, phrase, side),),
                generic=True,
                exam_block=GENERIC_EXAM,
                pain="focal muscle pain",
                proc_block=text,
                billed_code="20552",
            )
            cid = f"MFT-muscle-{mi:03d}-{k}"
            expect = Expect(status="performed", muscles_contain=frozenset({(muscle.name, side)}))
            cases.append(
                GenCase(
                    cid, render_case(spec, cid), text, expect, (muscle.name, side, form or "none")
                )
            )
    return cases


# --------------------------------------------------------------------------- MFT: exam features

EXAM_PRESENT = {
    "tenderness": [
        "Exquisite focal tenderness over the {sites}.",
        "The {sites} {is_} tender to palpation at a discrete point.",
        "TTP over the {sites}.",
        "Point tenderness at a trigger point in the {sites}.",
    ],
    "taut_band": [
        "Palpable taut band in the {sites}.",
        "A ropy band is felt within the {sites}.",
        "Taut band palpated in the {sites}.",
    ],
    "twitch_response": [
        "Snapping palpation of the {sites} elicits a local twitch response.",
        "LTR present with snapping palpation.",
        "A visible twitch response was elicited.",
    ],
    "referred_pain": [
        "Sustained pressure on the trigger point reproduces {poss} usual pain and refers it toward {ref}.",
        "Compression of the trigger point refers pain to {ref}.",
        "Pressure over the band reproduces the familiar pain.",
    ],
    "restricted_rom": ["{rom}", "Range of motion is restricted by pain."],
    "weakness": ["{weak}", "Strength is 4+/5 on the affected side."],
    "onset_history": [
        "The pain began after lifting a heavy box at work.",
        "Symptoms started after a rear-end motor vehicle collision.",
        "It began after a fall on ice in January.",
    ],
}
EXAM_NEGATED = {
    "tenderness": [
        "No tenderness over the {sites}.",
        "The {sites} {is_} non-tender.",
        "Palpation of the {sites} is not tender.",
    ],
    "taut_band": [
        "No taut band is palpable in the {sites}.",
        "No palpable band.",
        "Taut band: absent.",
    ],
    "twitch_response": [
        "No local twitch response could be elicited.",
        "No twitch response with snapping palpation.",
        "LTR absent.",
    ],
    "referred_pain": [
        "Pressure on the trigger point does not reproduce or refer pain.",
        "No referred pain with compression.",
        "No referral pattern with sustained pressure.",
    ],
    "restricted_rom": ["{rom_full}", "Full ROM.", "Range of motion is not limited."],
    "weakness": ["Strength is 5/5 throughout.", "No weakness.", "Strength is full and symmetric."],
    "onset_history": [
        "No injury or other inciting event is recalled.",
        "There was no precipitating injury or trauma.",
        "No inciting event.",
    ],
}
ROM_FULL = {
    "neck": "Cervical range of motion is full.",
    "low_back": "Lumbar range of motion is full.",
    "leg": "Ankle dorsiflexion is full.",
}
OTHER_KINDS = (
    "tenderness",
    "taut_band",
    "twitch_response",
    "referred_pain",
    "restricted_rom",
    "weakness",
)


def exam_feature_cases(seed: int = 505, per_frame: int = 3) -> list[GenCase]:
    rng = random.Random(seed)
    cases = []
    i = 0
    for kind in (*OTHER_KINDS, "onset_history"):
        for present, table in ((True, EXAM_PRESENT), (False, EXAM_NEGATED)):
            for frame in table[kind]:
                for _ in range(per_frame):
                    layout = LAYOUTS[i % 3]
                    spec = make_base(rng, layout=layout, n_sites=1)
                    reg = REGIONS[spec.region]
                    site = spec.sites[0]
                    if site.side == "bilateral":
                        spec = replace(spec, sites=(replace(site, side="left"),))
                    others = rng.sample([k for k in OTHER_KINDS if k != kind], 2)
                    items = [exam_item(rng, k, spec.region) for k in others]
                    text = frame.format(
                        sites=sites_text(spec),
                        poss=spec.p["poss"],
                        ref=rng.choice(reg["refer"]),
                        rom=rng.choice(reg["rom"])[0],
                        weak=rng.choice(reg["weak"])[0],
                        rom_full=ROM_FULL[spec.region],
                        is_="are"
                        if spec.sites[0].full.endswith(("muscles", "rhomboids"))
                        else "is",
                    )
                    exam_texts = [e.full.format(sites=sites_text(spec), **spec.p) for e in items]
                    if kind == "onset_history":
                        spec = replace(spec, onset=None, hpi_extra=text)
                    else:
                        spec = replace(spec, onset=None)
                        exam_texts.insert(rng.randrange(3), text)
                    block = (
                        "\n".join(f"- {t}" for t in exam_texts)
                        if layout == "ehr"
                        else " ".join(exam_texts)
                    )
                    spec = replace(spec, exam_block=block)
                    want_present = set(others) | ({kind} if present else set())
                    expect = Expect(
                        exam_present=frozenset(want_present),
                        exam_pairs=frozenset({(kind, present)}),
                        exam_not_present=frozenset() if present else frozenset({kind}),
                    )
                    cid = f"MFT-exam-{kind}-{'pos' if present else 'neg'}-{i:03d}"
                    cases.append(
                        GenCase(cid, render_case(spec, cid), text, expect, (kind, str(present)))
                    )
                    i += 1
    return cases


# --------------------------------------------------------------------------- MFT: lists, later mentions, layouts

LIST_POOLS = {
    "neck": [
        ("trapezius", "upper trapezius", "upper trap"),
        ("levator scapulae", "levator scapulae", "levator scap"),
        ("rhomboid", "rhomboids", "rhomboids"),
        ("sternocleidomastoid", "sternocleidomastoid", "SCM"),
        ("splenius capitis", "splenius capitis", "splenius capitis"),
        ("infraspinatus", "infraspinatus", "infraspinatus"),
        ("supraspinatus", "supraspinatus", "supraspinatus"),
    ],
    "low_back": [
        ("quadratus lumborum", "quadratus lumborum", "QL"),
        ("gluteus medius", "gluteus medius", "glute med"),
        ("gluteus minimus", "gluteus minimus", "glute min"),
        ("piriformis", "piriformis", "piriformis"),
        ("erector spinae", "erector spinae", "erector spinae"),
        ("multifidus", "multifidus", "multifidus"),
    ],
}
FULL_SIDES = {"left": "left", "right": "right"}
ABBR_SIDES = {"left": "L", "right": "R"}


def coordinated_list_cases(seed: int = 606, n: int = 60) -> list[GenCase]:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        region = rng.choice(list(LIST_POOLS))
        pool = LIST_POOLS[region]
        style = i % 5
        abbrev = rng.random() < 0.4

        def pick(k: int, pool=pool) -> list:
            return rng.sample(pool, k)

        def name(m: tuple, abbrev=abbrev) -> str:
            return m[2] if abbrev else m[1]

        if style == 0:  # each item its own side; the same muscle may appear on both sides
            m1, m2 = pick(2)
            s = rng.choice(["left", "right"])
            o = "right" if s == "left" else "left"
            items = [(m1, s), (m1, o), (m2, rng.choice([s, o]))]
            if rng.random() < 0.5:
                items.append((pick(1)[0], s))
            items = list(dict.fromkeys(items))
            sides = ABBR_SIDES if abbrev else FULL_SIDES
            words = [f"{sides[sd]} {name(m)}" for m, sd in items]
            listing = join_list(words, rng.random() < 0.5)
            pairs = {(m[0], sd) for m, sd in items}
        elif style == 1:  # one side word distributes over the list
            ms = pick(rng.choice([2, 3]))
            s = rng.choice(["left", "right"])
            listing = f"{(ABBR_SIDES if abbrev else FULL_SIDES)[s]} " + join_list(
                [name(m) for m in ms], rng.random() < 0.5
            )
            pairs = {(m[0], s) for m in ms}
        elif style == 2:  # side stated after the list
            ms = pick(rng.choice([2, 3]))
            s = rng.choice(["left", "right"])
            listing = join_list([name(m) for m in ms], rng.random() < 0.5) + f" on the {s}"
            pairs = {(m[0], s) for m in ms}
        elif style == 3:  # bilateral distributes: 2 muscles bilaterally = 4
            ms = pick(2)
            listing = (
                rng.choice(["bilateral ", "both "]) + join_list([name(m) for m in ms])
                if rng.random() < 0.5
                else join_list([name(m) for m in ms]) + " bilaterally"
            )
            pairs = {(m[0], "bilateral") for m in ms}
        else:  # shorthand list with counts
            ms = pick(rng.choice([2, 3, 4]))
            items = [(m, rng.choice(["left", "right"])) for m in ms]
            listing = ", ".join(f"{ABBR_SIDES[sd]} {m[2]} x{rng.randint(1, 3)}" for m, sd in items)
            pairs = {(m[0], sd) for m, sd in items}
        layout = LAYOUTS[i % 3]
        text = {
            "soap": f"PROCEDURE: Trigger point injections were performed in the {listing} with 1% lidocaine, 1 mL per trigger point, after negative aspiration.",
            "ehr": f"Procedure: Trigger point injections\nMuscles injected: {listing}\nMedication: 1% lidocaine, 1 mL per trigger point\nTechnique: injected after negative aspiration.",
            "terse": f"Proc: TPI {listing}, 1% lido 1 mL/TrP, neg aspiration.",
        }[layout]
        code = code_for(pairs)
        spec = make_base(rng, layout=layout, region=region)
        spec = replace(
            spec, generic=True, exam_block=GENERIC_EXAM, proc_block=text, billed_code=code
        )
        cid = f"MFT-list-{i:03d}"
        expect = Expect(status="performed", muscles=frozenset(pairs), supported_code=code)
        cases.append(GenCase(cid, render_case(spec, cid), text, expect, (f"style{style}",)))
    return cases


SHORT_FORMS = {
    "trapezius": ["traps", "trapezius", "upper trap", "trap"],
    "levator scapulae": ["levator", "levator scap"],
    "rhomboid": ["rhomboids", "rhomboid"],
    "sternocleidomastoid": ["SCM"],
    "splenius capitis": ["splenius"],
    "infraspinatus": ["infraspinatus"],
    "quadratus lumborum": ["QL"],
    "gluteus medius": ["glute med"],
    "piriformis": ["piriformis"],
    "gluteus maximus": ["glute max"],
    "tensor fasciae latae": ["TFL"],
    "gastrocnemius": ["gastroc"],
    "soleus": ["soleus"],
    "tibialis anterior": ["tib ant"],
}
LATER_FRAMES = [
    "A twitch response was obtained in the {short} with each needle pass.",
    "The {short} was the most tender site.",
    "Post-injection, tenderness of the {short} had decreased.",
    "Good hemostasis over the {short} site.",
]


def later_mention_cases(seed: int = 707, n: int = 40) -> list[GenCase]:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        spec = make_base(rng, layout=LAYOUTS[i % 3], n_sites=rng.choice([1, 2]))
        site = rng.choice(spec.sites)
        short = rng.choice(SHORT_FORMS[site.canon])
        later = rng.choice(LATER_FRAMES).format(short=short)
        proc = procedure_text(spec)
        proc = proc + ("\nComment: " if spec.layout == "ehr" else " ") + later
        spec = replace(spec, proc_block=proc)
        cid = f"MFT-later-{i:03d}"
        expect = Expect(status="performed", muscles=spec.pairs(), supported_code=spec.code())
        cases.append(GenCase(cid, render_case(spec, cid), later, expect))
    return cases


CHECK_TX = [
    ("physical_therapy", "Physical therapy", "PT"),
    ("chiropractic", "Chiropractic care", "Chiropractic"),
    ("nsaid", "NSAIDs", "NSAIDs"),
    ("massage", "Massage therapy", "Massage therapy"),
    ("home_exercise", "Home exercise program", "HEP"),
    ("muscle_relaxant", "Muscle relaxants", "Muscle relaxants"),
    ("heat_ice", "Heat/ice", "Heat/ice"),
    ("tens", "TENS unit", "TENS unit"),
]
CHECK_EXAM = [
    ("tenderness", "Focal tenderness"),
    ("taut_band", "Palpable taut band"),
    ("twitch_response", "Local twitch response"),
    ("referred_pain", "Referred pain pattern"),
    ("restricted_rom", "Restricted range of motion"),
    ("weakness", "Weakness"),
]
BOXES = [("[X]", "[ ]"), ("[x]", "[ ]"), ("(X)", "( )"), ("\u2612", "\u2610"), ("\u2611", "\u2610")]
FAIL_SHORT = ["no improvement", "minimal relief", "no relief", "no lasting benefit"]
NOT_TRIED_OR_ABSENT = frozenset({ABSENT, "not_tried"})


def _marks(rng: random.Random, n: int, min_on: int) -> list[bool]:
    """Checked flags with at least ``min_on`` checked, one unchecked, and an unchecked box before a
    checked one (so a 'no' could bleed forward)."""
    while True:
        flags = [rng.random() < 0.55 for _ in range(n)]
        if (
            sum(flags) >= min_on
            and not all(flags)
            and any(not a and b for a, b in itertools.pairwise(flags))
        ):
            return flags


def checkbox_cases(seed: int = 808, n: int = 40) -> list[GenCase]:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        on, off = BOXES[i % len(BOXES)]
        spec = make_base(rng, layout=LAYOUTS[i % 3])
        items = rng.sample(CHECK_TX, rng.randint(4, 6))
        flags = _marks(rng, len(items), 1)
        treatments = {}
        if i % 2 == 0:
            row = "  ".join(
                f"{on if f else off} {abbr}"
                for (name, full, abbr), f in zip(items, flags, strict=True)
            )
            block = f"Conservative care tried (check all that apply):\n{row}\nResponse to conservative care: no significant relief."
        else:
            lines = []
            for (_name, full, _abbr), f in zip(items, flags, strict=True):
                lines.append(f"{on} {full} - {rng.choice(FAIL_SHORT)}" if f else f"{off} {full}")
            block = "Prior treatment:\n" + "\n".join(lines)
        for (name, _, _), f in zip(items, flags, strict=True):
            treatments[name] = frozenset({"failed"}) if f else NOT_TRIED_OR_ABSENT
        spec = replace(spec, history_block=block)
        snippet = block
        expect = Expect(treatments=treatments)
        if i % 4 in (0, 3):
            ex = rng.sample(CHECK_EXAM, rng.randint(4, 6))
            eflags = _marks(rng, len(ex), 2)
            exam = "Trigger point exam:\n" + "  ".join(
                f"{on if f else off} {label}" for (k, label), f in zip(ex, eflags, strict=True)
            )
            spec = replace(spec, exam_block=exam, onset=None)
            expect.exam_present = frozenset(k for (k, _), f in zip(ex, eflags, strict=True) if f)
            expect.exam_not_present = frozenset(
                k for (k, _), f in zip(ex, eflags, strict=True) if not f
            )
            snippet += "\n" + exam
        cid = f"MFT-checkbox-{i:03d}"
        cases.append(GenCase(cid, render_case(spec, cid), snippet, expect))
    return cases


FIELD_EXAM = [
    ("tenderness", "Focal tenderness"),
    ("taut_band", "Taut band palpable"),
    ("twitch_response", "Local twitch response"),
    ("referred_pain", "Referred pain reproduced"),
    ("restricted_rom", "Restricted ROM"),
    ("weakness", "Muscle weakness"),
]
FIELD_TX = [
    ("physical_therapy", "Physical therapy tried"),
    ("chiropractic", "Chiropractic tried"),
    ("nsaid", "NSAIDs tried"),
    ("massage", "Massage tried"),
    ("home_exercise", "Home exercise program tried"),
    ("muscle_relaxant", "Muscle relaxant tried"),
]


def field_pair_cases(seed: int = 909, n: int = 40) -> list[GenCase]:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        spec = make_base(rng, layout=LAYOUTS[i % 3])
        yes, no = [("Yes", "No"), ("Y", "N"), ("yes", "no")][i % 3]
        sep = "\n" if i % 2 == 0 else "  |  "
        ex = rng.sample(FIELD_EXAM, rng.randint(4, 6))
        eflags = _marks(rng, len(ex), 2)
        exam = sep.join(
            f"{label}: {yes if f else no}" for (k, label), f in zip(ex, eflags, strict=True)
        )
        txs = rng.sample(FIELD_TX, rng.randint(3, 5))
        tflags = _marks(rng, len(txs), 1)
        hist = sep.join(
            f"{label}: {yes} - outcome: {rng.choice(FAIL_SHORT)}" if f else f"{label}: {no}"
            for (k, label), f in zip(txs, tflags, strict=True)
        )
        spec = replace(spec, exam_block=exam, history_block=hist, onset=None)
        snippet = hist + "\n" + exam
        if i % 3 == 1:
            extra = f"Procedure performed: {yes}\nImage guidance: {no}\nComplications: {no}"
            spec = replace(spec, proc_block=procedure_text(spec) + "\n" + extra)
            snippet += "\n" + extra
        expect = Expect(
            status="performed",
            exam_present=frozenset(k for (k, _), f in zip(ex, eflags, strict=True) if f),
            exam_not_present=frozenset(k for (k, _), f in zip(ex, eflags, strict=True) if not f),
            treatments={
                k: frozenset({"failed"}) if f else NOT_TRIED_OR_ABSENT
                for (k, _), f in zip(txs, tflags, strict=True)
            },
        )
        cid = f"MFT-fields-{i:03d}"
        cases.append(GenCase(cid, render_case(spec, cid), snippet, expect))
    return cases


def table_row_cases(seed: int = 1010, n: int = 40) -> list[GenCase]:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        region = rng.choice(list(LIST_POOLS))
        rows = rng.sample(LIST_POOLS[region], rng.randint(2, 4))
        flags = [True] + [rng.random() < 0.5 for _ in rows[1:]]
        rng.shuffle(flags)
        if all(flags) and len(flags) > 2:
            flags[-1] = False
        yes, no = [("Y", "N"), ("Yes", "No")][i % 2]
        sides = [rng.choice(["L", "R"]) for _ in rows]
        if i % 2 == 0:
            lines = [f"{'Muscle':<22}{'Side':<6}{'TrPs':<6}Injected"]
            lines += [
                f"{m[1].capitalize():<22}{sd:<6}{rng.randint(1, 3):<6}{yes if f else no}"
                for m, sd, f in zip(rows, sides, flags, strict=True)
            ]
        else:
            lines = ["| Muscle | Side | TrPs | Injected |", "|---|---|---|---|"]
            lines += [
                f"| {m[1].capitalize()} | {sd} | {rng.randint(1, 3)} | {yes if f else no} |"
                for m, sd, f in zip(rows, sides, flags, strict=True)
            ]
        table = "\n".join(lines)
        text = (
            "PROCEDURE: Trigger point injections were performed as below after consent and negative aspiration, "
            f"with 1% lidocaine 1 mL per trigger point.\n{table}"
        )
        pairs = {
            (m[0], "left" if sd == "L" else "right")
            for m, sd, f in zip(rows, sides, flags, strict=True)
            if f
        }
        code = code_for(pairs)
        spec = make_base(rng, layout="soap", region=region)
        spec = replace(
            spec, generic=True, exam_block=GENERIC_EXAM, proc_block=text, billed_code=code
        )
        cid = f"MFT-table-{i:03d}"
        expect = Expect(status="performed", muscles=frozenset(pairs), supported_code=code)
        cases.append(GenCase(cid, render_case(spec, cid), table, expect))
    return cases


# --------------------------------------------------------------------------- INV

COMORBIDITIES = [
    ("pmh", "HTN, controlled."),
    ("pmh", "Type 2 diabetes, diet-controlled."),
    ("pmh", "Hypothyroidism on levothyroxine."),
    ("assessment", "L knee OA - not addressed today."),
    ("assessment", "R carpal tunnel syndrome, stable - not addressed today."),
    ("exam", "No subacromial bursa tenderness."),
    ("exam", "Greater trochanteric bursa non-tender."),
    ("exam", "SI joint provocation tests negative."),
]


def base_cases(seed: int = 1111, n: int = 36) -> list[GenCase]:
    """The unperturbed, complete notes shared by every INV and DIR capability."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        spec = make_base(rng, layout=LAYOUTS[i % 3])
        cid = f"BASE-{i:03d}"
        out.append(GenCase(cid, render_case(spec, cid), "", base_expect(spec), ("base",), spec))
    return out


def _permute(rng: random.Random, items: tuple) -> tuple:
    if len(items) < 2:
        return items
    while True:
        out = tuple(rng.sample(items, len(items)))
        if out != items:
            return out


INV_PERTURBATIONS = {
    "abbreviations": "abbreviations vs full names (upper trap, levator scap, QL, SCM, glute med, PT, HEP, lido, TPI, L/R, TTP, LTR, ROM)",
    "all_caps": "the whole note in capitals",
    "crlf": "CRLF line endings",
    "list_order": "order of the muscles, treatments and exam findings",
    "punctuation": "punctuation and spacing variants (mL/ml, 1 %, double spaces, no final periods, no space after colons, bullets as semicolons, Oxford comma)",
    "layout": "the same content templated (EHR headings) vs prose (SOAP)",
    "comorbidity": "an unrelated comorbidity or negative joint/bursa exam sentence",
    "free_word": "a '-free' word in the preparation (preservative-free, epinephrine-free)",
    "second_note": "history in a second progress note instead of the procedure note",
}


def perturb(rng: random.Random, spec: NoteSpec, kind: str) -> tuple[NoteSpec, str]:
    if kind == "abbreviations":
        return replace(spec, abbreviate=True), "abbreviated"
    if kind == "all_caps":
        return replace(spec, transforms=(*spec.transforms, "caps")), "ALL CAPS"
    if kind == "crlf":
        return replace(spec, transforms=(*spec.transforms, "crlf")), "CRLF"
    if kind == "list_order":
        return replace(
            spec,
            sites=_permute(rng, spec.sites),
            txs=_permute(rng, spec.txs),
            exam=_permute(rng, spec.exam),
        ), "reordered"
    if kind == "punctuation":
        names = tuple(rng.sample(PUNCT_TRANSFORMS, 2))
        return replace(spec, transforms=names, oxford=not spec.oxford), "punctuation " + "+".join(
            names
        )
    if kind == "layout":
        other = {"soap": "ehr", "ehr": "soap", "terse": "ehr"}[spec.layout]
        return replace(spec, layout=other), f"layout {spec.layout}->{other}"
    if kind == "comorbidity":
        extra = rng.choice(COMORBIDITIES)
        return replace(spec, extras=(*spec.extras, extra)), f"+ {extra[1]!r} in {extra[0]}"
    if kind == "free_word":
        word = rng.choice(["preservative-free", "epinephrine-free", "both"])
        return replace(spec, free_word=word), f"injectate {word}"
    if kind == "second_note":
        return replace(spec, split_history=True), "history in a second progress note"
    raise KeyError(kind)


def invariance_pairs(bases: list[GenCase], kind: str, seed: int) -> list[InvPair]:
    rng = random.Random(seed)
    pairs = []
    for b in bases:
        spec, what = perturb(rng, b.spec, kind)
        cid = f"INV-{kind}-{b.case_id}"
        pairs.append(InvPair(b, render_case(spec, cid), what))
    return pairs


# --------------------------------------------------------------------------- DIR

CANCEL_ADDENDA = [
    "ADDENDUM 15:10: Procedure cancelled - the patient became lightheaded before the first needle; no injections were given.",
    "Addendum: TPI cancelled, patient had to leave before the procedure.",
    "Addendum (same day): the injections documented above were cancelled at the patient's request and not performed.",
]
REFUSALS = [
    ("proc", "Trigger point injections were offered; the patient declined."),
    ("proc", "Pt refused TPI after discussion of risks and benefits."),
    ("addendum", "Addendum: after the consent discussion the patient declined the injections."),
]
NO_TRIGGER_POINTS = {
    "soap": "No trigger points found on exam. No taut bands, no twitch response and no focal tenderness in the muscles examined.",
    "ehr": "- No trigger points found on exam\n- No taut bands, no twitch response, no focal tenderness",
    "terse": "no trigger points found; no taut band, no LTR, non-tender.",
}
NEEDLE_CURRENT = [
    "Current was then passed through the needles at 2 Hz for 10 minutes.",
    "The needles were then connected to an electrical stimulator, 4 Hz for 15 minutes.",
    "Electrical stimulation was applied through the needles for 10 minutes before removal.",
]

DIR_EDITS = {
    "cancel_addendum": "a cancellation addendum",
    "refusal": "the patient refuses the injection",
    "care_effective": "every prior treatment helped ('PT helped a lot') instead of failing",
    "no_trigger_points": "'no trigger points found on exam' replaces the exam",
    "needle_current": "current passed through the needles",
    "second_tpi_line": "a second TPI line (or 2 units) on the claim",
    "planned_only": "planned-only wording: the injections are for the next visit",
    "injectate_removed": "the injectate and dose removed from the procedure",
}


def directional_edit(rng: random.Random, spec: NoteSpec, kind: str) -> tuple[NoteSpec, str]:
    L = spec.layout
    if kind == "cancel_addendum":
        text = rng.choice(CANCEL_ADDENDA)
        return replace(spec, addendum=text), text
    if kind == "refusal":
        where, text = rng.choice(REFUSALS)
        if where == "proc":
            return replace(spec, proc_block=heading(L, "proc") + text), text
        return replace(spec, addendum=text), text
    if kind == "care_effective":
        txs = tuple(
            with_outcome(tx, "effective", rng.choice(EFFECTIVE_OUTCOMES)) for tx in spec.txs
        )
        new = replace(spec, txs=txs)
        return new, " / ".join(t.pred for t in txs)
    if kind == "no_trigger_points":
        text = NO_TRIGGER_POINTS[L]
        return replace(spec, exam_block=text), text
    if kind == "needle_current":
        text = rng.choice(NEEDLE_CURRENT)
        proc = procedure_text(spec) + ("\nStimulation: " if L == "ehr" else " ") + text
        return replace(spec, proc_block=proc), text
    if kind == "second_tpi_line":
        if rng.random() < 0.5:
            other = "20553" if spec.code() == "20552" else "20552"
            return replace(spec, extra_claim_lines=((other, 1),)), f"claim + {other} line"
        return replace(spec, units=2), "claim line units = 2"
    if kind == "planned_only":
        text = f"Trigger point injections to the {sites_text(spec)} with {agent_text(spec)}, {dose_text(spec)}, at the next visit."
        return replace(spec, proc_block="", plan_block=heading(L, "plan") + text), text
    if kind == "injectate_removed":
        new = replace(spec, drop_injectate=True)
        return new, procedure_text(new)
    raise KeyError(kind)


def directional_cases(bases: list[GenCase], kind: str, seed: int) -> list[DirCase]:
    rng = random.Random(seed)
    out = []
    for b in bases:
        spec, snippet = directional_edit(rng, b.spec, kind)
        cid = f"DIR-{kind}-{b.case_id}"
        out.append(DirCase(b, render_case(spec, cid), DIR_EDITS[kind], snippet))
    return out


# --------------------------------------------------------------------------- registry

# key -> (capability name, what it checks, case factory); the test functions and the prefetch
# (conftest.py) both read this, so they generate exactly the same cases.
MFT_CAPABILITIES = {
    "procedure_status": (
        "procedure status",
        "performed / planned / deferred / cancelled / declined / historical / negated wording -> procedure_status; only performed approves",
        procedure_status_cases,
    ),
    "treatment_outcomes": (
        "treatment outcomes",
        "compositional outcome phrases per treatment; one outcome after a list covers the list; contrastive clauses keep their own outcome",
        treatment_outcome_cases,
    ),
    "excluded_services": (
        "excluded services",
        "each excluded service named and described without its name -> excluded_services performed, decision not approve",
        excluded_service_cases,
    ),
    "muscles_and_sides": (
        "muscles x side forms",
        "every lexicon muscle with left/right/bilateral/unspecified side forms in several frames -> (name, side) injected",
        muscle_side_cases,
    ),
    "exam_features": (
        "exam features",
        "each exam feature present and negated, next to two present ones -> (kind, present)",
        exam_feature_cases,
    ),
    "coordinated_lists": (
        "coordinated muscle lists",
        "lists with per-item, shared, trailing and bilateral sides -> distinct (name, side) and the code",
        coordinated_list_cases,
    ),
    "later_mention": (
        "later short mention",
        "a later short mention of an injected muscle does not add a muscle",
        later_mention_cases,
    ),
    "checkboxes": (
        "checkbox lines",
        "[X] / [ ] treatment and exam checkboxes: checked = tried/present, unchecked = not",
        checkbox_cases,
    ),
    "field_pairs": (
        "Field: Yes/No pairs",
        "'Field: Yes/No' exam, treatment and procedure fields; a No does not bleed into the next field",
        field_pair_cases,
    ),
    "table_rows": (
        "table rows (Injected Y/N)",
        "muscle table with an Injected column: only Y rows are injected muscles",
        table_row_cases,
    ),
}
INV_SEEDS = {kind: 2000 + i for i, kind in enumerate(INV_PERTURBATIONS)}
DIR_SEEDS = {kind: 3000 + i for i, kind in enumerate(DIR_EDITS)}


def case_dicts(family: str, key: str, bases: list[GenCase]) -> list[dict]:
    """Every case dict one capability will review (used to prefetch reviews in parallel)."""
    if family == "mft":
        return [c.data for c in MFT_CAPABILITIES[key][2]()]
    if family == "inv":
        return [b.data for b in bases] + [
            p.perturbed for p in invariance_pairs(bases, key, INV_SEEDS[key])
        ]
    if family == "dir":
        return [b.data for b in bases] + [
            d.perturbed for d in directional_cases(bases, key, DIR_SEEDS[key])
        ]
    raise KeyError(family)
