"""How the cases run in parallel. Offline reviews are CPU-bound and run in worker processes that
each build their own spaCy pipeline once (spaCy's ``n_process`` breaks with medspaCy rules); LLM
reviews are I/O-bound and run in threads with a concurrency limit and a shared rate limiter (on
several processes, each with its own threads, when ``--workers`` > 1). ``--engine ray`` runs the
same per-case function as Ray tasks. Worker processes exit when the parent dies, even by
``kill -9`` (``PR_SET_PDEATHSIG`` on Linux, and a watchdog thread everywhere)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from review.batch.inputs import WorkItem
from review.batch.options import BatchOptions
from review.batch.records import review_item
from review.errors import ReviewError


def run_engine(
    items: Iterator[WorkItem], config, options: BatchOptions
) -> Iterator[dict[str, Any]]:
    """The items' records, in the order they finish, from the engine the options choose."""
    if options.engine == "ray":
        return _run_ray(items, config, options)
    if not options.uses_llm and options.workers > 1:
        return _run_processes(items, config, options.workers)
    if options.workers > 1:
        return _run_processes_with_threads(items, config, options)
    concurrency = options.concurrency or 1  # resolved by the run (None: the endpoint's setting)
    if options.uses_llm and concurrency > 1:
        return _run_threads(items, config, concurrency)
    return (review_item(item, config) for item in items)


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


def _init_worker(config, parent_pid: int | None = None) -> None:
    """Each worker process builds its own pipeline and loads the policy once, and dies with its
    parent. Ctrl-C goes to the whole process group: the parent alone handles it (it stops the
    workers), so a worker ignores SIGINT rather than die mid-case with a traceback."""
    global _WORKER_CONFIG
    from review.extract.runtime import runtime_for
    from review.parse.pipeline import build_pipeline
    from review.policy.load import load_policy, resolve_policy

    if parent_pid is not None:
        _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_CONFIG = config
    build_pipeline()
    resolve_policy(config.policy) if config.policy else load_policy()
    runtime_for(config.runtime_settings)  # this process's answer cache and rate limiter


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _die_with_parent(parent_pid: int) -> None:
    """Make this worker exit when the batch parent dies, even by SIGKILL (which runs no cleanup).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``. It fires when the *thread* that started this
    process exits, not the process: the parent starts every worker from the thread that runs the
    batch (ProcessPoolExecutor spawns in ``submit``; ``Process.start`` in the feeding loop), and
    that thread outlives its workers. Everywhere (and in case the parent died before prctl): a
    daemon thread polls ``os.getppid()`` every 0.5 s and exits when the parent has changed."""
    if os.getppid() != parent_pid:
        os._exit(1)
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # it died between the check and prctl
            os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _worker_review(item: WorkItem) -> dict[str, Any]:
    return review_item(item, _WORKER_CONFIG)


def _run_processes(items: Iterable[WorkItem], config, workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(config, os.getpid())
    )
    try:
        yield from _bounded(items, lambda item: pool.submit(_worker_review, item), workers * 8)
    finally:  # stopped early (Ctrl-C, a full disk): drop the queued cases, finish the running
        pool.shutdown(wait=True, cancel_futures=True)


def _thread_worker(
    index: int, config, inbox, outbox, threads: int, parent_pid: int | None = None
) -> None:
    """A worker process for LLM cases: up to ``threads`` cases in flight, fed one at a time, each
    result sent back as soon as it is done (no waiting for a chunk's slowest case)."""
    from concurrent.futures import ThreadPoolExecutor

    _init_worker(config, parent_pid)

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

    config = config.model_copy(
        update={
            "requests_per_minute": _share(config.requests_per_minute, options.workers),
            "tokens_per_minute": _share(config.tokens_per_minute, options.workers),
        }
    )
    per_process = max(1, (options.concurrency or 1) // options.workers)
    context = multiprocessing.get_context("spawn")
    outbox = context.Queue()
    inboxes = [context.Queue() for _ in range(options.workers)]
    workers = [
        context.Process(
            target=_thread_worker,
            args=(i, config, inbox, outbox, per_process, os.getpid()),
            daemon=True,
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
        # stopped early (Ctrl-C, a full disk) with cases in flight: their records can no longer
        # be written, so do not wait for their requests to finish
        grace = 1 if any(in_flight) else 10
        for inbox in inboxes:
            inbox.put(None)
        for worker in workers:
            worker.join(timeout=grace)
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=5)


def _share(budget: int | None, workers: int) -> int | None:
    """One process's share of a per-minute budget (BatchOptions refuses a share of 0)."""
    return budget // workers if budget else None


def _run_threads(items: Iterable[WorkItem], config, concurrency: int):
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(concurrency)
    try:
        yield from _bounded(
            items, lambda item: pool.submit(review_item, item, config), concurrency * 2
        )
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


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
    window = max(options.workers, options.concurrency or 1, 1) * 4
    pending: list = []
    for item in items:
        pending.append(remote_review.remote(item, config_ref))
        if len(pending) >= window:
            ready, pending = ray.wait(pending, num_returns=1)
            yield from ray.get(ready)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        yield from ray.get(ready)
