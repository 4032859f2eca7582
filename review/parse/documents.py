"""Documents in, parsed documents out: run the pipeline over a case's notes and turn each spaCy
``Doc`` into the plain data the extractors read (sentences, sections, mentions with their ConText
reaches, cues), every offset into the original note text."""

from __future__ import annotations

import bisect
import threading
from typing import TYPE_CHECKING

from review.errors import CaseError
from review.parse.pipeline import build_pipeline
from review.parse.sections import section_finder, with_banners
from review.parse.sentences import join_wrapped_lines
from review.schema import Cue, Document, Mention, ParsedDocument, Reach, Section, Sentence

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

_PARSE_LOCK = threading.Lock()
"""One parse at a time per process: threads (concurrent LLM calls) share one pipeline, and
parsing is CPU-bound under the GIL anyway; processes each build their own."""


def parse_document(document: Document, nlp: Language | None = None) -> ParsedDocument:
    """Parse one document into sentences, sections and mentions (offsets into ``document.text``)."""
    return parse_documents([document], nlp)[0]


def parse_documents(documents: list[Document], nlp: Language | None = None) -> list[ParsedDocument]:
    nlp = nlp or build_pipeline()
    for d in documents:  # the loader refuses these already; a direct caller gets the same error
        if len(d.text) > nlp.max_length:
            raise CaseError(
                "C008",
                f"note has {len(d.text):,} characters (limit {nlp.max_length:,}); split the export",
                source=d.id,
            )
    with _PARSE_LOCK:
        docs = list(nlp.pipe(join_wrapped_lines(d.text) for d in documents))
        return [_to_parsed(d, doc) for d, doc in zip(documents, docs, strict=True)]


def _to_parsed(document: Document, doc: Doc) -> ParsedDocument:
    text = document.text  # same length as doc.text (only wrapped line breaks differ)
    n = len(doc)
    sections = [
        Section(
            category=category,
            title=doc[title_start:title_end].text,
            start=doc[title_start].idx if title_start < n else len(text),
            end=len(text) if body_end >= n else doc[body_end].idx,
        )
        for category, title_start, title_end, _, body_end in doc._.review_sections
        if category
    ]
    sections = with_banners(sections, text)
    section_at = section_finder(sections)
    sentences: list[Sentence] = []
    sentence_of_token: dict[int, int] = {}
    for sent in doc.sents:
        if not sent.text.strip():
            continue
        start, end = _trim(text, sent.start_char, sent.end_char)
        number = len(sentences) + 1
        sentences.append(Sentence(id=number, start=start, end=end, section=section_at(start)))
        for token in sent:
            sentence_of_token[token.i] = number
    titles = sorted((s.start, s.start + len(s.title)) for s in sections if s.title)
    title_starts = [start for start, _ in titles]

    def char_span(start: int, end: int) -> tuple[int, int]:
        last = doc[end - 1]
        return doc[start].idx, last.idx + len(last.text)

    mentions = []
    for ent in doc.ents:
        i = bisect.bisect_right(title_starts, ent.start_char) - 1
        if i >= 0 and ent.start_char < titles[i][1]:
            continue  # "MEDICATIONS:" is a heading, not a medication
        meta = ent._.target_rule.metadata or {}
        reaches = []
        for modifier in ent._.modifiers:
            m_start, m_end = modifier.modifier_span
            if m_end <= ent.start:
                distance = ent.start - m_end
            elif m_start >= ent.end:
                distance = m_start - ent.end
            else:
                distance = 0
            c_start, c_end = char_span(m_start, m_end)
            reaches.append(
                Reach(category=modifier.category, start=c_start, end=c_end, distance=distance)
            )
        mentions.append(
            Mention(
                label=ent.label_,
                name=meta.get("name") or ent.text.lower(),
                category=meta.get("category"),
                start=ent.start_char,
                end=ent.end_char,
                sentence=sentence_of_token.get(ent.start, 0),
                section=section_at(ent.start_char),
                negated=ent._.is_negated,
                historical=ent._.is_historical,
                hypothetical=ent._.is_hypothetical,
                uncertain=ent._.is_uncertain,
                family=ent._.is_family,
                modifiers=sorted(reaches, key=lambda r: (r.distance, r.start, r.category)),
            )
        )
    graph = doc._.context_graph
    cues = []
    for modifier in graph.modifiers if graph is not None else []:
        m_start, m_end = modifier.modifier_span
        c_start, c_end = char_span(m_start, m_end)
        cues.append(
            Cue(
                category=modifier.category,
                start=c_start,
                end=c_end,
                sentence=sentence_of_token.get(m_start, 0),
                direction=modifier.direction,
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
        cues=sorted(cues, key=lambda c: (c.start, c.end, c.category)),
    )


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
