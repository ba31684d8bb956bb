"""Nothing unvetted on screen (issue 20 point 2): the CLI prints an answer only once it passed the checks; a
fallback replaces the rejected text and says so; ``--json`` says who answered and why not the model."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.llm import LLMS

from conftest import write_docs
from fakes import fake_llm

RRF = ("Reciprocal rank fusion scores a document by summing 1 / (k + rank) over every ranking. "
       "The constant k is 60 by default.")
QUESTION = "How does reciprocal rank fusion score a document?"
# What SmolLM2 streamed for this question (issue 20), shortened
GARBAGE = 'nDCG@10, ndcgf-2 <source id="5" ref=ram.md>RAMRAMRAMRAM ‹textarea'
GOOD = "It sums 1 / (k + rank) over every ranking [1]."
runner = CliRunner()


@pytest.fixture
def indexed(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("embedder: {kind: hash}\nllm: {kind: fake}\n")
    write_docs(tmp_path / "docs", {"rrf.md": RRF})
    result = runner.invoke(app, ["ingest", str(tmp_path / "docs"), "--index", str(tmp_path / "i"),
                                 "--config", str(config)])
    assert result.exit_code == 0, result.output
    return ["--index", str(tmp_path / "i"), "--config", str(config)]


def _model_says(monkeypatch, reply: str) -> None:
    monkeypatch.setitem(LLMS, "fake", lambda cfg, cache_path: fake_llm(lambda prompt: reply, None, cfg))


def test_a_rejected_answer_never_reaches_the_screen(indexed, monkeypatch):
    _model_says(monkeypatch, GARBAGE)
    result = runner.invoke(app, ["ask", QUESTION, "--chain", "stuff", *indexed])
    assert result.exit_code == 0, result.output
    for junk in ("RAMRAM", "ndcgf", "ref=ram.md", "textarea"):   # the reason names only the tag it found
        assert junk not in result.output
    assert "(extract chain, a fallback)" in result.stdout and "markup from the prompt" in result.stdout
    assert result.stdout.count('"Reciprocal rank fusion scores a document') == 1


def test_a_passing_answer_is_printed_once_without_a_fallback_label(indexed, monkeypatch):
    _model_says(monkeypatch, GOOD)
    result = runner.invoke(app, ["ask", QUESTION, "--chain", "stuff", *indexed])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("It sums 1 / (k + rank)") == 1 and "fallback" not in result.stdout


@pytest.mark.parametrize("reply, by, reason", [(GOOD, "model", None), (GARBAGE, "extract", "markup")])
def test_json_says_who_answered_and_why_not_the_model(indexed, monkeypatch, reply, by, reason):
    _model_says(monkeypatch, reply)
    data = json.loads(runner.invoke(app, ["ask", QUESTION, "--chain", "stuff", "--json", *indexed]).stdout)
    assert data["answered_by"] == by
    assert (data["fallback_reason"] is None) if reason is None else (reason in data["fallback_reason"])


def test_json_carries_the_trace_only_with_trace(indexed):
    plain = json.loads(runner.invoke(app, ["ask", QUESTION, "--chain", "extract", "--json", *indexed]).stdout)
    traced = json.loads(runner.invoke(app, ["ask", QUESTION, "--chain", "extract", "--json", "--trace",
                                            *indexed]).stdout)
    assert "trace" not in plain and traced["trace"]["rankings"]
    assert plain["answered_by"] == "extract" and plain["fallback_reason"] is None


def test_chat_replaces_a_rejected_answer_too(indexed, monkeypatch, tmp_path):
    _model_says(monkeypatch, GARBAGE)
    result = runner.invoke(app, ["chat", "--chain", "stuff", "--history", str(tmp_path / "h.sqlite"), *indexed],
                           input=QUESTION + "\n")
    assert result.exit_code == 0, result.output
    assert "RAMRAM" not in result.output and "(extract chain, a fallback)" in result.stdout
