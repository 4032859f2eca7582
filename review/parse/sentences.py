"""Sentence boundaries: the text-level join of wrapped lines and the spaCy component that starts
a sentence at every line break left.

Paired with spaCy's rule-based ``sentencizer`` (see :mod:`review.parse.pipeline`) rather than
PyRuSH (medspaCy's default): on the 2,352 MTSamples notes PyRuSH split 27x slower end to end and
ran sentences across section headings more often (``benchmarks/sentence_splitting.py``, figures
in benchmarks/README.md).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.tokens import Doc

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


def line_break_starts(doc: Doc) -> Doc:
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
    # spaCy's stub asks for a 2-d array; with one attribute it takes (and documents) a 1-d one
    doc.from_array([SENT_START], starts.astype("uint64"))  # type: ignore[arg-type]
    return doc
