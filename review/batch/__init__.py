"""Batch review of archives: streaming inputs, parallel workers, durable resumable output.

One module per job: ``inputs`` (what is read and how items are keyed), ``records`` (one case's
result line), ``results`` (``results.jsonl``), ``manifest`` (``manifest.json`` and the ``--resume``
checks), ``lock`` (one run per output folder, SIGTERM), ``engines`` (processes, threads, Ray),
``options`` and ``run`` (one run from start to end). The names below are the public API.
"""

from review.batch.inputs import WorkItem, iter_inputs
from review.batch.lock import BatchInterrupted
from review.batch.options import BatchOptions
from review.batch.records import review_item
from review.batch.results import finished_ids
from review.batch.run import RunStats, run_batch

__all__ = [
    "BatchInterrupted",
    "BatchOptions",
    "RunStats",
    "WorkItem",
    "finished_ids",
    "iter_inputs",
    "review_item",
    "run_batch",
]
