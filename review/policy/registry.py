"""The policy registry: every policy folder under ``rules_root()`` declares who it applies to.

Each folder's ``settings.yaml`` carries its registry entry: ``policy`` (the id), ``title``,
``version``, ``source``, ``effective_from`` / ``effective_to`` (inclusive) and ``applies_to``
(payers, and optionally their lines of business). ``rules/registry.yaml`` names the default
policy: the one a case gets when it names no policy and no payer (the only place a policy id is
chosen for the user).

A case is reviewed under, in order: the operator's ``--policy`` (an id or a folder); the policy
the case names; the one policy whose entry matches the case's payer, line of business and date of
service. No match, or more than one, is a coded error (R023); two entries that could both match
one case (same payer and line of business, overlapping dates) fail when the registry loads (R024),
as does an entry that ends before it starts (R027) or a default_policy naming no folder (R026).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from review.errors import RulesError, did_you_mean
from review.policy.load import folders_in, load_file, policy_roots
from review.policy.model import SettingsFile
from review.schema import Case, Strict, date_of_service


class RegistryFile(Strict):
    version: str
    default_policy: str | None = None


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    version: str
    source: str | None
    effective_from: dt.date | None
    effective_to: dt.date | None
    applies_to: tuple[tuple[str, tuple[str, ...]], ...]  # (payer, lines of business)

    def in_force(self, day: dt.date | None) -> bool:
        if day is None:
            return self.effective_to is None
        return (self.effective_from is None or self.effective_from <= day) and (
            self.effective_to is None or day <= self.effective_to
        )

    def serves(self, payer: str, line: str | None) -> bool:
        for p, lines in self.applies_to:
            if _key(p) == _key(payer) and (not lines or (line and _key(line) in map(_key, lines))):
                return True
        return False


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def registry(root: Path | None = None) -> tuple[Entry, ...]:
    return registry_in(policy_roots(root))


@cache
def registry_in(roots: tuple[Path, ...]) -> tuple[Entry, ...]:
    folders = folders_in(roots)
    entries = []
    for policy_id, folder in folders.items():
        meta = load_file(folder / "settings.yaml", SettingsFile)
        entries.append(
            Entry(
                id=policy_id,
                title=meta.title,
                version=meta.version,
                source=meta.source,
                effective_from=meta.effective_from,
                effective_to=meta.effective_to,
                applies_to=tuple((a.payer, tuple(a.lines_of_business)) for a in meta.applies_to),
            )
        )
    _check_overlaps(entries, folders)
    return tuple(entries)


def _check_overlaps(entries: list[Entry], folders: dict[str, Path]) -> None:
    for i, a in enumerate(entries):
        if a.effective_from and a.effective_to and a.effective_to < a.effective_from:
            raise RulesError(
                "R027",
                f"policy {a.id!r} ends ({a.effective_to}) before it starts ({a.effective_from})",
                source=str(folders[a.id] / "settings.yaml"),
            )
        for b in entries[i + 1 :]:
            if not _dates_overlap(a, b):
                continue
            for payer, lines in a.applies_to:
                for other_payer, other_lines in b.applies_to:
                    if _key(payer) != _key(other_payer):
                        continue
                    shared = (
                        "all lines of business"
                        if not lines and not other_lines
                        else ", ".join(sorted(set(map(_key, lines)) & set(map(_key, other_lines))))
                        if lines and other_lines
                        else ", ".join(lines or other_lines)
                    )
                    if shared:
                        raise RulesError(
                            "R024",
                            f"policies {a.id!r} and {b.id!r} both apply to payer {payer!r} "
                            f"({shared}) on overlapping dates; give one of them an effective_to "
                            "before the other's effective_from, or narrow applies_to",
                            source=str(folders[b.id].parent),
                        )


def _dates_overlap(a: Entry, b: Entry) -> bool:
    start = max(a.effective_from or dt.date.min, b.effective_from or dt.date.min)
    end = min(a.effective_to or dt.date.max, b.effective_to or dt.date.max)
    return start <= end


def default_policy(root: Path | None = None) -> str:
    return default_policy_in(policy_roots(root))


@cache
def default_policy_in(roots: tuple[Path, ...]) -> str:
    """The registry's default (``registry.yaml`` in the product's folder), else the product's
    only policy (the operator's own policies are never the default by their number)."""
    known = list(folders_in(roots))
    root = roots[0]
    path = root / "registry.yaml"
    if path.is_file():
        default = load_file(path, RegistryFile).default_policy
        if default:
            if default not in known:
                raise RulesError(
                    "R026",
                    f"default_policy {default!r} is not a policy folder here"
                    + did_you_mean(default, known, f"; known: {', '.join(known) or 'none'}"),
                    source=str(path),
                )
            return default
    product = list(folders_in(roots[:1]))
    if len(product) == 1:
        return product[0]
    raise RulesError(
        "R023",
        "no default policy: name one in registry.yaml (default_policy) or give --policy",
        source=str(root),
    )


def select_policy_id(case: Case, root: Path | None = None) -> str:
    """The registry id a case is reviewed under when the operator gave no ``--policy``."""
    if case.policy:
        return case.policy
    if not case.payer:
        return default_policy(root)
    day = date_of_service(case)
    matches = [
        e.id
        for e in registry(root)
        if e.serves(case.payer, case.line_of_business) and e.in_force(day)
    ]
    if len(matches) == 1:
        return matches[0]
    who = f"payer {case.payer!r}" + (
        f", line of business {case.line_of_business!r}" if case.line_of_business else ""
    )
    when = f"date of service {day}" if day else "no date of service"
    if not matches:
        raise RulesError(
            "R023",
            f"no policy in the registry applies to {who} on {when}; name the policy in the case "
            "or give --policy",
            source=case.case_id,
        )
    raise RulesError(
        "R023",
        f"{len(matches)} policies apply to {who} on {when} ({', '.join(matches)}); name the "
        "policy in the case or give --policy",
        source=case.case_id,
    )


def describe(entry: Entry) -> str:
    when = f"{entry.effective_from or '...'} to {entry.effective_to or 'now'}"
    who = "; ".join(
        f"{payer}" + (f" ({', '.join(lines)})" if lines else "")
        for payer, lines in entry.applies_to
    )
    return f"{entry.id} {entry.version}: {entry.title} [{when}; {who or 'no payer listed'}]"
