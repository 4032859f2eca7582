"""Section detection: headings at the start of a line (a spaCy component over the tokens),
banner headings of templated notes (a regex over the text), and the offset -> section lookup."""

from __future__ import annotations

import bisect
import re
from functools import cache
from typing import TYPE_CHECKING, Any

from review.lexicon import load_lexicon
from review.schema import Section

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc


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
        self.colon: dict[str, Any] = {}  # "phrase:", lower case
        self.lower: dict[str, Any] = {}  # "phrase" before "(qualifier):", lower case
        self.upper: dict[str, Any] = {}  # the phrase in capitals, exact
        for entry in load_lexicon("sections").entries:
            for phrase in entry.phrases:
                self._add(self.colon, [t.lower_ for t in nlp.make_doc(f"{phrase}:")], entry.name)
                self._add(self.lower, [t.lower_ for t in nlp.make_doc(phrase)], entry.name)
                if len(phrase) > 1:
                    self._add(
                        self.upper, [t.text for t in nlp.make_doc(phrase.upper())], entry.name
                    )

    @staticmethod
    def _add(trie: dict[str, Any], tokens: list[str], category: str | None) -> None:
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
        sections: list[tuple[str | None, int, int, int, int]] = []
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


_BANNER = re.compile(
    r"^[ \t]*(?:-{2,}|={2,}|\*{2,}|#{2,}|~{2,}|_{2,})[ \t]*([A-Za-z][A-Za-z /&()'-]{0,60}?)"
    r"[ \t]*:?[ \t]*[-=*#~_]*[ \t]*$",
    re.M,
)


@cache
def _heading_categories() -> dict[str, str | None]:
    return {
        " ".join(phrase.lower().split()): entry.name
        for entry in load_lexicon("sections").entries
        for phrase in entry.phrases
        if len(phrase) > 1
    }


def with_banners(sections: list[Section], text: str) -> list[Section]:
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


def section_finder(sections: list[Section]):
    """offset -> category of the section holding it. Sections come in document order and do not
    overlap, so the candidate is the last one starting at or before the offset (by bisection:
    a long note has thousands of sections)."""
    starts = [section.start for section in sections]

    def section_at(offset: int) -> str | None:
        i = bisect.bisect_right(starts, offset) - 1
        return sections[i].category if i >= 0 and offset < sections[i].end else None

    return section_at
