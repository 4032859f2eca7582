"""Sentence splitting: our parse path vs medspaCy's PyRuSH, on the same notes.

Splitters (all on ``spacy.blank("en")``'s tokenizer, so the tokenizer cost is the same):

ours          ``join_wrapped_lines(text)`` then the line-break component
              (``review.parse.sentences.line_break_starts``) then spaCy's ``sentencizer``: what
              ``review.parse`` does
pyrush        ``medspacy_pyrush`` on the raw note: what ``medspacy.load()`` would give
pyrush+join   ablation: PyRuSH on ``join_wrapped_lines(text)``
sentencizer   ablation: spaCy's ``sentencizer`` alone on the raw note (no line rules)

``join_wrapped_lines`` keeps the text length, so every splitter's sentences are character spans
of the original note and the proxies below compare like with like. Sentences are trimmed of
surrounding whitespace and whitespace-only sentences are dropped (PyRuSH returns the gaps between
sentences as sentences of their own; ``review.parse`` drops them too).

Quality proxies (there is no gold standard here; see benchmarks/README.md for what they can and
cannot show):

heading crossed    share of heading lines (a line starting with ALL-CAPS words and a colon,
                   e.g. "PHYSICAL EXAMINATION:") that do not start a sentence, i.e. that sit
                   inside a sentence which began before them
long > 300         share of sentences longer than 300 characters
tiny < 3           share of sentences shorter than 3 characters ("1.", ".")
number split       boundaries inside a decimal ("1.5") or between a number and its unit
                   ("1.5 mL", "40 mg"), per 1,000 such numbers in the text
title split        boundaries right after "Dr." / "Mr." / "Mrs." / "Ms." before a capital,
                   per 1,000 such titles
abbrev split       boundaries right after a dotted abbreviation ("b.i.d.", "p.o.", "p.r.n.",
                   "a.m.", "q.6h.") when the next word is lowercase ("p.o. || once daily"),
                   per 1,000 such contexts
lowercase start    share of sentences that start with a lowercase letter (often a sentence cut
                   in two; sometimes a legitimate list fragment)

    python benchmarks/sentence_splitting.py                  # all notes, all four splitters
    python benchmarks/sentence_splitting.py --limit 300 --splitters ours pyrush --examples 3
    python benchmarks/sentence_splitting.py --json
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from _common import DEFAULT_NOTES, emit, machine, read_notes, source_digest, word_count

HEADING = re.compile(r"^[ \t]*[A-Z][A-Z0-9 ,/&()'\-]*[A-Z0-9)][ \t]*:", re.M)
NUMBER = re.compile(
    r"\b\d+\.\d+\b(?:[ \t]*(?:mg|mcg|mL|ml|cc|g|kg|mm|cm|units?|%)(?![A-Za-z]))?"
    r"|\b\d+[ \t]*(?:mg|mcg|mL|ml|cc|units?)(?![A-Za-z])"
)
TITLE = re.compile(r"\b(?:Dr|Mr|Mrs|Ms)\.[ \t]+[A-Z]")
DOSING_ABBREV = re.compile(r"\b(?:[A-Za-z]{1,2}\.){2,}[ \t]+[a-z]|\bq\.?\d+h\.[ \t]+[a-z]")
SPLITTERS = ("ours", "pyrush", "pyrush+join", "sentencizer")


def build(name: str):
    """(nlp, preprocess) for one splitter."""
    import spacy
    from loguru import logger

    from review.parse.sentences import join_wrapped_lines, line_break_starts

    nlp = spacy.blank("en")
    if name == "ours":
        from spacy.language import Language

        if not Language.has_factory("review_line_breaks"):
            Language.component("review_line_breaks", func=line_break_starts)
        nlp.add_pipe("review_line_breaks")
        nlp.add_pipe("sentencizer")
        return nlp, join_wrapped_lines
    if name == "sentencizer":
        nlp.add_pipe("sentencizer")
        return nlp, None
    logger.disable("PyRuSH")  # PyRuSH logs through loguru at DEBUG by default
    import medspacy  # noqa: F401  (registers medspacy_pyrush)

    nlp.add_pipe("medspacy_pyrush")
    return nlp, join_wrapped_lines if name == "pyrush+join" else None


def sentence_spans(text: str, doc) -> list[tuple[int, int]]:
    """Trimmed (start, end) of every non-blank sentence, as offsets into ``text``."""
    spans = []
    for sent in doc.sents:
        start, end = sent.start_char, sent.end_char
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def run(name: str, notes: list[dict]) -> dict:
    t0 = time.perf_counter()
    nlp, preprocess = build(name)
    build_s = time.perf_counter() - t0
    pipes = [proc for _, proc in nlp.pipeline]
    first = notes[0]["text"]
    nlp(preprocess(first) if preprocess else first)  # warm-up

    steps = ("preprocess", "tokenize", "split")
    wall = dict.fromkeys(steps, 0.0)
    cpu = dict.fromkeys(steps, 0.0)  # CPU time: less disturbed by other work on the machine
    spans_per_note = []
    for note in notes:
        text = note["text"]
        w0, c0 = time.perf_counter(), time.process_time()
        joined = preprocess(text) if preprocess else text
        w1, c1 = time.perf_counter(), time.process_time()
        doc = nlp.make_doc(joined)
        w2, c2 = time.perf_counter(), time.process_time()
        for proc in pipes:  # what nlp(joined) does after make_doc
            doc = proc(doc)
        w3, c3 = time.perf_counter(), time.process_time()
        for step, (wa, wb, ca, cb) in zip(
            steps, ((w0, w1, c0, c1), (w1, w2, c1, c2), (w2, w3, c2, c3)), strict=True
        ):
            wall[step] += wb - wa
            cpu[step] += cb - ca
        spans_per_note.append(sentence_spans(text, doc))
    return {
        "build_s": build_s,
        **{f"{step}_s": wall[step] for step in steps},
        **{f"cpu_{step}_s": cpu[step] for step in steps},
        "seconds": sum(wall.values()),
        "cpu_s": sum(cpu.values()),
        "spans": spans_per_note,
    }


def quality(notes: list[dict], spans_per_note: list[list[tuple[int, int]]]) -> dict:
    sentences = long_ = tiny = lower = 0
    headings = headings_inside = 0
    numbers = numbers_split = titles = titles_split = abbrevs = abbrevs_split = 0
    chars = 0
    for note, spans in zip(notes, spans_per_note, strict=True):
        text = note["text"]
        starts = sorted(s for s, _ in spans)
        boundaries = starts[1:]
        sentences += len(spans)
        for s, e in spans:
            chars += e - s
            long_ += e - s > 300
            tiny += e - s < 3
            lower += text[s].islower()
        for m in HEADING.finditer(text):
            h = m.start() + len(m.group(0)) - len(m.group(0).lstrip())
            headings += 1
            headings_inside += any(s < h < e for s, e in spans)
        for m in NUMBER.finditer(text):
            numbers += 1
            numbers_split += _inside(boundaries, m.start(), m.end())
        for m in TITLE.finditer(text):
            titles += 1
            titles_split += _inside(boundaries, m.start(), m.end())
        for m in DOSING_ABBREV.finditer(text):
            abbrevs += 1
            abbrevs_split += _inside(boundaries, m.start(), m.end())
    return {
        "sentences": sentences,
        "sentences_per_note": sentences / len(notes),
        "mean_sentence_chars": chars / max(sentences, 1),
        "headings": headings,
        "headings_inside_sentence": headings_inside,
        "heading_crossed_pct": 100 * headings_inside / max(headings, 1),
        "long_over_300": long_,
        "long_over_300_pct": 100 * long_ / max(sentences, 1),
        "tiny_under_3": tiny,
        "tiny_under_3_pct": 100 * tiny / max(sentences, 1),
        "numbers": numbers,
        "numbers_split": numbers_split,
        "number_split_per_1000": 1000 * numbers_split / max(numbers, 1),
        "titles": titles,
        "titles_split": titles_split,
        "title_split_per_1000": 1000 * titles_split / max(titles, 1),
        "abbrevs": abbrevs,
        "abbrevs_split": abbrevs_split,
        "abbrev_split_per_1000": 1000 * abbrevs_split / max(abbrevs, 1),
        "lowercase_start": lower,
        "lowercase_start_pct": 100 * lower / max(sentences, 1),
    }


def _inside(boundaries: list[int], start: int, end: int) -> bool:
    import bisect

    i = bisect.bisect_right(boundaries, start)
    return i < len(boundaries) and boundaries[i] < end


def agreement(a: list[list[tuple[int, int]]], b: list[list[tuple[int, int]]]) -> dict:
    """Share of a's sentence starts that b also has, and the reverse."""
    both = only_a = only_b = 0
    for sa, sb in zip(a, b, strict=True):
        x, y = {s for s, _ in sa}, {s for s, _ in sb}
        both += len(x & y)
        only_a += len(x - y)
        only_b += len(y - x)
    return {
        "shared_starts": both,
        "a_starts_in_b_pct": 100 * both / max(both + only_a, 1),
        "b_starts_in_a_pct": 100 * both / max(both + only_b, 1),
    }


def examples(notes, spans_per_note, k: int) -> dict[str, list[str]]:
    """Up to k hits per proxy, to see what a proxy is counting. Span proxies quote the sentence;
    boundary proxies quote 50 characters either side of the boundary, marked with ' || '."""
    out: dict[str, list[str]] = {
        "heading crossed": [],
        "long > 300": [],
        "tiny < 3": [],
        "number split": [],
        "title split": [],
        "abbrev split": [],
        "lowercase start": [],
    }
    for note, spans in zip(notes, spans_per_note, strict=True):
        text = note["text"]
        heads = [m.start() + len(m.group(0)) - len(m.group(0).lstrip()) for m in HEADING.finditer(text)]  # fmt: skip
        nums = [(m.start(), m.end()) for m in NUMBER.finditer(text)]
        titles = [(m.start(), m.end()) for m in TITLE.finditer(text)]
        abbrevs = [(m.start(), m.end()) for m in DOSING_ABBREV.finditer(text)]
        for s, e in spans:
            sentence = f"{note['id']}: {text[s:e][:160]!r}"
            boundary = f"{note['id']}: {text[max(0, s - 50) : s]!r} || {text[s : s + 50]!r}"
            if any(s < h < e for h in heads):
                out["heading crossed"].append(sentence)
            if e - s > 300:
                out["long > 300"].append(sentence)
            if e - s < 3:
                out["tiny < 3"].append(boundary)
            if any(a < s < b for a, b in nums):
                out["number split"].append(boundary)
            if any(a < s < b for a, b in titles):
                out["title split"].append(boundary)
            if any(a < s < b for a, b in abbrevs):
                out["abbrev split"].append(boundary)
            if text[s].islower():
                out["lowercase start"].append(boundary)
    return {key: values[:k] for key, values in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=Path, default=DEFAULT_NOTES, help="JSONL with id and text")
    parser.add_argument("--limit", type=int, default=None, help="first N notes (default: all)")
    parser.add_argument("--splitters", nargs="+", choices=SPLITTERS, default=list(SPLITTERS))
    parser.add_argument("--examples", type=int, default=0, help="print K sentences per proxy")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--save", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)
    code_at_start = source_digest()

    notes = read_notes(args.notes, args.limit)
    words = sum(word_count(n["text"]) for n in notes)
    results = {}
    spans = {}
    for name in args.splitters:
        r = run(name, notes)
        spans[name] = r.pop("spans")
        r["words_per_s"] = words / r["seconds"]
        r["notes_per_s"] = len(notes) / r["seconds"]
        r["split_only_words_per_s"] = words / r["split_s"]
        r["cpu_words_per_s"] = words / r["cpu_s"]
        r["cpu_split_only_words_per_s"] = words / r["cpu_split_s"]
        r["quality"] = quality(notes, spans[name])
        results[name] = r
        if not args.json:
            print(f"[{name}] {r['seconds']:.1f} s", file=sys.stderr)
    figures = {
        "benchmark": "sentence_splitting",
        "machine": machine(),
        "code_at_start": code_at_start,
        "notes_file": str(args.notes),
        "notes": len(notes),
        "words": words,
        "splitters": results,
    }
    if "ours" in spans and "pyrush" in spans:
        figures["agreement_ours_vs_pyrush"] = agreement(spans["ours"], spans["pyrush"])
        figures["speedup_ours_over_pyrush"] = (
            results["pyrush"]["seconds"] / results["ours"]["seconds"]
        )
        figures["split_step_speedup_ours_over_pyrush"] = (
            results["pyrush"]["split_s"] / results["ours"]["split_s"]
        )
        figures["cpu_speedup_ours_over_pyrush"] = (
            results["pyrush"]["cpu_s"] / results["ours"]["cpu_s"]
        )
        figures["cpu_split_step_speedup_ours_over_pyrush"] = (
            results["pyrush"]["cpu_split_s"] / results["ours"]["cpu_split_s"]
        )
    if args.examples:
        figures["examples"] = {
            name: examples(notes, spans[name], args.examples) for name in args.splitters
        }
    if emit(figures, code_at_start, args):
        return 0
    _print_table(figures)
    return 0


def _print_table(f: dict) -> None:
    m = f["machine"]
    print(f"{m['date_utc']}  {m['nproc']} cpu  {m['cpu']}  Python {m['python']}")
    c = m["code"]
    print(
        f"code: review/+rules/ sha256 {c['review_and_rules_sha256']} (newest file {c['newest_file_utc']})"
    )
    print(f"{f['notes']} notes, {f['words']:,} words")
    names = list(f["splitters"])
    rows = [
        ("words/s (join+tokenize+split)", lambda r: f"{r['words_per_s']:,.0f}"),
        ("notes/s", lambda r: f"{r['notes_per_s']:.1f}"),
        ("words/s (split step only)", lambda r: f"{r['split_only_words_per_s']:,.0f}"),
        ("CPU words/s (join+tok+split)", lambda r: f"{r['cpu_words_per_s']:,.0f}"),
        ("CPU words/s (split step only)", lambda r: f"{r['cpu_split_only_words_per_s']:,.0f}"),
        ("ms/note: join_wrapped_lines", lambda r: f"{1000 * r['preprocess_s'] / f['notes']:.2f}"),
        ("ms/note: tokenizer", lambda r: f"{1000 * r['tokenize_s'] / f['notes']:.2f}"),
        ("ms/note: sentence split", lambda r: f"{1000 * r['split_s'] / f['notes']:.2f}"),
        ("sentences per note", lambda r: f"{r['quality']['sentences_per_note']:.1f}"),
        ("mean sentence chars", lambda r: f"{r['quality']['mean_sentence_chars']:.0f}"),
        ("heading crossed % of headings", lambda r: f"{r['quality']['heading_crossed_pct']:.1f}"),
        ("long > 300 chars % of sents", lambda r: f"{r['quality']['long_over_300_pct']:.2f}"),
        ("tiny < 3 chars % of sents", lambda r: f"{r['quality']['tiny_under_3_pct']:.2f}"),
        ("number/dose split per 1,000", lambda r: f"{r['quality']['number_split_per_1000']:.1f}"),
        ("Dr./Mr. split per 1,000", lambda r: f"{r['quality']['title_split_per_1000']:.1f}"),
        ("abbrev split per 1,000", lambda r: f"{r['quality']['abbrev_split_per_1000']:.1f}"),
        ("lowercase start % of sents", lambda r: f"{r['quality']['lowercase_start_pct']:.2f}"),
    ]
    print()
    print(f"{'':<32}" + "".join(f"{n:>14}" for n in names))
    for label, fmt in rows:
        print(f"{label:<32}" + "".join(f"{fmt(f['splitters'][n]):>14}" for n in names))
    q = next(iter(f["splitters"].values()))["quality"]
    print(f"\n(headings in text: {q['headings']:,}; decimals/doses: {q['numbers']:,}; "
          f"titles: {q['titles']:,}; dotted abbreviations before lowercase: {q['abbrevs']:,})")  # fmt: skip
    if "speedup_ours_over_pyrush" in f:
        a = f["agreement_ours_vs_pyrush"]
        print(f"ours is {f['speedup_ours_over_pyrush']:.1f}x faster than pyrush end to end "
              f"({f['split_step_speedup_ours_over_pyrush']:.0f}x on the split step alone; by CPU "
              f"time {f['cpu_speedup_ours_over_pyrush']:.1f}x and "
              f"{f['cpu_split_step_speedup_ours_over_pyrush']:.0f}x); "
              f"{a['a_starts_in_b_pct']:.1f}% of our sentence starts are PyRuSH starts, "
              f"{a['b_starts_in_a_pct']:.1f}% of PyRuSH's are ours")  # fmt: skip
    for name, per_proxy in f.get("examples", {}).items():
        print(f"\nexamples, {name}:")
        for proxy, items in per_proxy.items():
            for item in items:
                print(f"  [{proxy}] {item}")


if __name__ == "__main__":
    sys.exit(main())
