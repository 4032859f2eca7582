"""Lexicon targets: the lexicons' phrases and token patterns as medspaCy target rules, and the two
spaCy components that put them into ``doc.ents`` (rule matches, then regular expressions)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from review.lexicon import LABELS, TARGET_KINDS, load_lexicon, load_vocab, token_pattern
from review.parse.matching import RuleMatcher

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc


def target_rules(rule_type) -> list:
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
