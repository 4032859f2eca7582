"""The audit hash chain, independent of any database: canonical row bytes -> hash, rows -> first break.

Each audit row carries ``prev_hash`` (the ``row_hash`` of the row before it, or :data:`GENESIS`
for the first row) and ``row_hash`` = sha256 of :func:`canonical_bytes`: the row as sorted-key JSON
(UTF-8, no spaces) of every column except ``row_hash`` itself, ``prev_hash`` and ``id`` included.
Changing, removing, inserting or reordering a row therefore breaks the chain at that row or the
one after it. A row that would not serialise as JSON (say a column turned into a BLOB) is a break.

What it cannot do: whoever can write the rows and recompute every hash from the altered row on
can forge a consistent chain. Only a head hash kept somewhere else (:func:`verify`'s
``expect_head``) catches that, and only up to the anchored row.

Pure functions over mappings, no I/O: the same chain verifies on SQLite and PostgreSQL (the store
hands it each row as a dict of every column).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
"""``prev_hash`` of the first row."""

HASH_COLUMNS = ("prev_hash", "row_hash")


def canonical_bytes(row: Mapping[str, Any]) -> bytes:
    """Sorted-key JSON of every column except ``row_hash`` (raises TypeError on a non-JSON value)."""
    body = {k: v for k, v in row.items() if k != "row_hash"}
    return json.dumps(
        body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def row_hash(row: Mapping[str, Any]) -> str:
    """sha256 (hex) of :func:`canonical_bytes`."""
    return hashlib.sha256(canonical_bytes(row)).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first row where the chain does not hold, and what is wrong with it."""

    row_id: Any
    case_id: str | None
    problem: str
    anchor: bool = False
    """True when the rows chain correctly but the anchored head is not where it was."""


@dataclass(frozen=True)
class Verification:
    """``rows`` read; ``head`` the last good row_hash; ``broken`` the first break, if any."""

    rows: int
    head: str
    broken: Break | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify(
    rows: Iterable[Mapping[str, Any]],
    *,
    expect_head: str | None = None,
    expect_rows: int | None = None,
) -> Verification:
    """Walk ``rows`` (in id order) and return the first break.

    ``expect_head``: a row_hash recorded earlier (an anchor). Because each hash covers the row's id
    and the hash before it, the anchor pins the whole prefix up to it: the chain must contain a row
    with that hash (at position ``expect_rows`` when given), else the result is broken.
    """
    prev = GENESIS
    count = 0
    anchor_at: int | None = None
    problem: str | None
    for row in rows:
        count += 1
        rid, case = row.get("id"), _case(row)
        try:
            computed = row_hash(row)
        except (TypeError, ValueError):
            return Verification(
                count - 1,
                prev,
                Break(
                    rid,
                    case,
                    "a column holds a value that is not text or a number; the row was altered",
                ),
            )
        if row.get("row_hash") != computed:
            return Verification(
                count - 1,
                prev,
                Break(
                    rid,
                    case,
                    "row_hash does not match its contents; the trail was altered after it was written",
                ),
            )
        if row.get("prev_hash") != prev:
            problem = (
                "prev_hash is not the genesis value; rows before it were removed"
                if count == 1
                else "prev_hash does not match the row before it; a row was removed, inserted or "
                "moved before it"
            )
            return Verification(count - 1, prev, Break(rid, case, problem))
        prev = computed
        if expect_head is not None and computed == expect_head:
            anchor_at = count
    if expect_head is not None:
        if anchor_at is None:
            problem = (
                f"none of its {count} rows has the anchored head {expect_head}; rows up to the "
                "anchor were altered or removed, or the chain was recomputed"
            )
        elif expect_rows is not None and anchor_at != expect_rows:
            problem = (
                f"the anchored head {expect_head} is row {anchor_at} of the chain, not row "
                f"{expect_rows} as anchored"
            )
        else:
            problem = None
        if problem is not None:
            return Verification(count, prev, Break(None, None, problem, anchor=True))
    return Verification(count, prev)


def _case(row: Mapping[str, Any]) -> str | None:
    value = row.get("case_id")
    return value if isinstance(value, str) else None
