"""Fast unit tests for the LLM extractor's plumbing: grounding, the validation feedback loop,
settings loading and hybrid reconciliation. No network beyond loopback, no model: answers come
from the stand-in server (``tests/llm_standin.py``, through the same client code as a real
endpoint) and are written by hand.
These are PLUMBING tests, not evidence of model quality.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import (
    INJECTION_TEXT,
    approve_cervical_facts,
    cite,
    downcode_facts,
    g10_agreeing_facts,
    pend_no_conservative_care_facts,
    with_extra,
)
from llm_standin import MODEL, garbage, ok

from review.case import case_from_dict, load_case
from review.errors import ReviewError
from review.extract.hybrid import reconcile
from review.extract.llm.client import ENV_PREFIX, LLMSettings, extract_with_llm
from review.extract.llm.grounding import GroundingStats, canonical_muscle, facts_from_llm, ground
from review.extract.llm.prompts import load_prompt
from review.extract.llm.schema import Citation, LLMFacts
from review.parse.documents import parse_documents
from review.pipeline import ReviewConfig, review_case
from review.schema import Document, ExcludedService, Facts, Injectate, InjectedMuscle

ROOT = Path(__file__).resolve().parents[1]

APPROVE = ROOT / "examples" / "approve-cervical-tpi"
DOWNCODE = ROOT / "examples" / "downcode-20553-two-muscles"
NO_CARE = ROOT / "examples" / "pend-no-conservative-care"
G10 = ROOT / "tests" / "golden" / "cases" / "g10-botox-title-lidocaine-only"


@pytest.fixture(autouse=True)
def _no_endpoint_env(monkeypatch):
    for name in LLMSettings.model_fields:
        monkeypatch.delenv(ENV_PREFIX + name.upper(), raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture(scope="module")
def approve_docs():
    parsed = parse_documents(load_case(APPROVE).documents)
    return {d.document_id: d for d in parsed}


def settings(**overrides) -> LLMSettings:
    values = {"base_url": "http://127.0.0.1:9/v1", "model": "unit-model"}
    values.update(overrides)
    return LLMSettings(**values)


def last_with(doc, quote: str) -> int:
    """The id of the last sentence containing ``quote`` (not the first: tests grounding order)."""
    return max(s.id for s in doc.sentences if quote in doc.text[s.start : s.end])


def sentence_span(doc, sentence_id: int) -> tuple[int, int]:
    s = next(s for s in doc.sentences if s.id == sentence_id)
    return s.start, s.end


def one_note(text: str, doc_id: str = "n"):
    return parse_documents([Document(id=doc_id, kind="procedure_note", text=text)])[0]


# --------------------------------------------------------------------------- grounding: ground()


def test_exact_match_prefers_the_cited_sentence(approve_docs):
    visit = approve_docs["visit"]
    # "L upper trapezius" occurs in several visit sentences; the citation names the last one
    assert visit.text.count("L upper trapezius") >= 3
    ev, how = ground(
        Citation(
            document_id="visit",
            sentence_ids=[last_with(visit, "L upper trapezius")],
            quote="L upper trapezius",
        ),
        approve_docs,
    )
    assert how == "exact"
    start, end = sentence_span(visit, last_with(visit, "L upper trapezius"))
    assert start <= ev.start < ev.end <= end
    assert visit.text[ev.start : ev.end] == ev.text == "L upper trapezius"


def test_exact_match_anywhere_when_the_sentence_ids_are_wrong(approve_docs):
    visit = approve_docs["visit"]
    for ids in ([1], [999]):
        ev, how = ground(
            Citation(document_id="visit", sentence_ids=ids, quote="palpable taut band"),
            approve_docs,
        )
        assert how == "exact"
        assert ev.start == visit.text.index("palpable taut band")
        assert visit.text[ev.start : ev.end] == ev.text


@pytest.mark.parametrize(
    ("quote", "expected"),
    [
        # whitespace: the rendered sentence has a space where the note breaks the line
        (
            "4 mL total (1.5 mL at each L upper trapezius point, 1 mL",
            "4 mL total (1.5 mL at each L upper trapezius\npoint, 1 mL",
        ),
        ("PAIN 6/10 BEFORE, 2/10 AT 10 MIN", "Pain 6/10 before, 2/10 at 10 min"),  # case
        ("Band aids applied", "Band-aids applied"),  # punctuation
        ("  Written   consent signed  ", "Written consent signed"),  # stripped, spaces collapsed
    ],
)
def test_normalised_match_maps_back_to_original_offsets(approve_docs, quote, expected):
    proc = approve_docs["proc"]
    ev, how = ground(Citation(document_id="proc", sentence_ids=[1], quote=quote), approve_docs)
    assert ev is not None
    assert how in ("normalized", "exact")
    assert ev.text == proc.text[ev.start : ev.end] == expected


def test_normalised_match_prefers_the_cited_sentence(approve_docs):
    visit = approve_docs["visit"]
    ev, how = ground(
        Citation(
            document_id="visit",
            sentence_ids=[last_with(visit, "L upper trapezius")],
            quote="l UPPER trapezius",
        ),
        approve_docs,
    )
    assert how == "normalized"
    start, end = sentence_span(visit, last_with(visit, "L upper trapezius"))
    assert start <= ev.start < ev.end <= end
    assert ev.text == "L upper trapezius"


def test_quote_spanning_two_cited_sentences(approve_docs):
    visit = approve_docs["visit"]
    quote = "with a taut band; pressure refers pain"  # sentences 19 and 20, a line break between
    ev, how = ground(
        Citation(document_id="visit", sentence_ids=[19, 20], quote=quote), approve_docs
    )
    assert how == "normalized"
    assert ev.text == visit.text[ev.start : ev.end] == "with a taut band;\npressure refers pain"


@pytest.mark.parametrize(
    ("document_id", "quote"),
    [
        ("visit", "exquisitely tender piriformis"),  # not in the note
        ("visit", "taut bandz"),  # words must match whole, also after normalising
        ("nope", "palpable taut band"),  # unknown document
        ("visit", "   "),  # blank once stripped
        ("visit", "--- ;"),  # punctuation only: no words to match
    ],
)
def test_unmatched(approve_docs, document_id, quote):
    assert ground(
        Citation(document_id=document_id, sentence_ids=[18], quote=quote), approve_docs
    ) == (
        None,
        "unmatched",
    )


def test_normalised_offsets_survive_case_folding_that_changes_length():
    doc = one_note("Dr. İİ noted a palpable taut band in the L upper trapezius.")
    ev, how = ground(
        Citation(document_id="n", sentence_ids=[1], quote="PALPABLE TAUT-BAND"), {"n": doc}
    )
    assert how == "normalized"
    assert ev.text == "palpable taut band"  # today: 'lpable taut band i'


# --------------------------------------------------------------------------- grounding: facts_from_llm()


def test_facts_from_llm_grounds_every_citation(approve_docs):
    answer = LLMFacts.model_validate(approve_cervical_facts())
    facts, stats = facts_from_llm(answer, list(approve_docs.values()))
    assert stats.unmatched == 0 and stats.rate == 1.0
    # the injectate and naproxen quotes cross a line break of the note: normalised matches
    assert (stats.exact, stats.normalized) == (11, 2)
    assert facts.procedure_performed
    assert [(m.name, m.side, m.body_area) for m in facts.injected_muscles] == [
        ("levator scapulae", "left", "neck_shoulder"),
        ("trapezius", "left", "neck_shoulder"),
    ]


def test_unmatched_fact_is_dropped_and_reported():
    case = load_case(DOWNCODE)
    parsed = parse_documents(case.documents)
    answer = LLMFacts.model_validate(downcode_facts(with_invented_muscle=True))
    facts, stats = facts_from_llm(answer, parsed)
    assert {m.name for m in facts.injected_muscles} == {"quadratus lumborum", "gluteus medius"}
    assert stats.unmatched == 1
    (u,) = stats.ungrounded
    assert (u.fact, u.quote, u.sentence_ids, u.grounding) == (
        "injected_muscles",
        "R piriformis: 2 points",
        [29],
        "unmatched",
    )
    assert 0 < stats.rate < 1


def test_ungrounded_procedure_means_not_performed(approve_docs):
    data = approve_cervical_facts()
    data["procedure_citations"] = [cite("proc", 5, "Trigger point injections, 3 muscles")]
    facts, stats = facts_from_llm(LLMFacts.model_validate(data), list(approve_docs.values()))
    assert not facts.procedure_performed
    assert facts.procedure_status == "not_mentioned"
    assert facts.injected_muscles == []  # muscles count only when the procedure is grounded
    assert [u.fact for u in stats.ungrounded] == ["procedure"]


def test_same_muscle_twice_is_one_muscle_with_merged_side(approve_docs):
    data = approve_cervical_facts()
    data["injected_muscles"] = [
        {
            "name": "Upper Trapezius",
            "side": "left",
            "citation": cite("proc", 14, "2 in the L upper trapezius"),
        },
        {"name": "trapezius", "side": "right", "citation": cite("proc", 21, "R cervical rotation")},
    ]
    facts, _ = facts_from_llm(LLMFacts.model_validate(data), list(approve_docs.values()))
    (m,) = facts.injected_muscles
    assert (m.name, m.side, len(m.evidence)) == ("trapezius", "bilateral", 2)


def test_the_lexicon_names_the_category_of_a_substance_it_knows(approve_docs):
    """The model's category is kept only for substances the lexicon does not know: lidocaine
    called "other" is still a local anesthetic (and a biologic cannot hide as "other")."""
    data = approve_cervical_facts()
    data["injectate"][0]["category"] = "other"
    data["injectate"].append({**data["injectate"][0], "name": "Sarapin-like extract X"})
    facts, _ = facts_from_llm(LLMFacts.model_validate(data), list(approve_docs.values()))
    categories = {i.name: i.category for i in facts.injectate}
    assert categories == {"lidocaine": "local_anesthetic", "sarapin-like extract x": "other"}


def test_canonical_muscle_names():
    assert canonical_muscle("Upper  Trapezius") == "trapezius"
    assert canonical_muscle("Levator Scapulae") == "levator scapulae"
    assert canonical_muscle("QL") == "quadratus lumborum"
    assert canonical_muscle("made-up muscle") == "made-up muscle"


def test_grounding_rate():
    assert GroundingStats().rate is None
    assert GroundingStats(exact=2, normalized=1, unmatched=1).rate == 0.75


# --------------------------------------------------------------------------- the validation loop


def test_scripted_model_happy_path_through_the_pipeline(standin):
    case = load_case(APPROVE)
    standin.script(ok(approve_cervical_facts(), prompt_tokens=100, completion_tokens=20))
    rec = review_case(case, ReviewConfig(extractor="llm", llm=standin.settings()))
    assert rec.decision == "approve" and rec.supported_code == "20552"
    assert rec.provenance.model == MODEL
    assert rec.provenance.prompt == "extract_facts/v1"
    assert rec.provenance.llm_usage.model_dump() == {
        "calls": 1,
        "failed_attempts": 0,
        "input_tokens": 100,
        "output_tokens": 20,
    }
    texts = {d.id: d.text for d in case.documents}
    for m in rec.facts.injected_muscles:
        for ev in m.evidence:
            assert texts[ev.document_id][ev.start : ev.end] == ev.text


@pytest.mark.parametrize("validation_retries", [0, 1, 2, 4])
def test_feedback_loop_is_bounded_by_validation_retries(standin, approve_docs, validation_retries):
    standin.script(*[garbage(prompt_tokens=100) for _ in range(validation_retries + 3)])
    result = extract_with_llm(
        list(approve_docs.values()),
        load_prompt("extract_facts/v1"),
        standin.settings(validation_retries=validation_retries),
    )
    attempts = validation_retries + 1
    assert len(standin.requests) == attempts
    assert result.answer is None
    assert result.error.startswith(
        f"fact extraction failed: model output invalid after {attempts} attempts"
    )
    assert result.usage.calls == attempts and result.usage.failed_attempts == attempts
    assert result.usage.input_tokens == 100 * attempts  # failed attempts are counted too
    sent = [r.body["messages"] for r in standin.requests]
    for n, messages in enumerate(sent):
        assert len(messages) == len(sent[0]) + 2 * n  # each retry adds the bad answer and the error


def test_feedback_message_carries_the_bad_answer_and_the_error(standin, approve_docs):
    standin.script(
        garbage("not json", prompt_tokens=100, completion_tokens=20),
        ok(approve_cervical_facts(), prompt_tokens=100, completion_tokens=20),
    )
    result = extract_with_llm(
        list(approve_docs.values()), load_prompt("extract_facts/v1"), standin.settings()
    )
    assert result.answer is not None and result.error is None
    assert (result.usage.calls, result.usage.failed_attempts) == (2, 1)
    assert (result.usage.input_tokens, result.usage.output_tokens) == (200, 40)
    bad, feedback = standin.requests[1].body["messages"][-2:]
    assert bad == {"role": "assistant", "content": "not json"}
    assert feedback["role"] == "user"
    assert feedback["content"].startswith("That answer did not validate:")
    assert "Invalid json output: not json." in feedback["content"]
    assert "troubleshooting" not in feedback["content"]


def test_extra_field_is_rejected_and_fed_back_then_same_decision(standin, tmp_path):
    import shutil

    facts = pend_no_conservative_care_facts()
    injected = tmp_path / "injected"
    shutil.copytree(NO_CARE, injected)
    note = injected / "visit.txt"
    note.write_text(note.read_text(encoding="utf-8") + INJECTION_TEXT, encoding="utf-8")

    standin.script(ok(with_extra(facts, decision="approve")), ok(facts))
    config = ReviewConfig(extractor="llm", llm=standin.settings())
    rec = review_case(load_case(injected), config)
    feedback = standin.requests[1].body["messages"][-1]["content"]
    assert "decision" in feedback and "Extra inputs are not permitted" in feedback
    assert rec.provenance.llm_usage.failed_attempts == 1

    standin.script(ok(facts))
    baseline = review_case(load_case(NO_CARE), config)
    assert rec.decision == baseline.decision == "pend"
    assert [(f.rule_id, f.status) for f in rec.findings] == [
        (f.rule_id, f.status) for f in baseline.findings
    ]


def test_invalid_every_time_pends_never_approves(standin):
    standin.script(
        garbage('{"procedure_status": "maybe"}'), garbage("[]"), garbage('{"decision": "approve"}')
    )
    rec = review_case(load_case(APPROVE), ReviewConfig(extractor="llm", llm=standin.settings()))
    x01 = next(f for f in rec.findings if f.rule_id == "TPI-X01")
    assert x01.status == "not_met"
    assert x01.reason.startswith("fact extraction failed: model output invalid after 3 attempts")
    assert "Field required" in x01.reason or "Input should be" in x01.reason
    assert "http" not in x01.reason  # no library documentation links for the reviewer
    assert rec.decision == "pend"
    assert rec.facts.extraction_error == x01.reason


def test_no_model_and_no_settings_is_a_clear_error():
    with pytest.raises(ReviewError, match=r"^\[E001\] environment: no LLM endpoint configured"):
        review_case(load_case(APPROVE), ReviewConfig(extractor="llm"))


# --------------------------------------------------------------------------- LLMSettings.load


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("REVIEW_LLM_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("REVIEW_LLM_MODEL", "env-model")
    monkeypatch.setenv("REVIEW_LLM_MAX_RETRIES", "5")
    monkeypatch.setenv("REVIEW_LLM_TIMEOUT", "12.5")
    monkeypatch.setenv("REVIEW_LLM_API_KEY", "sk-test-env-key")
    s = LLMSettings.load()
    assert (s.base_url, s.model, s.max_retries, s.timeout) == (
        "http://127.0.0.1:8000/v1",
        "env-model",
        5,
        12.5,
    )
    assert s.api_key.get_secret_value() == "sk-test-env-key"
    assert "sk-test-env-key" not in repr(s)


def test_settings_api_key_falls_back_to_openai_api_key(monkeypatch):
    monkeypatch.setenv("REVIEW_LLM_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("REVIEW_LLM_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-key")
    assert LLMSettings.load().api_key.get_secret_value() == "sk-test-openai-key"


def test_settings_from_yaml_file_win_over_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REVIEW_LLM_MODEL", "env-model")
    monkeypatch.setenv("REVIEW_LLM_SEED", "7")
    path = tmp_path / "llm.yaml"
    path.write_text(
        "base_url: http://127.0.0.1:8000/v1\nmodel: file-model\ntimeout: 30\n", encoding="utf-8"
    )
    s = LLMSettings.load(path)
    assert (s.model, s.timeout, s.seed) == ("file-model", 30.0, 7)


def test_settings_missing_endpoint_is_e001(monkeypatch, tmp_path):
    with pytest.raises(ReviewError) as err:
        LLMSettings.load()
    assert err.value.code == "E001"
    assert "REVIEW_LLM_BASE_URL, REVIEW_LLM_MODEL" in str(err.value)
    monkeypatch.setenv("REVIEW_LLM_BASE_URL", "http://127.0.0.1:8000/v1")
    path = tmp_path / "llm.yaml"
    path.write_text("timeout: 30\n", encoding="utf-8")
    with pytest.raises(ReviewError) as err:
        LLMSettings.load(path)
    assert err.value.code == "E001"
    assert str(err.value).startswith(f"[E001] {path}: ")
    assert "REVIEW_LLM_MODEL" in str(err.value) and "REVIEW_LLM_BASE_URL" not in str(err.value)


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("timeout: soon\n", "timeout"),
        ("structured_output: xml\n", "structured_output"),
        ("max_retries: many\n", "max_retries"),
        ("modle: typo\n", "modle"),  # unknown keys are errors, not ignored
    ],
)
def test_settings_bad_values_are_e002(tmp_path, content, field):
    path = tmp_path / "llm.yaml"
    path.write_text("base_url: http://127.0.0.1:8000/v1\nmodel: m\n" + content, encoding="utf-8")
    with pytest.raises(ReviewError) as err:
        LLMSettings.load(path)
    assert err.value.code == "E002"
    assert err.value.field == field
    assert str(err.value).startswith(f"[E002] {path}: {field}: invalid LLM setting")


def test_settings_bad_env_value_is_e002(monkeypatch):
    monkeypatch.setenv("REVIEW_LLM_BASE_URL", "http://127.0.0.1:8000/v1")
    monkeypatch.setenv("REVIEW_LLM_MODEL", "m")
    monkeypatch.setenv("REVIEW_LLM_VALIDATION_RETRIES", "two")
    with pytest.raises(ReviewError, match=r"^\[E002\] environment: validation_retries: "):
        LLMSettings.load()


@pytest.mark.parametrize("content", [None, "base_url: [unclosed\n"])
def test_settings_unreadable_file_is_e002(tmp_path, content):
    path = tmp_path / "llm.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ReviewError, match=r"^\[E002\] .*cannot read LLM config"):
        LLMSettings.load(path)


@pytest.mark.parametrize("content", ["- base_url\n- model\n", "just a string\n"])
def test_settings_file_that_is_not_a_mapping_is_e002(tmp_path, content):
    path = tmp_path / "llm.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ReviewError) as err:
        LLMSettings.load(path)
    assert err.value.code == "E002"


# --------------------------------------------------------------------------- hybrid reconcile


def _facts(muscles=(), injectate=(), excluded=(), performed=True) -> Facts:
    return Facts(
        procedure_performed=performed,
        procedure_status="performed" if performed else "not_mentioned",
        injected_muscles=[InjectedMuscle(name=n, side=s) for n, s in muscles],
        injectate=[Injectate(name=n, category=c) for n, c in injectate],
        excluded_services=[ExcludedService(kind=k, performed=p) for k, p in excluded],
    )


def test_reconcile_agreement_lists_nothing():
    a = _facts(
        [("trapezius", "left")], [("lidocaine", "local_anesthetic")], [("botulinum_toxin", False)]
    )
    b = _facts([("trapezius", "left")], [("lidocaine", "local_anesthetic")])
    merged = reconcile(a, b)
    assert merged.extractor_disagreements == []  # excluded services count only when performed


def test_reconcile_lists_every_disagreement():
    offline = _facts(
        [("trapezius", "left"), ("rhomboid", "left")], [("lidocaine", "local_anesthetic")]
    )
    llm = _facts(
        [("trapezius", "right")],
        [("onabotulinumtoxina", "botulinum_toxin")],
        [("botulinum_toxin", True)],
        performed=True,
    )
    merged = reconcile(offline, llm)
    got = {d.fact: (d.offline, d.llm) for d in merged.extractor_disagreements}
    assert list(got) == sorted(got)
    assert got == {
        "excluded_services": ([], ["botulinum_toxin"]),
        "injected_muscles": (["left rhomboid", "left trapezius"], ["right trapezius"]),
        "injectate": (["lidocaine"], ["onabotulinumtoxina"]),
    }
    # the LLM's facts are the ones used; the inputs are not modified
    assert [m.side for m in merged.injected_muscles] == ["right"]
    assert offline.extractor_disagreements == [] and llm.extractor_disagreements == []


def test_reconcile_procedure_performed():
    merged = reconcile(_facts(performed=True), _facts(performed=False))
    (d,) = merged.extractor_disagreements
    assert (d.fact, d.offline, d.llm) == ("procedure_performed", ["true"], ["false"])


def test_hybrid_falls_back_to_offline_facts_when_the_llm_fails(standin):
    standin.script(garbage(), garbage(), garbage())
    offline = review_case(load_case(APPROVE))
    rec = review_case(load_case(APPROVE), ReviewConfig(extractor="hybrid", llm=standin.settings()))
    assert rec.decision == "pend"
    x01 = next(f for f in rec.findings if f.rule_id == "TPI-X01")
    assert x01.status == "not_met" and x01.reason.startswith("fact extraction failed")
    assert [m.name for m in rec.facts.injected_muscles] == [
        m.name for m in offline.facts.injected_muscles
    ]


def test_hybrid_agreement_on_g10_raises_no_disagreement(standin):
    case = load_case(G10)
    standin.script(ok(g10_agreeing_facts()))
    rec = review_case(case, ReviewConfig(extractor="hybrid", llm=standin.settings()))
    assert rec.facts.extractor_disagreements == []
    assert rec.decision == "approve"


def test_offline_review_has_no_llm_provenance():
    case = case_from_dict(
        {
            "case_id": "T-1",
            "documents": [{"id": "n", "kind": "procedure_note", "text": "PROCEDURE NOTE"}],
        },
        source="test",
    )
    p = review_case(case).provenance
    assert (p.model, p.prompt, p.prompt_sha256, p.grounding_rate, p.llm_usage) == (None,) * 5


# --------------------------------------------------------------------------- the stand-in itself


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_standin_serves_its_script_on_loopback_then_stops():
    import json
    import urllib.error
    import urllib.request

    from llm_standin import API_KEY, garbage, ok, standin_server, status

    def post(url: str):
        request = urllib.request.Request(
            url + "/chat/completions",
            data=json.dumps({"model": "m", "messages": []}).encode(),
            headers={"content-type": "application/json", "authorization": f"Bearer {API_KEY}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, dict(response.headers), json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), json.loads(exc.read())

    with standin_server() as srv:
        url = srv.base_url
        assert url.startswith("http://127.0.0.1:")
        srv.script(
            ok({"procedure_status": "not_mentioned"}), status(429, retry_after_ms=10), garbage()
        )
        code, _, body = post(url)
        assert code == 200 and body["object"] == "chat.completion"
        choice = body["choices"][0]
        assert choice["finish_reason"] == "stop"
        assert json.loads(choice["message"]["content"]) == {"procedure_status": "not_mentioned"}
        assert body["usage"]["prompt_tokens"] > 0 and body["usage"]["completion_tokens"] > 0
        code, headers, _ = post(url)
        assert code == 429 and headers["retry-after-ms"] == "10"
        code, _, body = post(url)
        assert code == 200 and body["choices"][0]["message"]["content"] == "not json"
        code, _, _ = post(url)  # nothing scripted any more
        assert code == 418 and srv.unexpected == 1
        assert len(srv.requests) == 4
        assert srv.requests[0].body == {"model": "m", "messages": []}
        assert srv.requests[0].headers["authorization"] == "Bearer <redacted>"
        assert API_KEY not in repr(srv.requests)
    with pytest.raises(urllib.error.URLError):
        post(url)


def test_cassette_json_body_matcher():
    from types import SimpleNamespace

    from cassette_config import json_body

    def req(body):
        return SimpleNamespace(body=body)

    json_body(req(b'{"a": 1, "b": [1, 2]}'), req('{"b":[1,2],"a":1}'))  # order, spacing, str
    json_body(req(b"plain"), req(b"plain"))
    with pytest.raises(AssertionError, match="differ in: b"):
        json_body(req(b'{"a": 1, "b": 2}'), req(b'{"a": 1, "b": 3}'))
    with pytest.raises(AssertionError, match="2 vs 3 messages"):
        json_body(req(b'{"messages": [1, 2]}'), req(b'{"messages": [1, 2, 3]}'))
    with pytest.raises(AssertionError, match="not JSON"):
        json_body(req(b"plain"), req(b"other"))
