"""Decision clocks: how long the plan has to decide a case, and how much of it is left.

A case's clock starts at its ``received_at`` and runs for its urgency's limit: by default 72 hours
expedited and 7 days standard, overridden per line of business by ``review serve --clocks FILE``::

    default:            # optional: the limits for every line of business not named below
      expedited: 72h
      standard: 7d
    lines_of_business:  # matched case-insensitively against the case's line_of_business
      medicaid:
        standard: 14d   # a limit left out falls back to default
      commercial:
        expedited: 36h

A duration is a whole number of hours or days (``72h``, ``7d``, ``36h``). A case without a received
time gets no clock: it is shown as needing attention, never given a guessed start. A reviewed
case's clock stops at its review. Clocks are workbench-only: they never enter a recommendation.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from review.errors import ReviewError, did_you_mean

DURATION = re.compile(r"^\s*(\d{1,5})\s*([hd])\s*$")
DEFAULT_LIMITS = {"expedited": dt.timedelta(hours=72), "standard": dt.timedelta(days=7)}

LIMIT_KEYS = tuple(DEFAULT_LIMITS)
ClockState = Literal["overdue", "running", "no_received_time", "decided"]


def parse_duration(value: object) -> dt.timedelta:
    """``"72h"`` -> 72 hours, ``"7d"`` -> 7 days; anything else is a ValueError saying how."""
    m = DURATION.match(value) if isinstance(value, str) else None
    if m is None or int(m.group(1)) == 0:
        raise ValueError(
            f"{value!r} is not a duration; write a whole number of hours or days above zero, "
            "e.g. 72h or 7d"
        )
    n = int(m.group(1))
    return dt.timedelta(hours=n) if m.group(2) == "h" else dt.timedelta(days=n)


def format_duration(span: dt.timedelta) -> str:
    """``2 d 5 h``, ``5 h``, ``40 min``: rounded down, so time left is never overstated."""
    minutes = int(span.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h"
    return f"{minutes} min"


def format_limit(limit: dt.timedelta) -> str:
    """A limit as it is written in the ``--clocks`` file: ``7 d``, ``36 h``."""
    hours = int(limit.total_seconds() // 3600)
    return f"{hours // 24} d" if hours % 24 == 0 else f"{hours} h"


class Limits(BaseModel):
    """The two limits of one line of business; a limit left out falls back to the default's."""

    model_config = ConfigDict(extra="forbid")

    expedited: dt.timedelta | None = None
    standard: dt.timedelta | None = None

    @field_validator("expedited", "standard", mode="before")
    @classmethod
    def _duration(cls, value: object) -> dt.timedelta | None:
        return None if value is None else parse_duration(value)


class ClockSettings(BaseModel):
    """The default limits and the per-line-of-business overrides (the ``--clocks`` file)."""

    model_config = ConfigDict(extra="forbid")

    default: Limits = Limits()
    lines_of_business: dict[str, Limits] = {}

    def limit(self, urgency: str, line_of_business: str | None) -> dt.timedelta:
        """How long a case of this urgency and line of business has, received to decided."""
        urgency = urgency if urgency in DEFAULT_LIMITS else "standard"
        wanted = _key(line_of_business) if line_of_business else None
        for name, limits in self.lines_of_business.items():
            if wanted is not None and _key(name) == wanted and getattr(limits, urgency):
                return getattr(limits, urgency)
        return getattr(self.default, urgency) or DEFAULT_LIMITS[urgency]


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def load_clocks(path: str | Path) -> ClockSettings:
    """Read and check a ``--clocks`` file; every problem is one line naming the file [W007]."""
    from review.yamlfile import load_yaml

    path = Path(path)
    fix = "see README, Reviewer workbench, for the format"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else "cannot be read"
        raise ReviewError(
            "W007",
            f"{why}; give a UTF-8 YAML file of decision clock limits",
            source=str(path),
        ) from None
    try:
        data = load_yaml(text)
    except Exception as exc:  # yaml.YAMLError, RecursionError: one line either way
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ReviewError("W007", f"malformed YAML: {first}; {fix}", source=str(path)) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ReviewError(
            "W007",
            f"expected a mapping with default and lines_of_business, got {type(data).__name__}; "
            f"{fix}",
            source=str(path),
        )
    try:
        settings = ClockSettings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"])
        if err["type"] == "extra_forbidden":
            known = ["default", "lines_of_business"] if len(err["loc"]) == 1 else list(LIMIT_KEYS)
            hint = did_you_mean(str(err["loc"][-1]), known)
            message = f"unknown key (the keys here are {', '.join(known)}){hint}"
        elif err["type"] == "value_error":  # a bad duration: the message says how to write one
            message = err["msg"].removeprefix("Value error, ")
        else:
            message = f"{err['msg']}; {fix}"
        raise ReviewError("W007", message, source=str(path), field=where) from None
    seen: dict[str, str] = {}
    for name in settings.lines_of_business:
        if _key(name) in seen:
            raise ReviewError(
                "W007",
                f"{seen[_key(name)]!r} and {name!r} name the same line of business; keep one",
                source=str(path),
                field="lines_of_business",
            )
        seen[_key(name)] = name
    return settings


def utc_now() -> dt.datetime:
    """The workbench's clock in production (tests give the state a fixed ``now``)."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Clock:
    """One case's decision clock at one moment."""

    state: ClockState
    received_at: dt.datetime | None = None
    due: dt.datetime | None = None
    left: dt.timedelta | None = None  # due - now (negative once overdue); None without a clock
    urgency: str = "standard"
    limit: dt.timedelta | None = None
    decided_at: dt.datetime | None = None

    @property
    def label(self) -> str:
        """What the queue shows: ``2 d 5 h left``, ``overdue by 3 h``, ``no received time``."""
        if self.state == "decided":
            return "decided: clock stopped"
        if self.state == "no_received_time":
            return "no received time"
        assert self.left is not None
        if self.state == "overdue":
            return f"overdue by {format_duration(-self.left)}"
        return f"{format_duration(self.left)} left"

    @property
    def detail(self) -> str:
        """The deadline in words (UTC), for the case page and the queue's second line."""
        if self.due is None:
            if self.state == "no_received_time":
                return "no deadline can be set: check when it arrived"
            return ""
        limit = format_limit(self.limit) if self.limit else "?"
        due = f"{self.urgency}, {limit} from receipt: due {_utc(self.due)}"
        if self.state == "decided" and self.decided_at is not None:
            gap = self.due - self.decided_at
            when = (
                f"{format_duration(gap)} before the deadline"
                if gap >= dt.timedelta(0)
                else f"{format_duration(-gap)} after the deadline"
            )
            return f"{due}; reviewed {when}"
        return due

    @property
    def sort_key(self) -> tuple:
        """Overdue first (most overdue first), then least time left, then cases with no received
        time, then decided cases."""
        tier = ("overdue", "running", "no_received_time", "decided").index(self.state)
        return (tier, self.left if tier < 2 else dt.timedelta(0))


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def clock_for(
    *,
    received_at: dt.datetime | None,
    urgency: str,
    line_of_business: str | None,
    settings: ClockSettings,
    now: dt.datetime,
    decided_at: dt.datetime | None = None,
    decided: bool = False,
) -> Clock:
    """The clock of one case at ``now``; ``decided``: a reviewer has accepted or overridden it."""
    limit = settings.limit(urgency, line_of_business)
    if received_at is None:
        if decided:
            return Clock("decided", urgency=urgency, decided_at=decided_at)
        return Clock("no_received_time", urgency=urgency)
    due = received_at + limit
    left = due - now
    if decided:
        state: ClockState = "decided"
    else:
        state = "overdue" if left < dt.timedelta(0) else "running"
    return Clock(
        state,
        received_at=received_at,
        due=due,
        left=left,
        urgency=urgency,
        limit=limit,
        decided_at=decided_at,
    )


def parse_audit_time(at: str | None) -> dt.datetime | None:
    """An audit row's ``at`` (``2026-03-14T09:30:00Z``) as an aware datetime, else None."""
    if not at:
        return None
    try:
        moment = dt.datetime.fromisoformat(at)
    except ValueError:
        return None
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=dt.UTC)
