"""Parse stage: sections, numbered sentences with exact offsets, line-break rules and ConText flags.

Every note here is a synthetic snippet written for the test.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from review.extract.cues import status_cue
from review.parse import join_wrapped_lines, parse_document, parse_documents
from review.schema import Document, ParsedDocument


def parse(text: str, nlp, kind: str = "procedure_note") -> ParsedDocument:
    return parse_document(Document(id="n", kind=kind, text=text), nlp)


def sentence_containing(doc: ParsedDocument, fragment: str):
    start = doc.text.index(fragment)
    for s in doc.sentences:
        if s.start <= start < s.end:
            return s
    raise AssertionError(f"no sentence covers {fragment!r}")


def mention(doc: ParsedDocument, surface: str):
    found = [m for m in doc.mentions if doc.text[m.start : m.end].lower() == surface.lower()]
    assert found, f"no mention {surface!r} in {[doc.text[m.start : m.end] for m in doc.mentions]}"
    return found[0]


# --------------------------------------------------------------------------- sections

BODY = "Marker sentence about the left trapezius."

HEADINGS = [
    # (heading as written, separator between heading and body, expected section category)
    ("PROCEDURE:", " ", "procedure"),
    ("PROCEDURE PERFORMED:", " ", "procedure"),
    ("Procedure Performed:", " ", "procedure"),
    ("DESCRIPTION OF PROCEDURE:", " ", "procedure"),
    ("DETAILS OF PROCEDURE", "\n", "procedure"),
    ("DETAILS OF PROCEDURE:", "\n", "procedure"),
    ("PROCEDURE PERFORMED", "\n", "procedure"),
    ("MUSCLES INJECTED:", "\n", "procedure"),
    ("HISTORY OF PRESENT ILLNESS", "\n", "hpi"),
    ("HPI:", " ", "hpi"),
    ("History of Present Illness:", " ", "hpi"),
    ("PHYSICAL EXAM:", " ", "exam"),
    ("PHYSICAL EXAMINATION", "\n", "exam"),
    ("Exam:", " ", "exam"),
    ("ASSESSMENT/IMPRESSION:", " ", "assessment"),
    ("IMPRESSION", "\n", "assessment"),
    ("Assessment and Plan:", " ", "assessment"),
    ("PLAN:", " ", "plan"),
    ("Plan:", "\n", "plan"),
    ("DIAGNOSES:", " ", "diagnoses"),
    ("PREOPERATIVE DIAGNOSIS:", " ", "diagnoses"),
    ("PAST MEDICAL HISTORY:", " ", "past_history"),
    ("CURRENT MEDICATIONS:", " ", "medications"),
    ("INDICATIONS:", " ", "indications"),
    ("S:", " ", "hpi"),
    ("O:", " ", "exam"),
    ("A:", " ", "assessment"),
    ("P:", " ", "plan"),
    # banner headings in templated notes
    ("--- Plan ---", "\n", "plan"),
    ("== ASSESSMENT ==", "\n", "assessment"),
    ("*** Physical Exam ***", "\n", "exam"),
]


def test_a_bullet_is_not_a_banner_heading(nlp):
    # "- a ..." must not open the assessment section ("a" is a heading phrase, "A:")
    text = "Plan:\n- a home exercise program daily\n- Plan to recheck in 4 weeks\n"
    doc = parse(text, nlp)
    assert [s.category for s in doc.sections] == ["plan"]


@pytest.mark.parametrize(
    ("heading", "sep", "category"), HEADINGS, ids=[f"{h!r}{s!r}" for h, s, _ in HEADINGS]
)
def test_heading_forms_open_their_section(nlp, heading, sep, category):
    text = f"Clinic note for neck pain.\n{heading}{sep}{BODY}\n"
    doc = parse(text, nlp)
    assert sentence_containing(doc, BODY).section == category
    section = next(s for s in doc.sections if s.category == category)
    assert section.start == text.index(heading)
    assert text[section.start : section.start + len(section.title)] == section.title
    assert sentence_containing(doc, "Clinic note").section is None


def test_soap_note_has_four_sections_in_order(nlp):
    text = (
        "S: Neck pain for three months after a car accident.\n"
        "O: Taut band in the left upper trapezius.\n"
        "A: Myofascial pain syndrome.\n"
        "P: Trigger point injection performed today.\n"
    )
    doc = parse(text, nlp, kind="progress_note")
    assert [s.category for s in doc.sections] == ["hpi", "exam", "assessment", "plan"]
    assert [s.section for s in doc.sentences] == [
        "hpi",
        "exam",
        "assessment",
        "plan",
    ]
    # the sections tile the note: each ends where the next begins
    for a, b in zip(doc.sections, doc.sections[1:], strict=False):
        assert a.end == b.start


NOT_HEADINGS = [
    ("heading word mid-line", "She asked about the procedure: risks were explained."),
    ("plan: mid-line", "We will plan: follow up in four weeks."),
    (
        "lower case heading words alone, no colon",
        "procedure performed\nInjection of the left trapezius.",
    ),
]


@pytest.mark.parametrize(("label", "text"), NOT_HEADINGS, ids=[n[0] for n in NOT_HEADINGS])
def test_heading_words_inside_prose_do_not_open_a_section(nlp, label, text):
    assert parse(text, nlp).sections == []


def test_heading_text_is_not_a_mention(nlp):
    """ "MEDICATIONS:" is a heading, not a medication; the treatments after it are mentions."""
    text = "MEDICATIONS: cyclobenzaprine 10 mg at night.\n"
    doc = parse(text, nlp)
    assert [doc.text[m.start : m.end] for m in doc.mentions] == ["cyclobenzaprine"]
    assert doc.mentions[0].section == "medications"


# --------------------------------------------------------------------------- sentences

NOTE = (
    "PROCEDURE NOTE\n"
    "\n"
    "INDICATIONS: Myofascial pain of the left upper trapezius that has not responded to\n"
    "eight weeks of physical therapy.\n"
    "PROCEDURE PERFORMED\n"
    "Trigger point injections, two muscles.\n"
    "  After consent, the skin was prepped with alcohol.   The left upper trapezius and the\n"
    "left levator scapulae were injected with 2 mL of 1% lidocaine each.\n"
    "Muscles injected:\n"
    "- Left upper trapezius\n"
    "- Left levator scapulae\n"
    "\tShe tolerated the procedure well.\t\n"
)


def test_sentences_are_numbered_from_one_and_slice_back_trimmed(nlp):
    doc = parse(NOTE, nlp)
    assert [s.id for s in doc.sentences] == list(range(1, len(doc.sentences) + 1))
    previous_end = 0
    for s in doc.sentences:
        piece = NOTE[s.start : s.end]
        assert piece == doc.sentence_text(s)
        assert piece and piece == piece.strip(), (s.id, piece)
        assert s.start >= previous_end, "sentences overlap or are out of order"
        previous_end = s.end


def test_sentence_numbers_restart_in_every_document(nlp):
    docs = parse_documents(
        [
            Document(id="a", text="First note. It has two sentences."),
            Document(id="b", text="Second note.\nPLAN: Follow up."),
        ],
        nlp,
    )
    assert [[s.id for s in d.sentences] for d in docs] == [[1, 2], [1, 2]]
    assert [d.document_id for d in docs] == ["a", "b"]


def test_mentions_point_at_their_sentence_and_text(nlp):
    doc = parse(NOTE, nlp)
    by_id = {s.id: s for s in doc.sentences}
    assert doc.mentions
    for m in doc.mentions:
        s = by_id[m.sentence]
        assert s.start <= m.start < m.end <= s.end
        assert NOTE[m.start : m.end].strip() == NOTE[m.start : m.end]


WRAPPED = [
    (
        "wrapped mid-phrase",
        "The skin was prepped and the left\ntrapezius was injected with 2 mL of 1% lidocaine.",
    ),
    (
        "wrapped after a comma",
        "Injected the left upper trapezius,\nleft levator scapulae and left rhomboid major.",
    ),
    ("wrapped after 'and'", "The left trapezius and\nthe left rhomboid were injected."),
    ("wrapped with CRLF", "The skin was prepped and the left\r\ntrapezius was injected."),
    ("wrapped twice", "The needle was\nadvanced into the\ntaut band of the trapezius."),
]


@pytest.mark.parametrize(("label", "text"), WRAPPED, ids=[w[0] for w in WRAPPED])
def test_a_sentence_wrapped_over_lines_stays_one_sentence(nlp, label, text):
    doc = parse(text, nlp)
    assert len(doc.sentences) == 1
    assert doc.sentence_text(doc.sentences[0]) == text.strip()


LIST_ITEMS = [
    ("dash", "- "),
    ("star", "* "),
    ("bullet", "\u2022 "),
    ("letter", "a) "),
    ("number with parenthesis", "1) "),
    pytest.param(
        "number with period",
        "1. ",
        id="number with period",
    ),
]


@pytest.mark.parametrize(("label", "marker"), LIST_ITEMS)
def test_every_list_item_starts_its_own_sentence(nlp, label, marker):
    items = ["Left upper trapezius", "Right levator scapulae", "Left rhomboid major"]
    text = "Muscles injected today\n" + "".join(f"{marker}{item}\n" for item in items)
    doc = parse(text, nlp)
    for item in items:
        s = sentence_containing(doc, item)
        assert doc.sentence_text(s) == f"{marker}{item}".strip()
    assert doc.sentence_text(doc.sentences[0]) == "Muscles injected today"


def test_headings_alone_on_a_line_start_a_new_sentence(nlp):
    text = (
        "Neck pain for three months without relief from physical therapy\n"
        "PHYSICAL EXAMINATION\n"
        "Taut band in the left trapezius\n"
        "PROCEDURE PERFORMED\n"
        "Trigger point injection into the left trapezius\n"
    )
    doc = parse(text, nlp)
    assert [doc.sentence_text(s) for s in doc.sentences] == [
        "Neck pain for three months without relief from physical therapy",
        "PHYSICAL EXAMINATION",
        "Taut band in the left trapezius",
        "PROCEDURE PERFORMED",
        "Trigger point injection into the left trapezius",
    ]


def test_blank_line_and_field_labels_keep_their_line_breaks(nlp):
    text = "Chief complaint neck pain\n\nDate of service MM/DD/YYYY\nProvider: ***\nPatient: ***"
    doc = parse(text, nlp)
    assert [doc.sentence_text(s) for s in doc.sentences] == [
        "Chief complaint neck pain",
        "Date of service MM/DD/YYYY",
        "Provider: ***",
        "Patient: ***",
    ]


# --------------------------------------------------------------------------- ConText flags

CONTEXT = [
    # (snippet, entry name, the reading the parse must give; None: affirmed, no cue reaches it).
    # Exam findings: an absent finding is its own category ("absent"), so a negator can never
    # be lost on the way to the extractor. Procedures: the nearest status cue decides.
    ("There is no taut band in the left trapezius.", "taut_band", "absent"),
    ("No taut band is palpated.", "taut_band", "absent"),
    ("No twitch response was elicited.", "twitch_response", "absent"),
    ("She denies referred pain.", "referred_pain", "absent"),
    ("The trapezius is non-tender.", "tenderness", "absent"),
    pytest.param(
        "Exam: no taut band in the left trapezius.",
        "taut_band",
        "absent",
        id="heading colon then no",
    ),
    ("Patient declined trigger point injections.", "trigger_point_injection", "declined"),
    ("Trigger point injection was not performed.", "trigger_point_injection", "negated"),
    ("Trigger point injections were deferred.", "trigger_point_injection", "deferred"),
    pytest.param(
        "Trigger point injections were not performed.",
        "trigger_point_injection",
        "negated",
        id="were not performed",
    ),
    pytest.param(
        "Trigger point injections were declined.",
        "trigger_point_injection",
        "declined",
        id="declined after target",
    ),
    (
        "Trigger point injections are planned at the next visit.",
        "trigger_point_injection",
        "planned",
    ),
    (
        "Plan: a series of trigger point injections at the next visit.",
        "trigger_point_injection",
        "planned",
    ),
    (
        "Will consider trigger point injections if symptoms persist.",
        "trigger_point_injection",
        "planned",
    ),
    (
        "She had a previous trigger point injection in the trapezius.",
        "trigger_point_injection",
        "historical",
    ),
    ("Status post trigger point injections in 2024.", "trigger_point_injection", "historical"),
    (
        "Her mother had trigger point injections for fibromyalgia.",
        "trigger_point_injection",
        "family",
    ),
    (
        "Trigger point injection performed today into the left trapezius.",
        "trigger_point_injection",
        "performed",
    ),
    ("Palpable taut band in the left upper trapezius.", "taut_band", None),
]


def reading(m) -> str | None:
    if m.family:
        return "family"
    if m.label == "exam_finding":
        return "absent" if m.category == "absent" or m.negated else None
    return status_cue(m)[0]


@pytest.mark.parametrize(("text", "name", "expected"), CONTEXT)
def test_context_readings_on_mentions(nlp, text, name, expected):
    found = [m for m in parse(text, nlp).mentions if m.name == name]
    assert found, f"no {name!r} mention in {text!r}"
    assert reading(found[0]) == expected


# --------------------------------------------------------------------------- join_wrapped_lines

JOIN = [
    # (text, expected after joining)
    ("the left\ntrapezius", "the left trapezius"),
    (
        "injected the trapezius,\nrhomboid and levator",
        "injected the trapezius, rhomboid and levator",
    ),
    ("Tolerated well.\nNo complications.", "Tolerated well.\nNo complications."),
    ("PLAN:\nfollow up", "PLAN:\nfollow up"),
    (
        "PROCEDURE PERFORMED\nTrigger point injection",
        "PROCEDURE PERFORMED\nTrigger point injection",
    ),
    ("Muscles\n- trapezius\n- rhomboid", "Muscles\n- trapezius\n- rhomboid"),
    ("first paragraph\n\nsecond paragraph", "first paragraph\n\nsecond paragraph"),
    ("the left\r\ntrapezius", "the left\r trapezius"),
    ("caf\u00e9 pain \U0001f600\nstill wrapped", "caf\u00e9 pain \U0001f600 still wrapped"),
    ("", ""),
    ("\n\n\n", "\n\n\n"),
]


@pytest.mark.parametrize(("text", "joined"), JOIN)
def test_join_wrapped_lines(text, joined):
    assert join_wrapped_lines(text) == joined
    assert len(join_wrapped_lines(text)) == len(text)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["\n", "\r\n", "\n\n", ":", ".", ",", " and", "- ", "1. ", "PLAN"]),
            st.text(max_size=12),
        ),
        max_size=30,
    ).map("".join)
)
def test_join_wrapped_lines_only_turns_line_breaks_into_spaces(text):
    joined = join_wrapped_lines(text)
    assert len(joined) == len(text)
    for a, b in zip(text, joined, strict=True):
        assert a == b or (a == "\n" and b == " ")
