"""Progress for batch runs: a rich bar on a terminal (cases/s, ETA-free count, errors so far),
plain periodic log lines otherwise, and a summary table at the end. Never prints note text."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class BatchProgress:
    def __init__(self, every: float = 10.0):
        self.every = every
        self.tty = sys.stderr.isatty()
        self._last = 0.0
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self.done = 0  # cases written so far (for the line printed when a run is interrupted)

    def __enter__(self) -> BatchProgress:
        if self.tty:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]reviewing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TextColumn("errors {task.fields[errors]}"),
                TimeElapsedColumn(),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("cases", total=None, rate="", errors=0)
        return self

    def update(self, stats, record) -> None:
        self.done = stats.done
        rate = f"{stats.done / stats.elapsed:.1f} cases/s" if stats.elapsed else ""
        if self._bar is not None and self._task is not None:  # set together in __enter__
            self._bar.update(self._task, completed=stats.done, rate=rate, errors=stats.errors)
        elif time.monotonic() - self._last >= self.every:
            self._last = time.monotonic()
            print(
                f"reviewed {stats.done} ({rate}), errors {stats.errors}, skipped {stats.skipped}",
                file=sys.stderr,
                flush=True,
            )

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def print_summary(self, stats, out: Path) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"batch summary: {out}")
        table.add_column("what")
        table.add_column("count", justify="right")
        table.add_row("status", getattr(stats, "status", ""))
        table.add_row("reviewed", str(stats.done))
        for decision, count in sorted(stats.decisions.items()):
            table.add_row(f"  {decision}", str(count))
        table.add_row("errors", str(stats.errors))
        table.add_row("skipped (already done)", str(stats.skipped))
        table.add_row("seconds", f"{stats.elapsed:.1f}")
        Console(stderr=True).print(table)
