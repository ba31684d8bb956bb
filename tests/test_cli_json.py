"""JSON where scripts need it, and numbers that tell the truth: ``ask --json`` usage (cached calls
counted as cached), ``eval --json``, and ``info`` showing the latest ingest."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.llm import LLMS

from conftest import write_docs
from fakes import fake_llm

runner = CliRunner()


def run(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def test_ask_json_counts_a_cached_answer_as_cached(docs, tmp_path, fast_config, monkeypatch):
    prompts = []

    def script(prompt):
        prompts.append(prompt)
        return "Saturn has bright rings [1]."

    monkeypatch.setitem(LLMS, "fake", lambda cfg, cache_path: fake_llm(script, tmp_path / "cache", cfg))
    index = tmp_path / "idx"
    assert run("ingest", docs, "--index", index, "--config", fast_config).exit_code == 0
    ask = ("ask", "Which planet has rings?", "--index", index, "--config", fast_config, "--llm", "fake",
           "--chain", "stuff", "--json")

    first = json.loads(run(*ask).stdout)
    assert first["usage"]["llm_calls"] == 1 and first["usage"]["cached_calls"] == 0
    assert first["usage"]["prompt_tokens"] > 0 and first["usage"]["completion_tokens"] > 0

    again = json.loads(run(*ask).stdout)
    assert len(prompts) == 1  # the model was not asked again
    assert again["usage"] == {"llm_calls": 0, "cached_calls": 1, "prompt_tokens": 0, "completion_tokens": 0}
    assert again["answer"] == first["answer"] == "Saturn has bright rings [1]."
    assert "tokens" not in again and "llm_calls" not in again  # one usage object, no second copy


def eval_config(tmp_path):
    write_docs(tmp_path / "docs", {"cats.txt": "Cats hunt mice at night.", "space.txt": "Saturn has bright rings."})
    rows = [{"id": "a1", "question": "What do cats hunt?", "answers": ["mice"], "source": "cats.txt", "page": None},
            {"id": "a2", "question": "Which planet has rings?", "answers": ["Saturn"], "source": "space.txt", "page": None}]
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tmp_path / "eval.yaml"
    config.write_text("""
datasets:
  - {name: tiny-qa, kind: qa, documents: docs, qa: qa.jsonl}
config:
  embedder: {kind: hash}
pipelines:
  - {name: sparse, search: {mode: sparse}, ask: {chain: extract}}
  - {name: dense, search: {mode: dense}, ask: {chain: extract}}
metrics: [source_hit@1, contains, llm_calls]
out: out
""")
    return config


def test_eval_json_prints_the_results_document_alone(tmp_path):
    config = eval_config(tmp_path)
    result = run("eval", config, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)  # stdout is the document and nothing else
    assert document == json.loads((tmp_path / "out" / "results.json").read_text())
    assert [(r["dataset"], r["name"], r["status"]) for r in document["runs"]] == \
        [("tiny-qa", "sparse", "ok"), ("tiny-qa", "dense", "ok")]
    assert document["runs"][0]["metrics"]["source_hit@1"] == 1.0
    assert "Report:" in result.stderr and "ragkit eval —" not in result.stdout
    tables = run("eval", config)
    assert "ragkit eval — tiny-qa" in tables.stdout


def info_last_ingest(index) -> dict:
    result = run("info", "--index", index, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["last_ingest"]


def test_info_shows_the_latest_ingest_even_when_it_changed_nothing(docs, tmp_path, fast_config):
    index = tmp_path / "idx"
    assert run("ingest", docs, "--index", index, "--config", fast_config).exit_code == 0
    first = info_last_ingest(index)
    assert (first["added"], first["unchanged"], first["generation"]) == (4, 0, "gen-000001")

    # Nothing changed: no new generation is written, yet info must show this ingest, not the first.
    assert run("ingest", docs, "--index", index, "--config", fast_config).exit_code == 0
    second = info_last_ingest(index)
    assert (second["added"], second["unchanged"], second["chunks_embedded"]) == (0, 4, 0)
    assert second["generation"] == "gen-000001" and second["finished_at"] >= first["finished_at"]

    (docs / "cats.txt").write_text("Cats purr when content and sleep in the sun.", encoding="utf-8")
    assert run("ingest", docs, "--index", index, "--config", fast_config).exit_code == 0
    third = info_last_ingest(index)
    assert (third["updated"], third["unchanged"], third["generation"]) == (1, 3, "gen-000002")

    table = run("info", "--index", index).stdout
    assert "0 added, 1 updated, 3 unchanged" in " ".join(table.split())


def test_info_trusts_the_manifest_over_a_record_older_than_the_live_generation(docs, tmp_path, fast_config):
    from ragkit.store.info import LAST_INGEST

    index = tmp_path / "idx"
    run("ingest", docs, "--index", index, "--config", fast_config)
    # As if an ingest crashed after publishing gen-000002 but before recording itself.
    (index / LAST_INGEST).write_text(json.dumps({"added": 99, "generation": "gen-000000"}))
    last = info_last_ingest(index)
    assert last["added"] == 4 and last["generation"] == "gen-000001" and last["finished_at"]
    (index / LAST_INGEST).write_text("{not json")
    assert info_last_ingest(index)["added"] == 4
