"""Template layouts EHRs produce, read as items with a polarity, so a mention inside one is read
with the mark that goes with it:

- checkbox lines: ``[X] Physical therapy  [ ] Chiropractic`` (``[x]``, ``(X)``, ``☒``/``☐``,
  ``☑``): a ticked box +1, an empty one -1, each item reaching to the next box or the line end;
- ``Field: Yes/No`` pairs (``Taut band palpable: Yes``, ``PT tried: No``), one per line or
  several separated by ``|``: the value's polarity, for that field only;
- tables with an "Injected" column (pipe, tab or aligned columns): each row +1 or -1 from its
  injected cell, with the row's side when there is a side column.

Plain text: no model, offsets into the original note.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from review.schema import Side


@dataclass(frozen=True)
class Item:
    start: int
    end: int
    kind: str  # checkbox | field | row
    polarity: int  # +1 ticked / yes / injected, -1 empty / no / not injected
    side: Side | None = None  # a table row's side column


_BOX = re.compile(r"\[\s*[xX✓✔*]\s*\]|\[\s*\]|\(\s*[xX✓✔]\s*\)|\(\s{0,2}\)|[☒☑✅✔]|☐")
_TICKED = re.compile(r"[xX✓✔*☒☑✅]")
_FIELD_VALUE = re.compile(
    r"\s*[:=]\s*"
    r"(?P<value>yes|no|y|n|present|absent|positive|negative|pos|neg|none|not done|done|"
    r"not performed|performed|not tried|tried|denied|\+|-)"
    r"(?=\s*(?:$|[|;,.(]|-\s|\s-|\s+[a-z]))",
    re.I,
)
_LABEL_CHARS = frozenset(string.ascii_letters + string.digits + " /&'(),.-")
_LABEL_MAX = 61
_SENTENCE_STOP = re.compile(r"[.;]\s")
_POSITIVE = {"yes", "y", "present", "positive", "pos", "done", "performed", "tried", "+"}
_SPLIT = re.compile(r"\s*\|\s*|\t+| {2,}")
_INJECTED_HEADER = re.compile(
    r"^(?:inj(?:ected)?\.?|injected\??|done|treated|needled|injection)$", re.I
)
_SIDE_HEADER = re.compile(r"^(?:side|laterality|l/r|r/l)$", re.I)
_YES_CELL = re.compile(r"^(?:y|yes|x|✓|✔|\+|done|injected|1)$", re.I)
_NO_CELL = re.compile(r"^(?:n|no|-|—|–|not injected|none|0|n/a)$", re.I)
_SIDES: dict[str, Side] = {
    "l": "left",
    "left": "left",
    "lt": "left",
    "r": "right",
    "right": "right",
    "rt": "right",
    "b": "bilateral",
    "bil": "bilateral",
    "bilat": "bilateral",
    "bilateral": "bilateral",
    "both": "bilateral",
    "b/l": "bilateral",
}


def layout_items(text: str) -> list[Item]:
    items: list[Item] = []
    lines = _lines(text)
    items.extend(_tables(lines))
    in_rows = [(i.start, i.end) for i in items]
    for start, line in lines:
        if any(a <= start < b for a, b in in_rows):
            continue
        items.extend(_boxes(start, line))
        items.extend(_fields(start, line))
    return sorted(items, key=lambda i: (i.start, i.end))


def _lines(text: str) -> list[tuple[int, str]]:
    out, pos = [], 0
    for line in text.split("\n"):
        out.append((pos, line.rstrip("\r")))
        pos += len(line) + 1
    return out


def _boxes(start: int, line: str) -> list[Item]:
    boxes = list(_BOX.finditer(line))
    out = []
    for i, box in enumerate(boxes):
        end = boxes[i + 1].start() if i + 1 < len(boxes) else len(line)
        polarity = 1 if _TICKED.search(box.group(0)) else -1
        out.append(Item(start + box.start(), start + end, "checkbox", polarity))
    return out


def _fields(start: int, line: str) -> list[Item]:
    out = []
    pos = 0
    for segment in re.split(r"(\|)", line):
        if segment != "|":
            found = list(_field_matches(segment))
            for k, (lo, hi, value) in enumerate(found):
                polarity = 1 if value in _POSITIVE else -1
                end = found[k + 1][0] if k + 1 < len(found) else len(segment)
                stop = _SENTENCE_STOP.search(segment, hi, end)
                if stop:  # "Exam: No tenderness over X. Pressure refers ...": the field ends
                    end = stop.start() + 1  # with its sentence
                out.append(Item(start + pos + lo, start + pos + end, "field", polarity))
        pos += len(segment)
    return out


def _field_matches(segment: str):
    """``Label: value`` pairs, leftmost label first: a label is 2-61 characters of words,
    digits and light punctuation starting with a letter, and never reaches back over a
    sentence end ("... 4/5 on the side. Taut band: absent"). Found from the separator back,
    which is linear in the line (a regex with a lazy label tried every start position)."""
    floor = 0
    for sep in _FIELD_VALUE.finditer(segment):
        s0 = sep.start()
        if s0 < floor:
            continue
        lo = s0
        while (
            lo > floor
            and s0 - lo < _LABEL_MAX
            and segment[lo - 1] in _LABEL_CHARS
            and not (segment[lo - 1] == "." and segment[lo].isspace())
        ):
            lo -= 1
        while lo < s0 and segment[lo] not in string.ascii_letters:
            lo += 1
        if s0 - lo < 2:
            continue
        yield lo, sep.end(), sep.group("value").lower()
        floor = sep.end()


def _tables(lines: list[tuple[int, str]]) -> list[Item]:
    out: list[Item] = []
    i = 0
    while i < len(lines):
        cells = _cells(lines[i][1])
        inj = next((k for k, c in enumerate(cells) if _INJECTED_HEADER.match(c)), None)
        if inj is None or len(cells) < 2:
            i += 1
            continue
        side_col = next((k for k, c in enumerate(cells) if _SIDE_HEADER.match(c)), None)
        i += 1
        while i < len(lines):
            start, line = lines[i]
            if not line.strip():
                break
            if re.fullmatch(r"[\s|:+=-]+", line):  # a "|---|---|" rule
                i += 1
                continue
            row = _cells(line)
            if len(row) < max(inj, side_col or 0) + 1 and len(row) < 2:
                break
            value = row[inj] if inj < len(row) else ""
            polarity = (
                1 if _YES_CELL.match(value) else -1 if _NO_CELL.match(value) or not value else 0
            )
            side = None
            if side_col is not None and side_col < len(row):
                side = _SIDES.get(row[side_col].strip().lower().rstrip("."))
            out.append(Item(start, start + len(line), "row", polarity, side))
            i += 1
    return out


def _cells(line: str) -> list[str]:
    stripped = line.strip().strip("|")
    if "|" not in line and "\t" not in line and "  " not in stripped:
        return []
    return [c.strip() for c in _SPLIT.split(stripped)]
