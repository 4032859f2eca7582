"""Record notebooks/cassettes/eval-standin.yaml: the LLM extractor over the labelled cases,
answered by a SIMULATED model (standin_model.py: the offline extractor's facts as LLM answers)
through the test suite's OpenAI-compatible stand-in server.

    .venv/bin/python notebooks/record_eval_cassette.py

Re-record when the prompt, the parse stage or the case set changes (the notebook's replay fails
loudly when a request is not in the cassette). What the replay measures is the plumbing; it
cannot say anything about a real model.
"""

from __future__ import annotations

import sys
from pathlib import Path

import vcr

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "notebooks")]

from cassette_config import SECRET_HEADERS, json_body  # noqa: E402
from llm_standin import ok, standin_server  # noqa: E402
from standin_model import answer_from_facts  # noqa: E402

from review.case import load_case  # noqa: E402
from review.eval import case_dirs  # noqa: E402
from review.parse.documents import parse_documents  # noqa: E402
from review.pipeline import (  # noqa: E402
    ReviewConfig,
    case_policy,
    extract,
    reading_for,
    review_case,
)

CASSETTE = ROOT / "notebooks" / "cassettes" / "eval-standin.yaml"
CASE_SETS = [ROOT / "eval" / "cases", ROOT / "tests" / "golden" / "cases", ROOT / "examples"]


def recorder() -> vcr.VCR:
    recorder = vcr.VCR(
        filter_headers=SECRET_HEADERS,
        match_on=["method", "path", "json_body"],
        decode_compressed_response=True,
    )
    recorder.register_matcher("json_body", json_body)
    return recorder


def main() -> None:
    CASSETTE.parent.mkdir(parents=True, exist_ok=True)
    CASSETTE.unlink(missing_ok=True)
    with (
        standin_server(max_lifetime=600) as server,
        recorder().use_cassette(str(CASSETTE), record_mode="once"),
    ):
        config = ReviewConfig(extractor="llm", llm=server.settings())
        for case_dir in case_dirs(CASE_SETS):
            case = load_case(case_dir)
            parsed = parse_documents(case.documents)
            offline = extract(case, ReviewConfig())  # the simulated model answers these facts
            facts = reading_for(case, offline, case_policy(case, config)).facts
            server.script(ok(answer_from_facts(facts, parsed)))
            review_case(case, config)
    print(f"recorded {CASSETTE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
