"""Long notes: parse and full offline review time as a note grows, to show both stay linear.

Inputs are generated (no PHI, reproducible): a log of N short lines ("BP 71/80") and prose made
of a real-looking procedure paragraph repeated up to the loader's limit (1,000,000 characters).
For each size it times ``parse_documents`` and ``review_case`` (one warm process, best of
``--runs``) and prints microseconds per character: flat across sizes means linear.

    python benchmarks/long_notes.py                  # 20k and 100k lines, prose to 1 M chars
    python benchmarks/long_notes.py --json --save benchmarks/results/long_notes.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import emit, machine, source_digest

PARAGRAPH = (
    "PROCEDURE: Trigger point injections. The L upper trapezius was palpated and a taut band "
    "with a twitch response was found. After chlorhexidine prep, 2 mL of 1% lidocaine was "
    "injected. Pt tolerated the procedure well. PT for 8 weeks gave no relief.\n"
)


def lines_note(n: int) -> str:
    return "\n".join(f"BP {i % 97}/80" for i in range(n))


def prose_note(chars: int) -> str:
    return (PARAGRAPH * (chars // len(PARAGRAPH) + 1))[:chars]


def best_of(runs: int, fn) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--no-review", action="store_true", help="time parsing only")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--save", type=Path)
    args = ap.parse_args()
    code_at_start = source_digest()

    from review.case import MAX_NOTE_CHARS, case_from_dict
    from review.parse.documents import parse_documents
    from review.parse.pipeline import build_pipeline
    from review.pipeline import review_case
    from review.schema import Document

    build_pipeline()
    inputs = [
        ("lines", 20_000, lines_note(20_000)),
        ("lines", 100_000, lines_note(100_000)),
        ("prose", 100_000, prose_note(100_000)),
        ("prose", 300_000, prose_note(300_000)),
        ("prose", MAX_NOTE_CHARS, prose_note(MAX_NOTE_CHARS)),
    ]
    rows = []
    for kind, size, text in inputs:
        doc = Document(id="n", kind="procedure_note", text=text)
        parse_s = best_of(args.runs, lambda doc=doc: parse_documents([doc]))
        row = {"input": f"{kind} {size:,}", "chars": len(text), "parse_s": round(parse_s, 3)}
        row["parse_us_per_char"] = round(parse_s / len(text) * 1e6, 3)
        if not args.no_review:
            case = case_from_dict(
                {"case_id": "long", "documents": [doc.model_dump(mode="json")]}, source="bench"
            )
            review_s = best_of(1, lambda case=case: review_case(case))
            row["review_s"] = round(review_s, 3)
            row["review_us_per_char"] = round(review_s / len(text) * 1e6, 3)
        rows.append(row)
        print(row, flush=True)
    figures = {"machine": machine(), "code_at_start": code_at_start, "rows": rows}
    if emit(figures, code_at_start, args):
        return
    print(f"{'input':<18}{'chars':>11}{'parse s':>9}{'us/char':>9}{'review s':>10}{'us/char':>9}")
    for r in rows:
        print(
            f"{r['input']:<18}{r['chars']:>11,}{r['parse_s']:>9}{r['parse_us_per_char']:>9}"
            f"{r.get('review_s', '-'):>10}{r.get('review_us_per_char', '-'):>9}"
        )


if __name__ == "__main__":
    main()
