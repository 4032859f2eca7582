"""Parse stage: spaCy + medspaCy turn a note into numbered sentences, sections and lexicon mentions
with ConText flags, all as plain data with character offsets into the original text.

The pipeline is built once per process by :func:`build_pipeline` (explicitly, never at import).
Sentence splitting uses spaCy's rule-based sentencizer plus a line-break component for headings
and lists, with dotted dosing abbreviations ("p.o.", "b.i.d.") kept whole: on the 2,352 MTSamples
notes PyRuSH (medspaCy's default) split 27x slower end to end and ran sentences across section
headings more often (``benchmarks/sentence_splitting.py``, figures in benchmarks/README.md).
"""

from __future__ import annotations

import bisect
import re
import threading
from functools import cache
from typing import TYPE_CHECKING

from review.case import MAX_NOTE_CHARS
from review.errors import CaseError
from review.lexicon import LABELS, TARGET_KINDS, load_lexicon
from review.schema import Document, Mention, ParsedDocument, Section, Sentence

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

_PARSE_LOCK = threading.Lock()
"""One parse at a time per process: threads (concurrent LLM calls) share one pipeline, and
parsing is CPU-bound under the GIL anyway; processes each build their own."""

LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|#\d{1,2}|[-*\u2022]|[a-z][.)])\s")
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
            or LIST_ITEM.match(nxt)
            or _HEADING_START.match(nxt)
            or _HEADING_LINE.match(nxt)
        )
        if not keep:
            chars[pos] = " "
        pos += 1
    return "".join(chars)


def _line_break_starts(doc: Doc) -> Doc:
    """Every line break left after :func:`join_wrapped_lines` starts a sentence, and a numbered
    list item ("1. Left upper trapezius") stays one sentence with its number.

    The boundaries are collected in one pass and written with one ``Doc.from_array``: setting
    ``Token.is_sent_start`` token by token rescans the whole document each time (quadratic in
    the number of lines: 100,000 short lines took minutes)."""
    from spacy.attrs import SENT_START

    n = len(doc)
    if n < 2:
        return doc
    starts = doc.to_array([SENT_START]).astype("int64")
    texts = [t.text for t in doc]
    line_start = True
    for i in range(n - 1):
        token = doc[i]
        text = texts[i]
        numbered = len(text) <= 2 and text.isdigit() and texts[i + 1] in (".", ")")
        if line_start and numbered and i + 2 < n:
            starts[i + 2] = -1
        is_space = token.is_space
        breaks = "\n" in token.whitespace_ or (is_space and "\n" in text)
        if breaks and not doc[i + 1].is_space:
            starts[i + 1] = 1
        line_start = breaks or (line_start and is_space)
    doc.from_array([SENT_START], starts.astype("uint64"))
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
    if not Language.has_factory("review_targets"):
        Language.factory(
            "review_targets", func=lambda nlp, name: TargetSpans(nlp, _target_rules(TargetRule))
        )
    if not Language.has_factory("review_context"):
        Language.factory(
            "review_context",
            default_config={"rules": None},
            func=lambda nlp, name, rules: _sentence_context_type()(nlp, name, rules=rules),
        )
    if not Language.has_factory("review_regex_targets"):
        Language.factory("review_regex_targets", func=lambda nlp, name: RegexTargets(TargetRule))

    nlp = spacy.blank("en")
    nlp.max_length = MAX_NOTE_CHARS  # one limit, enforced by the case loader (C008)
    for entry in load_lexicon("abbreviations").entries:
        for abbreviation in entry.phrases:
            for form in {abbreviation, abbreviation.upper()}:
                if " " not in form:
                    nlp.tokenizer.add_special_case(form, [{"ORTH": form}])
    nlp.add_pipe("review_line_breaks")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("review_targets")
    nlp.add_pipe("review_regex_targets")
    sectionizer = nlp.add_pipe(
        "medspacy_sectionizer", config={"rules": None, "require_start_line": True}
    )
    sectionizer.add(_section_rules(SectionRule, nlp))
    context = nlp.add_pipe("review_context", config={"rules": None})
    context.add(_default_context_rules(ConTextRule, context.DEFAULT_RULES_FILEPATH))
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
    return rules


class TargetSpans:
    """medspaCy's TargetMatcher (lexicon phrases as targets) with its matches put into
    ``doc.ents`` in one assignment. medspaCy appends each match with ``doc.ents += (span,)``,
    which rebuilds every entity each time: quadratic in the matches of a document (a
    100,000-character note took a minute). Same result: in match order, a span that overlaps
    one already kept is skipped."""

    def __init__(self, nlp: Language, rules: list):
        from medspacy.target_matcher import TargetMatcher

        self.matcher = TargetMatcher(nlp, "review_targets", result_type=None)
        self.matcher.add(rules)

    def __call__(self, doc: Doc) -> Doc:
        taken = bytearray(len(doc))
        kept = list(doc.ents)
        for span in kept:
            taken[span.start : span.end] = b"\x01" * len(span)
        for span in self.matcher(doc):
            if any(taken[span.start : span.end]):
                continue
            taken[span.start : span.end] = b"\x01" * len(span)
            kept.append(span)
        doc.ents = sorted(kept, key=lambda span: span.start)
        return doc


class RegexTargets:
    """Lexicon ``patterns`` (regular expressions) as targets, merged with the phrase matches.

    medspaCy's own regex matching rebuilds ``doc.text`` once per rule, which dominated parse
    time; this component builds it once per document. Overlaps keep the longest span."""

    def __init__(self, rule_type):
        self.rules = []
        for kind in TARGET_KINDS:
            for entry in load_lexicon(kind).entries:
                for pattern in entry.patterns:
                    meta = {"name": entry.name, "category": entry.category}
                    rule = rule_type(entry.name or kind, LABELS[kind], metadata=meta)
                    self.rules.append((re.compile(pattern), rule))

    def __call__(self, doc: Doc) -> Doc:
        from spacy.util import filter_spans

        text = doc.text
        found = []
        for regex, rule in self.rules:
            for match in regex.finditer(text):
                span = doc.char_span(
                    match.start(), match.end(), label=rule.category, alignment_mode="expand"
                )
                if span is not None and len(span):
                    span._.target_rule = rule
                    found.append(span)
        if found:
            doc.ents = filter_spans([*doc.ents, *found])
        return doc


@cache
def _sentence_context_type():
    """medspaCy's ConText, run sentence by sentence. medspaCy builds one graph per document and
    compares every modifier with every modifier and every target (quadratic in the length of a
    note); a modifier's scope never leaves its sentence, so a graph per sentence gives the same
    edges in linear time."""
    from collections import defaultdict

    import numpy
    from medspacy.context import ConText
    from medspacy.context.context_graph import ConTextGraph
    from medspacy.context.context_modifier import ConTextModifier
    from spacy.attrs import SENT_START

    class SentenceConText(ConText):
        def __call__(self, doc: Doc, targets: str | None = None) -> Doc:
            matcher = self._ConText__matcher  # medspaCy keeps its matcher name-mangled
            sentence = numpy.cumsum(doc.to_array([SENT_START]).astype("int64") == 1) - 1
            groups: dict[int, tuple[list, list]] = defaultdict(lambda: ([], []))
            for target in doc.ents:
                groups[int(sentence[target.start])][0].append(target)
            modifiers = []
            for match_id, start, end in matcher(doc):
                rule = matcher.rule_map[self.nlp.vocab[match_id].text]
                modifier = ConTextModifier(rule, start, end, doc, max_scope=self.max_scope)
                modifiers.append(modifier)
                groups[int(sentence[start])][1].append(modifier)
            edges = []
            for key in sorted(groups):
                group_targets, group_modifiers = groups[key]
                if not group_targets or not group_modifiers:
                    continue
                graph = ConTextGraph(prune_on_modifier_overlap=self.prune_on_target_overlap)
                graph.targets = group_targets
                graph.modifiers = group_modifiers
                graph.update_scopes()
                graph.apply_modifiers()
                edges.extend(graph.edges)
            for target, modifier in edges:
                target._.modifiers += (modifier,)
            if self.context_attributes_mapping:
                self.set_context_attributes(edges)
            graph = ConTextGraph(prune_on_modifier_overlap=self.prune_on_target_overlap)
            graph.targets, graph.modifiers, graph.edges = doc.ents, modifiers, edges
            doc._.context_graph = graph
            return doc

    return SentenceConText


def _section_rules(rule_type, nlp: Language) -> list:
    """A "title:" rule per heading phrase, and a case-sensitive token rule for the same heading
    in capitals without a colon ("PROCEDURE PERFORMED" alone on its line)."""
    rules = []
    for entry in load_lexicon("sections").entries:
        for phrase in entry.phrases:
            rules.append(rule_type(f"{phrase}:", entry.name))
            if len(phrase) > 1:
                tokens = [{"TEXT": t.text} for t in nlp.make_doc(phrase.upper())]
                rules.append(rule_type(phrase.upper(), entry.name, pattern=tokens))
    return rules


def _default_context_rules(rule_type, path: str) -> list:
    """medspaCy's default English ConText rules, with each token pattern expanded into the
    phrases it matches (every pattern there is LOWER / LOWER IN with optional tokens). Phrase
    rules run on spaCy's PhraseMatcher: the token Matcher took a third of parse time."""
    import itertools
    import json

    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)["context_rules"]
    rules = []
    for item in data:
        if item["literal"].startswith(":"):
            continue  # ": no" negates BACKWARD, so "Exam: no taut band" lost the negation it needed
        pattern = item.get("pattern")
        extra = {
            k: item[k] for k in ("direction", "max_scope", "max_targets") if item.get(k) is not None
        }
        if not pattern:
            rules.append(rule_type(item["literal"], item["category"], **extra))
            continue
        choices = []
        for token in pattern:
            lower = token["LOWER"]
            words = list(lower["IN"]) if isinstance(lower, dict) else [lower]
            choices.append([*words, ""] if token.get("OP") == "?" else words)
        phrases = {" ".join(w for w in combo if w) for combo in itertools.product(*choices)}
        rules.extend(
            rule_type(phrase, item["category"], **extra) for phrase in sorted(phrases) if phrase
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
    sections = [
        Section(
            category=s.category or "unknown",
            title=doc[s.title_start : s.title_end].text,
            start=doc[s.section_span[0]].idx if s.section_span[0] < len(doc) else len(text),
            end=len(text) if s.section_span[1] >= len(doc) else doc[s.section_span[1]].idx,
        )
        for s in doc._.sections
        if s.category
    ]
    section_at = _section_finder(sections)
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
    mentions = []
    for ent in doc.ents:
        i = bisect.bisect_right(title_starts, ent.start_char) - 1
        if i >= 0 and ent.start_char < titles[i][1]:
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
                section=section_at(ent.start_char),
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


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _section_finder(sections: list[Section]):
    """offset -> category of the section holding it. Sections come in document order and do not
    overlap, so the candidate is the last one starting at or before the offset (by bisection:
    a long note has thousands of sections)."""
    starts = [section.start for section in sections]

    def section_at(offset: int) -> str | None:
        i = bisect.bisect_right(starts, offset) - 1
        return sections[i].category if i >= 0 and offset < sections[i].end else None

    return section_at
