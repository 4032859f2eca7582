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
from review.lexicon import (
    LABELS,
    TARGET_KINDS,
    load_context,
    load_lexicon,
    load_vocab,
    token_pattern,
)
from review.schema import Cue, Document, Mention, ParsedDocument, Reach, Section, Sentence

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
    import numpy
    from spacy.attrs import IS_SPACE, SENT_START

    n = len(doc)
    if n < 2:
        return doc
    array = doc.to_array([SENT_START, IS_SPACE])
    starts = array[:, 0].astype("int64")
    space = array[:, 1].astype(bool)
    # a line break is a whitespace token holding "\n" (a token's own trailing whitespace is at
    # most one space); the token after it starts a sentence unless it is whitespace too
    breaks = [i for i in numpy.flatnonzero(space[:-1]).tolist() if "\n" in doc[i].text]
    for i in breaks:
        if not space[i + 1]:
            starts[i + 1] = 1
    # the first non-space token of each line: a list number there keeps its item in one sentence
    firsts = [0] + [i + 1 for i in breaks]
    for j in firsts:
        while j < n - 1 and space[j]:
            j += 1
        if j + 2 < n:
            text = doc[j].text
            if len(text) <= 2 and text.isdigit() and doc[j + 1].text in (".", ")"):
                starts[j + 2] = -1
    doc.from_array([SENT_START], starts.astype("uint64"))
    return doc


@cache
def build_pipeline() -> Language:
    """Build the spaCy/medspaCy pipeline once per process."""
    import spacy
    from loguru import logger
    from medspacy.context import ConText  # noqa: F401 (registers the span extensions' owner)
    from medspacy.target_matcher import TargetRule
    from spacy.language import Language

    logger.disable("PyRuSH")  # PyRuSH logs every token at import-time default level
    if not Language.has_factory("review_line_breaks"):
        Language.component("review_line_breaks", func=_line_break_starts)
    if not Language.has_factory("review_targets"):
        Language.factory(
            "review_targets", func=lambda nlp, name: TargetSpans(nlp, _target_rules(TargetRule))
        )
    if not Language.has_factory("review_context"):
        Language.factory("review_context", func=lambda nlp, name: SentenceContext(nlp))
    if not Language.has_factory("review_sectionizer"):
        Language.factory("review_sectionizer", func=lambda nlp, name: LineSectionizer(nlp))
    from spacy.tokens import Doc

    if not Doc.has_extension("review_sections"):
        Doc.set_extension("review_sections", default=None)
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
    nlp.add_pipe("review_sectionizer")
    nlp.add_pipe("review_context")
    return nlp


def _target_rules(rule_type) -> list:
    """One medspaCy TargetRule per lexicon phrase and token pattern, in lexicon priority order
    (a phrase owned by an earlier lexicon is skipped in a later one)."""
    classes = load_vocab().classes
    rules = []
    seen: set[str] = set()
    for kind in TARGET_KINDS:
        label = LABELS[kind]
        for entry in load_lexicon(kind).entries:
            meta = {"name": entry.name, "category": entry.category}
            for phrase in entry.phrases:
                key = phrase.lower()
                if key in seen:  # an earlier (higher-priority) lexicon owns this phrase
                    continue
                seen.add(key)
                rules.append(rule_type(phrase, label, metadata=meta))
            for i, text in enumerate(entry.token_patterns):
                pattern = token_pattern(text, classes)
                rules.append(rule_type(f"{entry.name}:{i}", label, pattern=pattern, metadata=meta))
    return rules


class RuleMatcher:
    """medspaCy rules (target or ConText rules) matched with spaCy's PhraseMatcher (literal
    phrases) and Matcher (token patterns); overlapping matches keep the longest (medspaCy's
    pruning). Phrases are tokenized with ``make_doc``: medspaCy's own matcher runs the whole
    pipeline once per phrase when it is built, which dominated start-up.

    Token patterns never cross a sentence, so each runs only on the sentences holding a word
    of each of its required tokens' word sets (its anchor). spaCy's Matcher costs patterns x tokens, most of it in Python set predicates;
    anchoring cuts the tokens each pattern sees without changing what it matches."""

    def __init__(self, nlp: Language, rules: list):
        from spacy.matcher import Matcher, PhraseMatcher

        self.phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.rules: dict[str, object] = {}
        groups: dict[tuple[frozenset[str], ...] | None, list[tuple[str, list]]] = {}
        for i, rule in enumerate(rules):
            key = f"{rule.category}_{i}"
            self.rules[key] = rule
            if rule.pattern is None:
                self.phrases.add(key, [nlp.make_doc(rule.literal.lower())])
            else:
                groups.setdefault(_anchor(rule.pattern), []).append((key, rule.pattern))
        self.order = {nlp.vocab.strings.add(key): i for i, key in enumerate(self.rules)}
        # each anchor set as the hashes of its lower-case words (what Doc.to_array(LOWER) holds)
        self.anchored: list[tuple[list[list[int]] | None, object]] = []
        for anchor, patterns in groups.items():
            matcher = Matcher(nlp.vocab)
            for key, pattern in patterns:
                matcher.add(key, [pattern])
            hashes = (
                None
                if anchor is None
                else [[nlp.vocab.strings.add(w) for w in sorted(words)] for words in anchor]
            )
            self.anchored.append((hashes, matcher))

    def __call__(self, doc: Doc) -> list[tuple[object, int, int]]:
        from medspacy.common.util import prune_overlapping_matches

        matches = list(self.phrases(doc))
        if self.anchored:
            matches += self._token_matches(doc)
        matches = prune_overlapping_matches(matches) if matches else []
        strings = doc.vocab.strings
        return [(self.rules[strings[match_id]], start, end) for match_id, start, end in matches]

    def _token_matches(self, doc: Doc) -> list[tuple[int, int, int]]:
        import numpy
        from spacy.attrs import LOWER, SENT_START

        if len(doc) == 0:
            return []
        array = doc.to_array([LOWER, SENT_START])
        is_first = array[:, 1].astype("int64") == 1
        if not doc.has_annotation("SENT_START"):
            is_first = numpy.zeros(len(doc), dtype=bool)
        is_first[0] = True  # the first token always starts the first sentence
        first = numpy.flatnonzero(is_first).tolist()
        bounds = list(zip(first, [*first[1:], len(doc)], strict=True))
        sentence_of = numpy.cumsum(is_first) - 1
        where: dict[int, set[int]] = {}
        for word, k in zip(array[:, 0].tolist(), sentence_of.tolist(), strict=True):
            where.setdefault(word, set()).add(k)
        spans: dict[int, object] = {}
        out = []
        for anchor, matcher in self.anchored:
            if anchor is None:
                hits = range(len(bounds))
            else:
                found = None
                for words in anchor:  # smallest sets first: the intersection empties early
                    these = set().union(*(where.get(w, ()) for w in words))
                    found = these if found is None else found & these
                    if not found:
                        break
                hits = sorted(found or ())
            for k in hits:
                sent = spans.get(k)
                if sent is None:
                    sent = spans[k] = doc[bounds[k][0] : bounds[k][1]]
                out += [(m, sent.start + a, sent.start + b) for m, a, b in matcher(sent)]
        # equal spans: the rule listed first wins (the pruning keeps the first of a tie)
        return sorted(out, key=lambda m: (m[1], m[2], self.order[m[0]]))


def _anchor(pattern: list[dict]) -> tuple[frozenset[str], ...] | None:
    """The word sets the pattern's required tokens must each come from (None: no such token,
    the pattern runs on every sentence). A sentence can hold a match only if it holds a word of
    every set, so the sentences a pattern runs on are the intersection of where each set's words
    occur: "was not significant" runs only where a copula, a negator and an intensifier meet,
    not on every sentence with "was"."""
    sets = []
    for token in pattern:
        if token.get("OP") not in (None, "+"):
            continue
        lower = token.get("LOWER")
        if isinstance(lower, str):
            sets.append(frozenset({lower}))
        elif isinstance(lower, dict) and set(lower) == {"IN"}:
            sets.append(frozenset(lower["IN"]))
    return tuple(sorted(set(sets), key=lambda w: (len(w), sorted(w)))) or None


class TargetSpans:
    """Lexicon targets into ``doc.ents`` in one assignment (medspaCy's TargetMatcher appends
    each match with ``doc.ents += (span,)``, rebuilding every entity each time: quadratic in the
    matches of a document). In match order, a span that overlaps one already kept is skipped."""

    def __init__(self, nlp: Language, rules: list):
        self.matcher = RuleMatcher(nlp, rules)

    def __call__(self, doc: Doc) -> Doc:
        from spacy.tokens import Span

        taken = bytearray(len(doc))
        kept = list(doc.ents)
        for span in kept:
            taken[span.start : span.end] = b"\x01" * len(span)
        for rule, start, end in self.matcher(doc):
            if any(taken[start:end]):
                continue
            taken[start:end] = b"\x01" * (end - start)
            span = Span(doc, start, end, label=rule.category)
            span._.target_rule = rule
            kept.append(span)
        doc.ents = sorted(kept, key=lambda span: span.start)
        return doc


class SentenceContext:
    """medspaCy's ConText algorithm with our modifier rules (``context.yaml``), run sentence by
    sentence: medspaCy builds one graph per document and compares every modifier with every
    other and with every target (quadratic in the length of a note); a modifier's scope never
    leaves its sentence, so one graph per sentence gives the same edges in linear time.

    Targets get medspaCy's flags (``is_negated``, ``is_historical``, ...) for the existence
    categories and ``span._.modifiers`` for every category; the document keeps every cue in
    ``doc._.context_graph``."""

    def __init__(self, nlp: Language):
        from medspacy.context import ConText
        from medspacy.context.context import DEFAULT_ATTRIBUTES

        ConText.register_graph_attributes()
        ConText.register_default_attributes()
        self.attributes = DEFAULT_ATTRIBUTES
        self.matcher = RuleMatcher(nlp, context_rules())

    def __call__(self, doc: Doc) -> Doc:
        from collections import defaultdict

        import numpy
        from medspacy.context.context_graph import ConTextGraph
        from medspacy.context.context_modifier import ConTextModifier
        from spacy.attrs import SENT_START

        sentence = numpy.cumsum(doc.to_array([SENT_START]).astype("int64") == 1) - 1
        groups: dict[int, tuple[list, list]] = defaultdict(lambda: ([], []))
        for target in doc.ents:
            groups[int(sentence[target.start])][0].append(target)
        modifiers = []
        for rule, start, end in self.matcher(doc):
            modifier = ConTextModifier(rule, start, end, doc)
            modifiers.append(modifier)
            groups[int(sentence[start])][1].append(modifier)
        edges = []
        for key in sorted(groups):
            group_targets, group_modifiers = groups[key]
            if not group_targets or not group_modifiers:
                continue
            graph = ConTextGraph(prune_on_modifier_overlap=False)
            graph.targets = group_targets
            graph.modifiers = group_modifiers
            graph.update_scopes()
            graph.apply_modifiers()
            edges.extend(graph.edges)
        for target, modifier in edges:
            target._.modifiers += (modifier,)
            for name, value in self.attributes.get(modifier.category, {}).items():
                setattr(target._, name, value)
        graph = ConTextGraph(prune_on_modifier_overlap=False)
        graph.targets, graph.modifiers, graph.edges = doc.ents, modifiers, edges
        doc._.context_graph = graph
        return doc


def context_rules() -> list:
    """``context.yaml`` as medspaCy ConTextRules: one per phrase and per token pattern."""
    from medspacy.context import ConTextRule

    classes = load_vocab().classes
    rules = []
    for i, entry in enumerate(load_context().entries):
        options = {
            "direction": entry.direction,
            "allowed_types": set(entry.allowed_types) if entry.allowed_types else None,
            "terminated_by": set(entry.terminated_by),
            "max_scope": entry.max_scope,
            "max_targets": entry.max_targets,
        }
        for phrase in entry.phrases:
            rules.append(ConTextRule(phrase, entry.category, **options))
        for j, text in enumerate(entry.token_patterns):
            pattern = token_pattern(text, classes)
            rules.append(
                ConTextRule(f"{entry.category}:{i}:{j}", entry.category, pattern=pattern, **options)
            )
    return rules


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


class LineSectionizer:
    """Section headings at the start of a line, read the way medspaCy's sectionizer reads them
    (``require_start_line``; a rule per heading phrase: "phrase:" case-insensitively, "phrase
    (qualifier):", and the phrase in capitals alone), but only tried where a line starts: one trie
    walk per line instead of ~450 matcher patterns over every token, and no per-token section
    attribute (nothing reads it). Sets ``doc._.review_sections`` to (category, title_start,
    title_end, body_start, body_end) token spans in document order, with a leading category-less
    section when the first heading is not at token 0. Sentences are left as the line rules made
    them (medspaCy's ``apply_sentence_boundary`` is off by default, and was off here)."""

    _LINE_START = re.compile(r"[\n\r][\n\r\s]*(?=\S)")

    def __init__(self, nlp: Language):
        # tries over token texts; "" -> category at a phrase end
        self.colon: dict = {}  # "phrase:", lower case
        self.lower: dict = {}  # "phrase" before "(qualifier):", lower case
        self.upper: dict = {}  # the phrase in capitals, exact
        for entry in load_lexicon("sections").entries:
            for phrase in entry.phrases:
                self._add(self.colon, [t.lower_ for t in nlp.make_doc(f"{phrase}:")], entry.name)
                self._add(self.lower, [t.lower_ for t in nlp.make_doc(phrase)], entry.name)
                if len(phrase) > 1:
                    self._add(
                        self.upper, [t.text for t in nlp.make_doc(phrase.upper())], entry.name
                    )

    @staticmethod
    def _add(trie: dict, tokens: list[str], category: str) -> None:
        node = trie
        for token in tokens:
            node = node.setdefault(token, {})
        node.setdefault("", category)  # the first entry listing a phrase owns it

    def __call__(self, doc: Doc) -> Doc:
        n = len(doc)
        if n == 0:
            doc._.review_sections = []
            return doc
        from spacy.attrs import IDX

        starts = {idx: i for i, idx in enumerate(doc.to_array(IDX).tolist())}
        lines = [0] + [
            starts[m.end()] for m in self._LINE_START.finditer(doc.text) if m.end() in starts
        ]
        matches = []
        last_end = -1
        for i in sorted(set(lines)):
            if i < last_end:
                continue
            found = self._match(doc, i, n)
            if found:
                matches.append(found)
                last_end = found[2]
        sections = []
        if matches and matches[0][1] != 0:
            sections.append((None, 0, 0, 0, matches[0][1]))
        for k, (category, start, end) in enumerate(matches):
            body_end = matches[k + 1][1] if k + 1 < len(matches) else n
            sections.append((category, start, end, end, body_end))
        doc._.review_sections = sections
        return doc

    def _match(self, doc: Doc, i: int, n: int) -> tuple[str, int, int] | None:
        """The longest heading starting at token i: (category, start, end)."""
        best = None
        for category, j in _walk(self.colon, doc, i, n, lower=True):  # "phrase:"
            best = _longer(best, (category, i, j))
        for category, j in _walk(self.lower, doc, i, n, lower=True):  # "phrase (qualifier):"
            end = _qualifier_end(doc, j, n)
            if end:
                best = _longer(best, (category, i, end))
        for category, j in _walk(self.upper, doc, i, n, lower=False):  # "PHRASE", no colon
            best = _longer(best, (category, i, j))
        return best


def _walk(trie: dict, doc: Doc, i: int, n: int, lower: bool):
    """(category, end) for every phrase of the trie that the tokens from i spell."""
    node = trie
    j = i
    while j < n:
        text = doc[j].lower_ if lower else doc[j].text
        if text not in node:
            return
        node = node[text]
        j += 1
        if "" in node:
            yield node[""], j


def _longer(best, candidate):
    return candidate if best is None or candidate[2] > best[2] else best


def _qualifier_end(doc: Doc, j: int, n: int) -> int | None:
    """After a heading phrase ending at token j: "(" 1-5 tokens (not ")" or a bare line break)
    ")" ":" -> the token index after the colon."""
    if j >= n or doc[j].text != "(":
        return None
    k = j + 1
    while k < n and k - j - 1 < 5 and doc[k].text not in (")", "\n"):
        k += 1
    if k - j - 1 >= 1 and k + 1 < n and doc[k].text == ")" and doc[k + 1].text == ":":
        return k + 2
    return None


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
    sections = _with_banners(sections, text)
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


_BANNER = re.compile(
    r"^[ \t]*(?:-{2,}|={2,}|\*{2,}|#{2,}|~{2,}|_{2,})[ \t]*([A-Za-z][A-Za-z /&()'-]{0,60}?)"
    r"[ \t]*:?[ \t]*[-=*#~_]*[ \t]*$",
    re.M,
)


@cache
def _heading_categories() -> dict[str, str]:
    return {
        " ".join(phrase.lower().split()): entry.name
        for entry in load_lexicon("sections").entries
        for phrase in entry.phrases
        if len(phrase) > 1
    }


def _with_banners(sections: list[Section], text: str) -> list[Section]:
    """Banner headings of templated notes ("--- Plan ---", "== ASSESSMENT ==", "*** Exam ***")
    on a line of their own open their section. Found with one regex over the lines rather than
    as sectionizer patterns: a token pattern per heading phrase doubled the sectionizer's time.
    Two or more rule characters, so a "- " bullet is never a heading."""
    if not any(c in text for c in "-=*#~_"):
        return sections
    categories = _heading_categories()
    banners = []
    for match in _BANNER.finditer(text):
        category = categories.get(" ".join(match.group(1).lower().split()))
        if category:
            title = text[match.start() : match.end()].strip()
            start = match.start() + (len(match.group(0)) - len(match.group(0).lstrip()))
            banners.append(Section(category=category, title=title, start=start, end=len(text)))
    if not banners:
        return sections
    merged = sorted([*sections, *banners], key=lambda s: s.start)
    for i, section in enumerate(merged[:-1]):
        section.end = min(section.end, merged[i + 1].start)
    return merged


def _section_finder(sections: list[Section]):
    """offset -> category of the section holding it. Sections come in document order and do not
    overlap, so the candidate is the last one starting at or before the offset (by bisection:
    a long note has thousands of sections)."""
    starts = [section.start for section in sections]

    def section_at(offset: int) -> str | None:
        i = bisect.bisect_right(starts, offset) - 1
        return sections[i].category if i >= 0 and offset < sections[i].end else None

    return section_at
