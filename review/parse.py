"""Parse stage: spaCy + medspaCy turn a note into numbered sentences, sections and lexicon mentions
with ConText flags, all as plain data with character offsets into the original text.

The pipeline is built once per process by :func:`build_pipeline` (explicitly, never at import).
Sentence splitting uses spaCy's rule-based sentencizer plus a line-break component for headings
and lists: PyRuSH (medspaCy's default) was measured about 8x slower on the MTSamples notes for no
gain on this task (``benchmarks/sentence_splitting.py``).
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

from review.lexicon import LABELS, TARGET_KINDS, load_lexicon
from review.schema import Document, Mention, ParsedDocument, Section, Sentence

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

PIPELINE_VERSION = "tpi-parse.v1"

_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*\u2022]|[a-z][.)])\s")
_HEADING_LINE = re.compile(r"^\s*[A-Z][A-Z0-9 /&,()-]{2,60}:?\s*$")
_CONTINUES = re.compile(
    r"(?:[,(&/]|\b(?:and|or|with|of|to|the|a|an|in|at|for|from|by|per))\s*$", re.I
)
_HEADING_START = re.compile(r"^\s*[A-Za-z][A-Za-z /&-]{1,40}:")


def join_wrapped_lines(text: str) -> str:
    """Replace the line breaks that only wrap a sentence with spaces (same length, so every offset
    still points into the original note). Kept: blank lines, and breaks before headings, list
    items and field labels, or after a line that ends a sentence or is a heading."""
    chars = list(text)
    lines = text.split("\n")
    pos = 0
    for i, line in enumerate(lines[:-1]):
        pos += len(line)
        nxt = lines[i + 1]
        prev = line.rstrip()
        if prev.strip() and nxt.strip() and _CONTINUES.search(prev):
            chars[pos] = " "  # "... to the R upper trapezius,\nR levator scapulae and ..."
            pos += 1
            continue
        keep = (
            not prev.strip()
            or not nxt.strip()
            or prev.endswith((":", ".", "?", "!", ";"))
            or _HEADING_LINE.match(prev)
            or _LIST_ITEM.match(nxt)
            or _HEADING_START.match(nxt)
            or _HEADING_LINE.match(nxt)
        )
        if not keep:
            chars[pos] = " "
        pos += 1
    return "".join(chars)


def _line_break_starts(doc: Doc) -> Doc:
    """Every line break left after :func:`join_wrapped_lines` starts a sentence."""
    for i, token in enumerate(doc[:-1]):
        if "\n" in token.whitespace_ or (token.is_space and "\n" in token.text):
            nxt = doc[i + 1]
            if not nxt.is_space:
                nxt.is_sent_start = True
    return doc


@cache
def build_pipeline() -> Language:
    """Build the spaCy/medspaCy pipeline once per process."""
    import spacy
    from loguru import logger
    from medspacy.context import ConText, ConTextRule  # noqa: F401 (registers the factory)
    from medspacy.section_detection import Sectionizer, SectionRule  # noqa: F401
    from medspacy.target_matcher import TargetMatcher, TargetRule  # noqa: F401
    from spacy.language import Language

    logger.disable("PyRuSH")  # PyRuSH logs every token at import-time default level
    if not Language.has_factory("review_line_breaks"):
        Language.component("review_line_breaks", func=_line_break_starts)

    nlp = spacy.blank("en")
    nlp.add_pipe("review_line_breaks")
    nlp.add_pipe("sentencizer")
    matcher = nlp.add_pipe("medspacy_target_matcher")
    matcher.add(_target_rules(TargetRule))
    sectionizer = nlp.add_pipe(
        "medspacy_sectionizer", config={"rules": None, "require_start_line": True}
    )
    sectionizer.add(_section_rules(SectionRule))
    context = nlp.add_pipe("medspacy_context", config={"rules": "default"})
    context.add(_context_rules(ConTextRule))
    return nlp


def _target_rules(rule_type) -> list:
    rules = []
    seen: set[str] = set()
    for kind in TARGET_KINDS:
        label = LABELS[kind]
        for entry in load_lexicon(kind).entries:
            for phrase in entry.phrases:
                key = phrase.lower()
                if key in seen:  # an earlier (higher-priority) lexicon owns this phrase
                    continue
                seen.add(key)
                meta = {"name": entry.name, "category": entry.category}
                rules.append(rule_type(phrase, label, metadata=meta))
            for pattern in entry.patterns:
                meta = {"name": entry.name, "category": entry.category}
                rules.append(rule_type(entry.name or label, label, pattern=pattern, metadata=meta))
    return rules


def _section_rules(rule_type) -> list:
    rules = []
    for entry in load_lexicon("sections").entries:
        for phrase in entry.phrases:
            rules.append(rule_type(f"{phrase}:", entry.name))
            if len(phrase) < 2:
                continue  # "A" alone on a line is not a heading
            rules.append(
                rule_type(
                    phrase.upper(),
                    entry.name,
                    pattern=rf"(?m)^[ \t]*{re.escape(phrase.upper())}[ \t]*(?=\r?\n)",
                )
            )
    return rules


def _context_rules(rule_type) -> list:
    return [
        rule_type(
            phrase,
            entry.category,
            direction=entry.direction or "BIDIRECTIONAL",
            max_scope=entry.max_scope,
        )
        for entry in load_lexicon("context").entries
        for phrase in entry.phrases
    ]


def parse_document(document: Document, nlp: Language | None = None) -> ParsedDocument:
    """Parse one document into sentences, sections and mentions (offsets into ``document.text``)."""
    nlp = nlp or build_pipeline()
    return _to_parsed(document, nlp(join_wrapped_lines(document.text)))


def parse_documents(documents: list[Document], nlp: Language | None = None) -> list[ParsedDocument]:
    nlp = nlp or build_pipeline()
    docs = nlp.pipe(join_wrapped_lines(d.text) for d in documents)
    return [_to_parsed(d, doc) for d, doc in zip(documents, docs, strict=True)]


def _to_parsed(document: Document, doc: Doc) -> ParsedDocument:
    sections = [
        Section(
            category=s.category or "unknown",
            title=doc[s.title_start : s.title_end].text,
            start=doc[s.section_span[0]].idx if s.section_span[0] < len(doc) else len(doc.text),
            end=_char_end(doc, s.section_span[1]),
        )
        for s in doc._.sections
        if s.category
    ]
    sentences: list[Sentence] = []
    sentence_of_token: dict[int, int] = {}
    for sent in doc.sents:
        if not sent.text.strip():
            continue
        start, end = _trim(doc.text, sent.start_char, sent.end_char)
        number = len(sentences) + 1
        sentences.append(
            Sentence(id=number, start=start, end=end, section=_section_at(sections, start))
        )
        for token in sent:
            sentence_of_token[token.i] = number
    titles = [(s.start, s.start + len(s.title)) for s in sections if s.title]
    mentions = []
    for ent in doc.ents:
        if any(start <= ent.start_char < end for start, end in titles):
            continue  # "MEDICATIONS:" is a heading, not a medication
        meta = ent._.target_rule.metadata or {}
        mentions.append(
            Mention(
                label=ent.label_,
                name=meta.get("name") or ent.text.lower(),
                category=meta.get("category"),
                start=ent.start_char,
                end=ent.end_char,
                sentence=sentence_of_token.get(ent.start, 0),
                section=_section_at(sections, ent.start_char),
                negated=ent._.is_negated,
                historical=ent._.is_historical,
                hypothetical=ent._.is_hypothetical,
                uncertain=ent._.is_uncertain,
                family=ent._.is_family,
            )
        )
    return ParsedDocument(
        document_id=document.id,
        kind=document.kind,
        date=document.date,
        text=document.text,
        sentences=sentences,
        sections=sections,
        mentions=mentions,
    )


def _char_end(doc: Doc, token_end: int) -> int:
    return len(doc.text) if token_end >= len(doc) else doc[token_end].idx


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _section_at(sections: list[Section], offset: int) -> str | None:
    for section in sections:
        if section.start <= offset < section.end:
            return section.category
    return None
