"""Batch review of archives: streaming inputs, parallel workers, durable resumable output.

Inputs (read lazily, one item at a time): a folder of case folders, a JSONL of cases, or a JSONL
of notes (``{"id": ..., "text": ...}`` per line: audit mode); ``.gz`` accepted.

Output folder: ``results.jsonl`` gets one line per case, written with a single ``write`` on an
``O_APPEND`` descriptor by the parent process only, so a crash never leaves half a line (a torn
tail from a dying disk is cut on the next ``--resume``); ``manifest.json`` records versions,
hashes, settings, counts and timings (replaced atomically).

Parallelism: offline reviews are CPU-bound and run in worker processes that each build their
own spaCy pipeline once (spaCy's ``n_process`` breaks with medspaCy rules); LLM reviews are
I/O-bound and run in threads with a concurrency limit and a shared rate limiter. ``--engine ray``
runs the same per-case function as Ray tasks.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from review import __version__
from review.errors import CaseError, ReviewError

RESULTS = "results.jsonl"
MANIFEST = "manifest.json"


class BatchOptions(BaseModel):
    extractor: Literal["offline", "llm", "hybrid"] = "offline"
    policy: str | None = None
    prompt: str = "extract_facts/v1"
    workers: int = 1
    concurrency: int = 4
    engine: Literal["local", "ray"] = "local"
    limit: int | None = None
    resume: bool = False
    cache_path: str | None = None  # LLM answer cache (SQLite); None disables it
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    rate_window_seconds: float = 60.0  # the limiter's window (shorter only in tests and benchmarks)
    llm_config: str | None = None


@dataclass(frozen=True)
class WorkItem:
    """What a worker needs for one case: plain data, cheap to pickle."""

    source: str  # "cases.jsonl:12" or a case folder path
    data: dict[str, Any] | None = None  # a JSONL record
    folder: str | None = None
    error: str | None = None  # an input error found while reading (record it, go on)
    error_code: str | None = None


@dataclass
class RunStats:
    done: int = 0
    errors: int = 0
    skipped: int = 0
    decisions: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.time)

    @property
    def elapsed(self) -> float:
        return time.time() - self.started


# --------------------------------------------------------------------------- inputs


def iter_inputs(path: Path) -> Iterator[WorkItem]:
    """Stream work items from a folder of case folders or a (gzipped) JSONL file."""
    if not path.exists():
        raise CaseError(
            "B001",
            "input not found; give a folder of case folders or a .jsonl(.gz) file",
            source=str(path),
        )
    if path.is_dir():
        for sub in sorted(path.iterdir()):
            if sub.is_dir():
                yield WorkItem(source=str(sub), folder=str(sub))
        return
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as raw:
        for lineno, line in enumerate(
            io.BufferedReader(raw) if path.suffix == ".gz" else raw, start=1
        ):
            source = f"{path.name}:{lineno}"
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield WorkItem(
                    source,
                    error=f"line is not UTF-8 (byte {exc.start}); re-export as UTF-8",
                    error_code="C002",
                )
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                yield WorkItem(
                    source,
                    error=f"malformed JSON at column {exc.colno}: {exc.msg}",
                    error_code="C003",
                )
                continue
            if not isinstance(data, dict):
                yield WorkItem(source, error="line is not a JSON object", error_code="C004")
                continue
            yield WorkItem(source, data=data)


def input_key(item: WorkItem) -> str:
    """The id ``--resume`` uses: the folder name, the record's case_id/id, or its line."""
    if item.folder:
        return Path(item.folder).name
    if item.data is not None:
        value = item.data.get("case_id", item.data.get("id"))
        if isinstance(value, str | int) and str(value):
            return str(value)
    return f"line-{item.source.rsplit(':', 1)[-1]}"


# --------------------------------------------------------------------------- one case


def case_from_item(item: WorkItem):
    from review.case import case_from_dict, load_case

    if item.folder:
        return load_case(item.folder)
    data = item.data or {}
    if "documents" not in data:  # a note record: {"id", "text"} -> an audit case
        if not isinstance(data.get("text"), str):
            raise CaseError(
                "C004",
                "note record needs a string 'text' (or a case with 'documents')",
                source=item.source,
            )
        note_id = str(data.get("id", "note"))
        data = {
            "case_id": note_id,
            "documents": [{"id": "note", "kind": data.get("kind", "note"), "text": data["text"]}],
        }
    return case_from_dict(data, source=item.source)


def review_item(item: WorkItem, config) -> dict[str, Any]:
    """The per-case function every engine runs: a record, never an exception."""
    from review.pipeline import review_case

    key = input_key(item)
    if item.error:
        return _error_record(key, item.source, item.error_code or "C000", item.error)
    try:
        case = case_from_item(item)
        rec = review_case(case, config)
    except ReviewError as exc:
        return _error_record(key, item.source, exc.code, str(exc))
    except Exception as exc:  # a bug must not stop an unattended run: record it, go on
        return _error_record(
            key, item.source, "R999", f"internal error: {type(exc).__name__}: {exc}"
        )
    data = rec.model_dump(mode="json")
    return {
        "key": key,
        "case_id": rec.case_id,
        "source": item.source,
        "status": "ok",
        "decision": rec.decision,
        "billed_code": rec.billed_code,
        "supported_code": rec.supported_code,
        "failing_rules": [
            f.rule_id for f in rec.findings if f.status in ("not_met", "insufficient")
        ],
        "recommendation": data,
    }


def _error_record(key: str, source: str, code: str, message: str) -> dict[str, Any]:
    return {
        "key": key,
        "case_id": key,
        "source": source,
        "status": "error",
        "error": {"code": code, "message": message},
    }


# --------------------------------------------------------------------------- output


class ResultsWriter:
    """Append-only JSONL: one ``os.write`` per record on an O_APPEND descriptor."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        view = memoryview(line)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]

    def close(self) -> None:
        os.close(self.fd)


def finished_ids(path: Path) -> set[str]:
    """Input keys already in a results file; a torn last line (no newline) is cut off first."""
    if not path.exists():
        return set()
    _cut_torn_tail(path)
    done = set()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                done.add(json.loads(line)["key"])
            except (ValueError, KeyError):
                continue
    return done


def _cut_torn_tail(path: Path) -> None:
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        step = min(size, 1 << 16)
        pos = size
        while pos > 0:
            start = max(0, pos - step)
            fh.seek(start)
            chunk = fh.read(pos - start)
            idx = chunk.rfind(b"\n")
            if idx != -1:
                fh.truncate(start + idx + 1)
                return
            pos = start
        fh.truncate(0)


def write_manifest(out: Path, data: dict[str, Any]) -> None:
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    tmp.replace(out / MANIFEST)


# --------------------------------------------------------------------------- engines


def run_batch(
    input_path: Path,
    out: Path,
    options: BatchOptions,
    progress: Callable[[RunStats, dict[str, Any]], None] | None = None,
) -> RunStats:
    """Review every case of the input into ``out``; returns the counts."""
    from review.policy.folder import load_policy

    out.mkdir(parents=True, exist_ok=True)
    results = out / RESULTS
    if results.exists() and results.stat().st_size and not options.resume:
        raise ReviewError(
            "B002",
            "results.jsonl already exists; pass --resume to continue it, or choose a new --out",
            source=str(results),
        )
    done = finished_ids(results) if options.resume else set()
    policy = load_policy(options.policy or "hphc-tpi")
    stats = RunStats()
    manifest = _manifest(input_path, options, policy)
    write_manifest(out, {**manifest, "status": "running"})
    config = _review_config(options)

    def pending() -> Iterator[WorkItem]:
        seen: set[str] = set()
        count = 0
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
            if options.limit is not None and count >= options.limit:
                return
            count += 1
            yield item

    writer = ResultsWriter(results)
    try:
        if options.engine == "ray":
            records = _run_ray(pending(), config, options)
        elif options.extractor == "offline" and options.workers > 1:
            records = _run_processes(pending(), config, options.workers)
        elif options.workers > 1:
            records = _run_processes_with_threads(pending(), config, options)
        elif options.extractor != "offline" and options.concurrency > 1:
            records = _run_threads(pending(), config, options.concurrency)
        else:
            records = (review_item(item, config) for item in pending())
        for record in records:
            writer.write(record)
            stats.done += 1
            if record["status"] == "error":
                stats.errors += 1
            else:
                stats.decisions[record["decision"]] += 1
            if progress:
                progress(stats, record)
    finally:
        writer.close()
        write_manifest(
            out,
            {
                **manifest,
                "status": "finished",
                "counts": {
                    "reviewed": stats.done,
                    "errors": stats.errors,
                    "skipped_as_done": stats.skipped,
                    "decisions": dict(sorted(stats.decisions.items())),
                },
                "timings": {
                    "seconds": round(stats.elapsed, 3),
                    "cases_per_second": round(stats.done / stats.elapsed, 3)
                    if stats.elapsed
                    else None,
                },
            },
        )
    return stats


def _review_config(options: BatchOptions):
    from review.pipeline import ReviewConfig

    config = ReviewConfig(policy=options.policy, extractor=options.extractor, prompt=options.prompt)
    if options.extractor != "offline":
        from review.cache import AnswerCache
        from review.extract.llm import LLMSettings
        from review.ratelimit import RateLimiter

        config.llm = LLMSettings.load(options.llm_config)
        config.cache = AnswerCache(options.cache_path) if options.cache_path else None
        if options.requests_per_minute or options.tokens_per_minute:
            config.limiter = RateLimiter(
                options.requests_per_minute,
                options.tokens_per_minute,
                window=options.rate_window_seconds,
            )
    return config


def _manifest(input_path: Path, options: BatchOptions, policy) -> dict[str, Any]:
    from review.lexicon import lexicons_sha256

    return {
        "version": __version__,
        "input": str(input_path),
        "policy": policy.id,
        "rules_sha256": policy.sha256,
        "lexicons_sha256": lexicons_sha256(),
        "options": options.model_dump(exclude={"llm_config"}),
        "settings": policy.settings.model_dump(mode="json"),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _bounded(items: Iterable[WorkItem], submit, window: int):
    """Keep at most ``window`` cases in flight so memory stays flat however big the input."""
    from concurrent.futures import FIRST_COMPLETED, wait

    in_flight = set()
    for item in items:
        in_flight.add(submit(item))
        if len(in_flight) >= window:
            finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
    while in_flight:
        finished, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
        for future in finished:
            yield future.result()


_WORKER_CONFIG = None


def _init_worker(config) -> None:
    """Each worker process builds its own pipeline and loads the policy once."""
    global _WORKER_CONFIG
    from review.parse import build_pipeline
    from review.policy.folder import load_policy

    _WORKER_CONFIG = config
    build_pipeline()
    load_policy(config.policy or "hphc-tpi")


def _worker_review(item: WorkItem) -> dict[str, Any]:
    return review_item(item, _WORKER_CONFIG)


def _run_processes(items: Iterable[WorkItem], config, workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(config,)
    ) as pool:
        yield from _bounded(items, lambda item: pool.submit(_worker_review, item), workers * 8)


def _thread_worker(index: int, config, inbox, outbox, threads: int) -> None:
    """A worker process for LLM cases: up to ``threads`` cases in flight, fed one at a time, each
    result sent back as soon as it is done (no waiting for a chunk's slowest case)."""
    from concurrent.futures import ThreadPoolExecutor

    _init_worker(config)

    def run(item: WorkItem) -> None:
        outbox.put((index, review_item(item, _WORKER_CONFIG)))

    with ThreadPoolExecutor(threads) as pool:
        while (item := inbox.get()) is not None:
            pool.submit(run, item)


def _run_processes_with_threads(items: Iterable[WorkItem], config, options: BatchOptions):
    """LLM cases on several processes, each with its own threads: the per-case CPU work (parse,
    grounding, rules) is spread over cores while the requests wait. The parent keeps at most
    --concurrency cases in flight in total, and splits the rate limit evenly between processes,
    so neither is ever exceeded. A dead worker stops the run (its cases in flight are the only
    ones lost; --resume picks them up)."""
    import multiprocessing
    import queue

    if config.limiter is not None:
        from review.ratelimit import RateLimiter

        limiter = config.limiter
        config = config.model_copy()
        config.limiter = RateLimiter(
            limiter.rpm // options.workers if limiter.rpm else None,
            limiter.tpm // options.workers if limiter.tpm else None,
            window=limiter.window,
        )
    per_process = max(1, options.concurrency // options.workers)
    context = multiprocessing.get_context("spawn")
    outbox = context.Queue()
    inboxes = [context.Queue() for _ in range(options.workers)]
    workers = [
        context.Process(
            target=_thread_worker, args=(i, config, inbox, outbox, per_process), daemon=True
        )
        for i, inbox in enumerate(inboxes)
    ]
    for worker in workers:
        worker.start()
    in_flight = [0] * options.workers
    source = iter(items)
    exhausted = False
    try:
        while True:
            while not exhausted:
                target = min(range(options.workers), key=in_flight.__getitem__)
                if in_flight[target] >= per_process:
                    break
                item = next(source, None)
                if item is None:
                    exhausted = True
                    break
                inboxes[target].put(item)
                in_flight[target] += 1
            if exhausted and not any(in_flight):
                return
            try:
                index, record = outbox.get(timeout=5)
            except queue.Empty:
                dead = [
                    w.pid for w, n in zip(workers, in_flight, strict=True) if n and not w.is_alive()
                ]
                if dead:
                    raise ReviewError(
                        "B007", f"worker process(es) {dead} died; rerun with --resume"
                    ) from None
                continue
            in_flight[index] -= 1
            yield record
    finally:
        for inbox in inboxes:
            inbox.put(None)
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.terminate()


def _run_threads(items: Iterable[WorkItem], config, concurrency: int):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(concurrency) as pool:
        yield from _bounded(
            items, lambda item: pool.submit(review_item, item, config), concurrency * 2
        )


def _run_ray(items: Iterable[WorkItem], config, options: BatchOptions):
    try:
        import ray
    except ImportError:
        raise ReviewError("B004", "the ray engine needs Ray: pip install -e '.[ray]'") from None
    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        ray.init(
            address=address or None,
            num_cpus=None if address else max(options.workers, 1),
            include_dashboard=False,
            log_to_driver=False,
            ignore_reinit_error=True,
        )

    @ray.remote
    def remote_review(item: WorkItem, config) -> dict[str, Any]:
        return review_item(item, config)

    config_ref = ray.put(config)
    window = max(options.workers, options.concurrency, 1) * 4
    pending: list = []
    for item in items:
        pending.append(remote_review.remote(item, config_ref))
        if len(pending) >= window:
            ready, pending = ray.wait(pending, num_returns=1)
            yield from ray.get(ready)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        yield from ray.get(ready)
