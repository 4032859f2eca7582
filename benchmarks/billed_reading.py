"""What the offline extractor's second reading costs (issue #12: extraction never sees the claim).

The offline extractor reads today's procedure twice: strictly (trigger point wording) and as if a
trigger point injection were billed (an injection into muscle on the date of service counts), and
builds the facts a second time only when the two readings differ; the pipeline picks one by the
claim's codes. This times, on already parsed notes and in one process, the extraction with one
reading (what the code did before) against both, alternating the two so load on the machine
affects them alike. Parsing, derive and the rules are not timed: they are the same either way.

    python benchmarks/billed_reading.py --limit 600 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import time

from _common import DEFAULT_NOTES, machine, read_notes

from review.case import case_from_dict
from review.extract.offline import _facts, extract_facts
from review.extract.offline.reading import read_case
from review.extract.offline.status import read_procedure
from review.parse.documents import parse_documents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", default=str(DEFAULT_NOTES))
    parser.add_argument("--limit", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from pathlib import Path

    notes = read_notes(Path(args.notes), args.limit)
    parsed = [
        parse_documents(
            case_from_dict(
                {"case_id": n["id"], "documents": [{"id": "note", "text": n["text"]}]}, source="b"
            ).documents
        )
        for n in notes
    ]

    def one(docs):
        sents = read_case(docs, None)
        return _facts(sents, read_procedure(sents, None, tpi_billed=False))

    times: dict[str, list[float]] = {"one reading": [], "both readings": []}
    differ = 0
    for _ in range(args.rounds):
        started = time.process_time()
        for docs in parsed:
            one(docs)
        times["one reading"].append(time.process_time() - started)
        started, differ = time.process_time(), 0
        for docs in parsed:
            differ += extract_facts(docs, None)[1] is not None
        times["both readings"].append(time.process_time() - started)
    best = {name: min(values) for name, values in times.items()}
    result = {
        "benchmark": "billed_reading",
        "machine": machine(),
        "notes": len(parsed),
        "rounds": args.rounds,
        "cpu_s_best": best,
        "ms_per_note": {name: 1000 * s / len(parsed) for name, s in best.items()},
        "notes_where_the_billed_reading_differs": differ,
    }
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return
    for name, seconds in best.items():
        print(f"{name:14} {seconds:6.2f} s CPU  {1000 * seconds / len(parsed):.2f} ms/note")
    print(f"billed reading differs on {differ} of {len(parsed)} notes")


if __name__ == "__main__":
    main()
