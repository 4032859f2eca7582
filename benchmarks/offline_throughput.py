"""Throughput of the full offline review vs medspaCy's default pipeline, in one process.

Both run over the same notes (MTSamples JSONL by default):

(a) the full offline review: every note becomes an audit case
    ``{"case_id": id, "documents": [{"id": "note", "text": text}]}`` (built with
    ``case_from_dict``, inside the timed loop) and goes through ``review_case``: parse, extract,
    derive, evaluate the rules, recommend;
(b) ``medspacy.load()`` with its defaults (medspaCy tokenizer, PyRuSH, target matcher with no
    rules, ConText; no QuickUMLS), calling ``nlp(text)`` per note.

Each is built and then warmed up on the first note outside the timed loop; the build and warm-up
times are reported separately. The timed loop covers all N notes, the first one included.

``--breakdown`` adds a second, instrumented pass per pipeline (after the headline figures, so it
cannot disturb them) that times each stage and each spaCy component; its totals run a little
above the headline because of the instrumentation.

    python benchmarks/offline_throughput.py                 # all 2,352 notes, a few minutes
    python benchmarks/offline_throughput.py --limit 200 --breakdown
    python benchmarks/offline_throughput.py --json
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from _common import DEFAULT_NOTES, emit, machine, read_notes, source_digest, word_count

TARGET_RATIO = 4.0


class _Timed:
    """A callable that adds its wall time to ``totals[name]`` (no ``pipe``: spaCy calls it per doc)."""

    def __init__(self, name: str, fn, totals: dict[str, float]):
        self.name, self.fn, self.totals = name, fn, totals

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.totals[self.name] = self.totals.get(self.name, 0.0) + time.perf_counter() - start

    def __getattr__(
        self, attr
    ):  # e.g. get_error_handler; never ``pipe``, which would bypass timing
        if attr == "pipe" or attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(self.fn, attr)


def _instrument_nlp(nlp, totals: dict[str, float], prefix: str) -> Callable[[], None]:
    """Time the tokenizer and every component of ``nlp``; returns a function that undoes it."""
    tokenizer = nlp.tokenizer
    components = list(nlp._components)
    nlp.tokenizer = _Timed(f"{prefix}tokenizer", tokenizer, totals)
    nlp._components[:] = [(n, _Timed(f"{prefix}{n}", p, totals)) for n, p in components]

    def undo():
        nlp.tokenizer = tokenizer
        nlp._components[:] = components

    return undo


def _make_case(case_from_dict, note: dict):
    data = {"case_id": note["id"], "documents": [{"id": "note", "text": note["text"]}]}
    return case_from_dict(data, source=note["id"])


def run_review(notes: list[dict], breakdown: bool) -> dict:
    t0 = time.perf_counter()
    from review.case import case_from_dict
    from review.parse.pipeline import build_pipeline
    from review.pipeline import review_case

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    nlp = build_pipeline()
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    review_case(_make_case(case_from_dict, notes[0]))  # loads policy, CEL programs, ICD index
    warmup_s = time.perf_counter() - t0

    decisions: Counter[str] = Counter()
    t0 = time.perf_counter()
    c0 = time.process_time()
    for note in notes:
        rec = review_case(_make_case(case_from_dict, note))
        decisions[rec.decision] += 1
    seconds = time.perf_counter() - t0
    cpu_s = time.process_time() - c0

    result = {
        "import_s": import_s,
        "build_s": build_s,
        "warmup_first_note_s": warmup_s,
        "seconds": seconds,
        "cpu_s": cpu_s,
        "decisions": dict(sorted(decisions.items())),
        "pipe_names": list(nlp.pipe_names),
    }
    if breakdown:
        result["breakdown_s"] = _review_breakdown(notes, nlp)
    return result


def _review_breakdown(notes: list[dict], nlp) -> dict[str, float]:
    import review.case
    import review.extract.offline
    import review.parse.documents
    import review.pipeline

    totals: dict[str, float] = {}
    patches = [
        (review.case, "case_from_dict", "case: case_from_dict"),
        (review.parse.documents, "join_wrapped_lines", "parse: join_wrapped_lines"),
        (review.parse.documents, "_to_parsed", "parse: to plain data (_to_parsed)"),
        (review.extract.offline, "extract_facts", "extract: extract_facts"),
        (review.pipeline, "drop_ungrounded", "drop_ungrounded"),
        (review.pipeline, "derive", "derive"),
        (review.pipeline, "evaluate", "evaluate (CEL rules)"),
        (review.pipeline, "recommend", "recommend"),
        (review.pipeline, "load_policy", "load_policy (cached)"),
    ]
    saved = [(mod, attr, getattr(mod, attr)) for mod, attr, _ in patches]
    for mod, attr, label in patches:
        setattr(mod, attr, _Timed(label, getattr(mod, attr), totals))
    undo = _instrument_nlp(nlp, totals, "parse: spaCy ")
    try:
        t0 = time.perf_counter()
        for note in notes:
            review.pipeline.review_case(_make_case(review.case.case_from_dict, note))
        totals["TOTAL (instrumented pass)"] = time.perf_counter() - t0
    finally:
        undo()
        for mod, attr, fn in saved:
            setattr(mod, attr, fn)
    known = sum(v for k, v in totals.items() if not k.startswith("TOTAL"))
    totals["other (review_case glue, provenance, pydantic)"] = (
        totals["TOTAL (instrumented pass)"] - known
    )
    return totals


def run_medspacy(notes: list[dict], breakdown: bool) -> dict:
    t0 = time.perf_counter()
    import medspacy

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    nlp = medspacy.load()
    build_s = time.perf_counter() - t0
    if "medspacy_quickumls" in nlp.pipe_names:
        sys.exit("error: QuickUMLS is enabled in medspacy.load(); this benchmark excludes it")
    t0 = time.perf_counter()
    nlp(notes[0]["text"])
    warmup_s = time.perf_counter() - t0

    sentences = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    for note in notes:
        doc = nlp(note["text"])
        sentences += sum(1 for _ in doc.sents)
    seconds = time.perf_counter() - t0
    cpu_s = time.process_time() - c0

    result = {
        "import_s": import_s,
        "build_s": build_s,
        "warmup_first_note_s": warmup_s,
        "seconds": seconds,
        "cpu_s": cpu_s,
        "sentences": sentences,
        "pipe_names": list(nlp.pipe_names),
        "tokenizer": type(nlp.tokenizer).__module__ + "." + type(nlp.tokenizer).__name__,
    }
    if breakdown:
        totals: dict[str, float] = {}
        undo = _instrument_nlp(nlp, totals, "")
        try:
            t0 = time.perf_counter()
            for note in notes:
                nlp(note["text"])
            totals["TOTAL (instrumented pass)"] = time.perf_counter() - t0
        finally:
            undo()
        result["breakdown_s"] = totals
    return result


def _loadavg() -> str | None:
    """The 1/5/15-minute load averages: other work on the machine skews wall-clock figures."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=Path, default=DEFAULT_NOTES, help="JSONL with id and text")
    parser.add_argument("--limit", type=int, default=None, help="first N notes (default: all)")
    parser.add_argument(
        "--order",
        choices=("review-first", "medspacy-first"),
        default="review-first",
        help="which pipeline is built and timed first (default: review-first)",
    )
    parser.add_argument("--breakdown", action="store_true", help="add per-stage timings")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--save", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    code_at_start = source_digest()

    t0 = time.perf_counter()
    import spacy  # noqa: F401  (both pipelines pay this; measured once, outside either build)
    from loguru import logger

    logger.disable("PyRuSH")  # PyRuSH logs through loguru at DEBUG by default
    spacy_import_s = time.perf_counter() - t0
    loadavg_at_start = _loadavg()

    notes = read_notes(args.notes, args.limit)
    words = sum(word_count(n["text"]) for n in notes)
    chars = sum(len(n["text"]) for n in notes)

    runs = {}
    order = ["review", "medspacy"] if args.order == "review-first" else ["medspacy", "review"]
    for name in order:
        fn = run_review if name == "review" else run_medspacy
        runs[name] = fn(notes, args.breakdown)
        if not args.json:
            print(f"[{name}] done in {runs[name]['seconds']:.1f} s", file=sys.stderr)
    for r in runs.values():
        r["notes_per_s"] = len(notes) / r["seconds"]
        r["words_per_s"] = words / r["seconds"]
        r["ms_per_note"] = 1000 * r["seconds"] / len(notes)
    ratio = runs["review"]["notes_per_s"] / runs["medspacy"]["notes_per_s"]
    cpu_ratio = runs["medspacy"]["cpu_s"] / runs["review"]["cpu_s"]

    figures = {
        "benchmark": "offline_throughput",
        "machine": machine(),
        "code_at_start": code_at_start,
        "notes_file": str(args.notes),
        "notes": len(notes),
        "words": words,
        "chars": chars,
        "order": args.order,
        "loadavg_at_start": loadavg_at_start,
        "spacy_import_s": spacy_import_s,
        "full_review": runs["review"],
        "medspacy_default": runs["medspacy"],
        "ratio_review_over_medspacy": ratio,
        "ratio_by_cpu_time": cpu_ratio,
        "loadavg_at_end": _loadavg(),
        "target_ratio": TARGET_RATIO,
        "target_met": ratio >= TARGET_RATIO,
    }
    if emit(figures, code_at_start, args):
        return 0
    _print_table(figures)
    return 0


def _print_table(f: dict) -> None:
    m = f["machine"]
    print(
        f"{m['date_utc']}  {m['nproc']} cpu  {m['cpu']}  {m['ram_gib']} GiB  Python {m['python']}"
    )
    c = m["code"]
    print(
        f"code: review/+rules/ sha256 {c['review_and_rules_sha256']} "
        f"(newest file {c['newest_file_utc']})"
    )
    print(f"{f['notes']} notes, {f['words']:,} words, {f['chars']:,} chars from {f['notes_file']}")
    print(f"import spacy + loguru: {f['spacy_import_s']:.2f} s")
    print()
    print(f"{'':<22}{'import s':>9}{'build s':>9}{'1st note s':>11}{'run s':>8}"
          f"{'notes/s':>9}{'words/s':>10}{'ms/note':>9}")  # fmt: skip
    for label, key in (("full offline review", "full_review"), ("medspaCy default", "medspacy_default")):  # fmt: skip
        r = f[key]
        print(
            f"{label:<22}{r['import_s']:>9.2f}{r['build_s']:>9.2f}{r['warmup_first_note_s']:>11.2f}"
            f"{r['seconds']:>8.1f}{r['notes_per_s']:>9.1f}{r['words_per_s']:>10,.0f}"
            f"{r['ms_per_note']:>9.1f}"
        )
    verdict = "met" if f["target_met"] else "MISSED"
    print()
    print(
        f"ratio full review / medspaCy default: {f['ratio_review_over_medspacy']:.2f}x "
        f"(target >= {f['target_ratio']:.0f}x: {verdict})"
    )
    print(
        f"ratio by CPU time (process_time): {f['ratio_by_cpu_time']:.2f}x; "
        f"load average at start {f['loadavg_at_start']}, at end {f['loadavg_at_end']}"
    )
    print(f"review decisions: {f['full_review']['decisions']}")
    print(f"medspaCy pipes: {f['medspacy_default']['pipe_names']}, tokenizer "
          f"{f['medspacy_default']['tokenizer']}")  # fmt: skip
    for key in ("full_review", "medspacy_default"):
        bd = f[key].get("breakdown_s")
        if not bd:
            continue
        total = bd["TOTAL (instrumented pass)"]
        print()
        print(f"breakdown, {key} (instrumented pass, ms/note and share):")
        for name, secs in sorted(bd.items(), key=lambda kv: -kv[1]):
            if name.startswith("TOTAL"):
                continue
            print(f"  {name:<48}{1000 * secs / f['notes']:>8.2f}{100 * secs / total:>7.1f}%")
        print(f"  {'TOTAL (instrumented pass)':<48}{1000 * total / f['notes']:>8.2f}")


if __name__ == "__main__":
    sys.exit(main())
