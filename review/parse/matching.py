"""Rule matching shared by the target and ConText components: medspaCy rules matched with spaCy's
PhraseMatcher and Matcher, token patterns anchored to the sentences that can hold them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.matcher import Matcher
    from spacy.tokens import Doc, Span


class RuleMatcher:
    """medspaCy rules (target or ConText rules) matched with spaCy's PhraseMatcher (literal
    phrases) and Matcher (token patterns); overlapping matches keep the longest (medspaCy's
    pruning). Phrases are tokenized with ``make_doc``: medspaCy's own matcher runs the whole
    pipeline once per phrase when it is built, which dominated start-up.

    Token patterns never cross a sentence, so each runs only on the sentences holding a word
    of each of its required tokens' word sets (its anchor). spaCy's Matcher costs patterns x
    tokens, most of it in Python set predicates; anchoring cuts the tokens each pattern sees
    without changing what it matches."""

    def __init__(self, nlp: Language, rules: list):
        from spacy.matcher import Matcher, PhraseMatcher

        self.phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.rules: dict[str, Any] = {}  # medspaCy's TargetRule or ConTextRule (no types)
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
        self.anchored: list[tuple[list[list[int]] | None, Matcher]] = []
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

    def __call__(self, doc: Doc) -> list[tuple[Any, int, int]]:
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
        spans: dict[int, Span] = {}
        out = []
        for anchor, matcher in self.anchored:
            if anchor is None:
                hits: Sequence[int] = range(len(bounds))
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
