"""Eval tells the truth (issue 20 point 3): fallbacks, weak support and refusals counted per pipeline; answer
scores over the model's own answers beside those over all answers; calls made and cached apart."""

import json

from ragkit.evaluation.report import write_report
from ragkit.evaluation.runner import run_eval
from ragkit.evaluation.spec import load_eval_config
from ragkit.llm import LLMS

from conftest import write_docs
from fakes import fake_llm

QA = [{"id": "a1", "question": "What do cats hunt?", "answers": ["mice"], "source": "cats.txt", "page": None},
      {"id": "a2", "question": "Which planet has rings?", "answers": ["Saturn"], "source": "space.txt", "page": None}]


def _setup(tmp_path, monkeypatch, script):
    write_docs(tmp_path / "docs", {"cats.txt": "Cats hunt mice at night.", "space.txt": "Saturn has bright rings."})
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in QA))
    config = tmp_path / "eval.yaml"
    config.write_text("""
datasets:
  - {name: qa, kind: qa, documents: docs, qa: qa.jsonl}
config:
  embedder: {kind: hash}
  llm: {kind: fake}
pipelines:
  - {name: extract, ask: {chain: extract}}
  - {name: stuff, ask: {chain: stuff}}
metrics: [contains, exact_match]
out: out
""")
    monkeypatch.setitem(LLMS, "fake", lambda cfg, cache_path: fake_llm(script, tmp_path / "llm-cache"))
    return load_eval_config(config)


def _by_name(outcomes):
    return {o.name: o for o in outcomes}


def test_a_pipeline_of_fallbacks_is_counted_and_marked_and_its_model_score_kept_apart(tmp_path, monkeypatch):
    # The model writes a placeholder for one question: that answer is extract's quotes, not the model's
    spec = _setup(tmp_path, monkeypatch, lambda p: "Cats hunt [n]." if "What do cats hunt" in p else "Saturn has rings [1].")
    outcomes = run_eval(spec, tmp_path / "out")
    extract, stuff = _by_name(outcomes)["extract"], _by_name(outcomes)["stuff"]
    assert "fallback_rate" not in extract.metrics and extract.metrics["refusal_rate"] == 0.0
    assert stuff.metrics["fallback_rate"] == 0.5 and stuff.metrics["weak_support"] == extract.metrics["weak_support"]
    assert stuff.metrics["contains_answer"] == 1.0          # the fallback's quotes hold "mice"
    assert stuff.metrics["contains_answer_model"] == 1.0    # over the model's one answer: "Saturn has rings"
    traces = [json.loads(line) for line in (tmp_path / "out/traces/qa/stuff.jsonl").read_text().splitlines()]
    assert {t["answered_by"] for t in traces} == {"model", "extract"}
    assert any(t["fallback_reason"] and "placeholder" in t["fallback_reason"] for t in traces)
    write_report(spec, outcomes, tmp_path / "out")
    report = (tmp_path / "out/report.md").read_text()
    assert "| stuff (fallback 50%) |" in report and "`fallback_rate`" in report and "`contains_answer_model`" in report
    # the fallback rate is the first column, beside the scores it qualifies
    header = next(line for line in report.splitlines() if line.startswith("| run |"))
    assert header.startswith("| run | status | queries | fallback_rate |")


def test_mostly_fallbacks_is_marked_everywhere(tmp_path, monkeypatch):
    spec = _setup(tmp_path, monkeypatch, lambda p: "The answer is [n].")
    outcomes = run_eval(spec, tmp_path / "out")
    stuff = _by_name(outcomes)["stuff"]
    assert stuff.metrics["fallback_rate"] == 1.0 and "contains_answer_model" not in stuff.metrics
    assert any("100% of its answers are extract's quotes" in w for w in stuff.warnings)
    write_report(spec, outcomes, tmp_path / "out")
    assert "stuff (fallback 100%) ⚠ mostly fallbacks" in (tmp_path / "out/report.md").read_text()


def test_calls_made_and_cached_are_counted_apart_and_reused_traces_are_named(tmp_path, monkeypatch):
    spec = _setup(tmp_path, monkeypatch, lambda p: "Saturn has rings [1]." if "rings" in p else "Cats hunt mice [1].")
    first = _by_name(run_eval(spec, tmp_path / "a"))["stuff"]
    assert first.metrics["llm_calls"] == 1.0 and first.metrics["cached_calls"] == 0.0
    again = _by_name(run_eval(spec, tmp_path / "b"))["stuff"]   # new traces, the same model cache
    assert again.metrics["llm_calls"] == 0.0 and again.metrics["cached_calls"] == 1.0
    reused = _by_name(run_eval(spec, tmp_path / "b"))["stuff"]
    assert any("2 of 2 queries reuse the traces stored in traces/qa/stuff.jsonl" in w for w in reused.warnings)


def test_a_document_that_fails_to_load_is_a_warning_of_every_run(tmp_path, monkeypatch):
    """The scores of a run over a partial corpus say so: a file the ingest could not load is named in the warnings
    (it was silently left out of the index, and the run looked complete)."""
    spec = _setup(tmp_path, monkeypatch, ["Cats hunt mice [1]."] * 4)
    (tmp_path / "docs" / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    for _ in range(2):   # a re-run over the same index still says so
        outcomes = run_eval(spec, tmp_path / "out")
        for outcome in outcomes:
            assert outcome.status == "ok"
            assert any(w.startswith("1 of the data set's files could not be loaded and are not searched (first: "
                                    "broken.pdf: ") for w in outcome.warnings), outcome.warnings
