"""One batch run: read the input, skip what ``--resume`` finds done, review the rest on an engine,
append each record to ``results.jsonl``, and say in the manifest how the run ended."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from review.batch.engines import run_engine
from review.batch.inputs import WorkItem, input_identity, input_key, input_not_found, iter_inputs
from review.batch.lock import BatchInterrupted, folder_lock, prepare_out, sigterm_interrupts
from review.batch.manifest import build_manifest, check_resume, write_manifest
from review.batch.options import BatchOptions, review_config
from review.batch.results import RESULTS, ResultsWriter, finished_ids
from review.errors import ReviewError


@dataclass
class RunStats:
    """A run's counts so far, as the progress callback and the manifest see them."""

    done: int = 0
    errors: int = 0
    skipped: int = 0
    decisions: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.time)
    status: str = "running"  # then finished | limited | interrupted | failed (as the manifest)

    @property
    def elapsed(self) -> float:
        return time.time() - self.started


def run_batch(
    input_path: Path,
    out: Path,
    options: BatchOptions,
    progress: Callable[[RunStats, dict[str, Any]], None] | None = None,
) -> RunStats:
    """Review every case of the input into ``out``; returns the counts.

    Raises (after recording how the run ended in the manifest, where one could be written):
    ReviewError for bad input or output, KeyboardInterrupt (also for SIGTERM) when interrupted."""
    if not input_path.exists():  # before --out is created
        raise input_not_found(input_path)
    prepare_out(out)
    with folder_lock(out), sigterm_interrupts():
        return _run_locked(input_path, out, options, progress)


@dataclass
class _InputState:
    yielded: int = 0
    exhausted: bool = False  # read to its end
    limited: bool = False  # stopped by --limit
    error: ReviewError | None = None  # the input could not be read on (B011)


def _run_locked(input_path: Path, out: Path, options: BatchOptions, progress) -> RunStats:
    from review.policy.load import load_policy, resolve_policy

    results = out / RESULTS
    has_results = results.exists() and results.stat().st_size > 0
    if has_results and not options.resume:
        raise ReviewError(
            "B002",
            "results.jsonl already exists; pass --resume to continue it, or choose a new --out",
            source=str(results),
        )
    identity = input_identity(input_path)
    # the operator's --policy (a registry id or a folder); cases name registry ids only
    policy = resolve_policy(options.policy) if options.policy else load_policy()
    config = review_config(options)
    if options.concurrency is None:  # LLM requests in flight: the endpoint's setting decides
        concurrency = config.llm.max_concurrency if config.llm is not None else 1
        options = options.model_copy(update={"concurrency": concurrency})
    manifest = build_manifest(input_path, identity, options, policy, config)
    if options.resume and has_results:
        manifest["forced_resumes"] = check_resume(out, manifest, input_path, options)
    done = finished_ids(results) if options.resume else set()
    stats = RunStats()
    state = _InputState()

    def pending() -> Iterator[WorkItem]:
        seen: set[str] = set()
        try:
            for item in iter_inputs(input_path):
                key = input_key(item)
                if key in done:
                    stats.skipped += 1
                    continue
                if key in seen:
                    item = WorkItem(
                        item.source,
                        error=f"duplicate case id {key!r} in the input; ids must be unique",
                        error_code="B003",
                    )
                seen.add(key)
                if options.limit is not None and state.yielded >= options.limit:
                    state.limited = True
                    return
                state.yielded += 1
                yield item
        except ReviewError as exc:  # stop reading; the cases in flight still get their records
            state.error = exc
            return
        state.exhausted = True

    reason = None
    failure: BaseException | None = None
    records: Iterator[dict[str, Any]] | None = None
    writer = None
    try:
        write_manifest(out, {**manifest, "status": "running"})
        writer = ResultsWriter(results)
        records = run_engine(pending(), config, options)
        for record in records:
            writer.write(record)
            stats.done += 1
            if record["status"] == "error":
                stats.errors += 1
            else:
                stats.decisions[record["decision"]] += 1
            if progress:
                progress(stats, record)
        if state.error is not None:
            raise state.error
        if state.limited:
            stats.status = "limited"
        elif state.exhausted and stats.done == state.yielded:
            stats.status = "finished"
        else:
            raise ReviewError(
                "B016",
                f"{state.yielded - stats.done} case(s) read from the input have no record; "
                "rerun with --resume",
                source=str(out),
            )
    except KeyboardInterrupt as exc:
        stats.status, failure = "interrupted", exc
        reason = "SIGTERM" if isinstance(exc, BatchInterrupted) else "KeyboardInterrupt (Ctrl-C)"
        raise
    except BaseException as exc:
        stats.status, failure = "failed", exc
        reason = _reason(exc)
        raise
    finally:
        try:
            if records is not None and hasattr(records, "close"):
                records.close()  # stop the workers before the manifest says how the run ended
        finally:
            if writer is not None:
                writer.close()
            _end_manifest(out, manifest, stats, reason, failure)
    return stats


def _end_manifest(out: Path, manifest, stats: RunStats, reason, failure) -> None:
    ended = {
        **manifest,
        "status": stats.status,
        "ended": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "counts": {
            "reviewed": stats.done,
            "errors": stats.errors,
            "skipped_as_done": stats.skipped,
            "decisions": dict(sorted(stats.decisions.items())),
        },
        "timings": {
            "seconds": round(stats.elapsed, 3),
            "cases_per_second": round(stats.done / stats.elapsed, 3) if stats.elapsed else None,
        },
    }
    if reason is not None:
        ended["reason"] = reason
    try:
        write_manifest(out, ended)
    except ReviewError:
        if failure is None:
            raise
        # the run's own error is the one to report; the manifest still says "running"


def _reason(exc: BaseException) -> str:
    """Why a run failed, for the manifest: class and the first line of the message, capped.
    Our own errors never carry note text; a foreign exception's message is cut short."""
    text = str(exc).strip().splitlines()
    line = f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
    return line if len(line) <= 300 else line[:297] + "..."
