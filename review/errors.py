"""One error tree. Every error a user can cause carries a stable code and says what to do.

The CLI prints ``str(error)`` as one line and exits 2 for input errors; the batch runner turns the
error into a record for that case and goes on. Codes: C0xx case input, R0xx rules and policy
folders, L0xx lexicons and other packaged resources, W0xx the workbench, A0xx its audit trail,
F0xx FHIR input (review/fhir: F001 not a Bundle, F002 no Claim, F003 not valid FHIR R4, F004 an
unknown code system, F005 a claim item that does not fit, F006 a request body too big, F007 no
such ClaimResponse).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ReviewError(Exception):
    """Base of every error the product raises on purpose."""

    exit_code = 2

    def __init__(
        self, code: str, message: str, *, source: str | None = None, field: str | None = None
    ):
        self.code = code
        self.message = message
        self.source = source
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.source, self.field) if part)
        prefix = f"[{self.code}] {where}: " if where else f"[{self.code}] "
        return prefix + self.message


class CaseError(ReviewError):
    """The case input cannot be read or does not follow the case contract."""


class RulesError(ReviewError):
    """A policy folder (rules, settings, code lists) is invalid."""


class ResourceError(ReviewError):
    """A packaged resource (lexicon, prompt) is missing or invalid."""


def did_you_mean(name: str, candidates: Iterable[str], otherwise: str = "") -> str:
    """ "; did you mean 'x'?" for the closest candidate, else ``otherwise``."""
    hint = difflib.get_close_matches(name, list(candidates), n=1)
    return f"; did you mean {hint[0]!r}?" if hint else otherwise
