"""The rerank stage through the CLI (search, ask, chat) and eval, with the fake reranker of tests/fakes.py and the
http one against a loopback stand-in: the order changes, --trace and --json show it, a failure falls back."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.config import BACKENDS
from ragkit.errors import RerankError
from ragkit.evaluation.report import write_report
from ragkit.evaluation.runner import run_eval
from ragkit.evaluation.spec import load_eval_config
from ragkit.rerank import RERANKERS, register_reranker

from conftest import FAST_CONFIG_YAML, write_docs
from fakes import ScriptedReranker, overlap_scores
from stand_in import StandIn

runner = CliRunner()
REVERSE = FAST_CONFIG_YAML + "rerank: {model: reverse}\n"   # the fake reranker turns the fused order upside down
DOWN = "the stand-in reranker is down"


def run(*args, input: str | None = None):
    return runner.invoke(app, [str(a) for a in args], input=input)


@pytest.fixture
def indexed(docs, tmp_path):
    """(index folder, config file for the reversing fake reranker) over the ``docs`` folder."""
    config = tmp_path / "reverse.yaml"
    config.write_text(REVERSE)
    assert run("ingest", docs, "--index", tmp_path / "idx", "--config", config).exit_code == 0
    return tmp_path / "idx", config


@pytest.fixture
def broken():
    """``search.rerank: fake-broken``: a reranker whose every call fails with a RerankError."""
    def fail(query, texts):
        raise RerankError(DOWN)

    register_reranker("fake-broken", lambda cfg: ScriptedReranker(fail))
    yield "fake-broken"
    RERANKERS.pop("fake-broken", None)
    BACKENDS[("search", "rerank")].discard("fake-broken")


def _search(indexed, *args) -> list[dict]:
    index, config = indexed
    result = run("search", "cats mice sleep", "--index", index, "--config", config, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# --------------------------------------------------------------------------- search


def test_search_rerank_reorders_the_fused_candidates_and_json_shows_scores_and_ranks(indexed):
    fused = _search(indexed, "-k", "20")
    reranked = _search(indexed, "-k", "20", "--rerank", "fake")
    assert len(fused) >= 4 and [r["chunk_id"] for r in reranked] == [r["chunk_id"] for r in reversed(fused)]
    assert [r["rank"] for r in reranked] == list(range(1, len(fused) + 1))
    assert [r["fused_rank"] for r in reranked] == list(range(len(fused), 0, -1))
    assert [r["rerank_score"] for r in reranked] == sorted((r["rerank_score"] for r in reranked), reverse=True)
    assert all("rerank_score" not in r and "fused_rank" not in r for r in fused)
    assert reranked[0]["score"] == fused[-1]["score"]   # the fused score stays


def test_search_reranks_the_candidates_before_the_top_k_is_cut(indexed):
    everything = _search(indexed, "-k", "20")
    top2 = _search(indexed, "-k", "2", "--rerank", "fake")
    assert [r["chunk_id"] for r in top2] == [r["chunk_id"] for r in reversed(everything)][:2]


def test_search_table_shows_the_rerank_score_and_the_fused_rank(indexed):
    index, config = indexed
    result = run("search", "cats mice sleep", "--index", index, "--config", config, "--rerank", "fake")
    assert result.exit_code == 0 and "rerank" in result.stdout and "fused #" in result.stdout
    plain = run("search", "cats mice sleep", "--index", index, "--config", config)
    assert "fused #" not in plain.stdout


def test_batch_search_reranks_each_query(indexed, tmp_path):
    index, config = indexed
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"_id": "a", "text": "cats mice"}\n{"_id": "b", "text": "Saturn rings"}\n')
    lines = {}
    for rerank in ("none", "fake"):
        result = run("search", "--queries", queries, "--index", index, "--config", config, "-k", "20", "--rerank", rerank)
        assert result.exit_code == 0, result.output
        lines[rerank] = [json.loads(line) for line in result.stdout.splitlines()]
    for plain, reranked in zip(lines["none"], lines["fake"]):
        assert [r["chunk_id"] for r in reranked["results"]] == [r["chunk_id"] for r in reversed(plain["results"])]


def test_search_falls_back_to_the_fused_order_with_a_note(indexed, broken):
    index, config = indexed
    result = run("search", "cats mice sleep", "--index", index, "--config", config, "--json", "--rerank", broken)
    assert result.exit_code == 0 and json.loads(result.stdout) == _search(indexed)
    assert f"Note: reranking (fake-broken) failed, so results are in fused order: {DOWN}" in result.stderr


def test_search_rerank_usage_and_setting_errors(indexed):
    index, config = indexed
    result = run("search", "cats", "--index", index, "--config", config, "--rerank", "colbert")
    assert result.exit_code == 2 and "'colbert' is not one of 'fake', 'http', 'none'" in result.stderr
    result = run("search", "cats", "--index", index, "--config", config, "--rerank", "http")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("Error: search.rerank is 'http' but rerank.url is not set")


def test_search_through_an_http_reranker_on_loopback(indexed, tmp_path):
    """search.rerank: http end to end: the query and the candidates (as indexed) go to the server, its order wins."""
    def reply(path, body):
        scores = overlap_scores(body["query"], body["texts"])
        return 200, [{"index": i, "score": s} for i, s in sorted(enumerate(scores), key=lambda p: -p[1])]

    server = StandIn(reply)
    try:
        index, _ = indexed
        config = tmp_path / "tei.yaml"
        config.write_text(FAST_CONFIG_YAML + f"search: {{rerank: http, rerank_candidates: 3}}\n"
                                             f"rerank: {{url: '{server.root}/rerank', api: tei}}\n")
        result = run("search", "Saturn rings", "--index", index, "--config", config, "--json", "-k", "5")
        assert result.exit_code == 0, result.output
        hits = json.loads(result.stdout)
    finally:
        server.close()
    sent = server.requests[0]["json"]
    assert len(server.requests) == 1 and sent["query"] == "Saturn rings" and len(sent["texts"]) == 3
    assert hits[0]["source"] == "space/planets.txt" and hits[0]["rerank_score"] == 1.0
    assert len(hits) > 3 and [h.get("fused_rank") is not None for h in hits] == [True] * 3 + [False] * (len(hits) - 3)


# --------------------------------------------------------------------------- ask and chat


def _ask(indexed, *args):
    index, config = indexed
    return run("ask", "what do cats hunt at night?", "--index", index, "--config", config, "--chain", "extract", *args)


def test_ask_trace_shows_the_rerank_step_with_ranks_before_and_after(indexed):
    result = _ask(indexed, "--rerank", "fake", "--trace")
    assert result.exit_code == 0, result.output
    assert "reranked by fake" in result.stderr   # the table wraps the rest of the step's name
    assert "#1→#" in result.stderr and "→#1 " in result.stderr


def test_ask_json_has_the_rerank_step_and_the_sources_follow_the_reranked_order(indexed):
    plain = json.loads(_ask(indexed, "--json", "--trace", "-k", "20").stdout)
    result = _ask(indexed, "--json", "--trace", "-k", "20", "--rerank", "fake")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    step = data["rerank"]
    assert step["reranker"] == "fake" and step["error"] is None and step["candidates"] == len(step["results"]) >= 4
    assert [r["after"] for r in step["results"]] == list(range(1, step["candidates"] + 1))
    assert [r["before"] for r in step["results"]] == list(range(step["candidates"], 0, -1))
    assert "rerank" not in plain
    ranked = [chunk_id for chunk_id, _ in data["trace"]["rankings"][-1]["ranking"]]
    assert ranked == [r["chunk_id"] for r in step["results"]]
    assert ranked == [r[0] for r in reversed(plain["trace"]["rankings"][-1]["ranking"])]


def test_ask_falls_back_to_the_fused_order_with_a_visible_note(indexed, broken):
    plain = json.loads(_ask(indexed, "--json").stdout)
    result = _ask(indexed, "--rerank", broken)
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert f"Note: reranking (fake-broken) failed, so results are in fused order: {DOWN}" in result.stderr
    data = json.loads(_ask(indexed, "--json", "--trace", "--rerank", broken).stdout)
    assert data["rerank"]["error"] == DOWN and data["rerank"]["results"] == []
    assert any("fused order" in note for note in data["trace"]["notes"])
    assert data["sources"] == plain["sources"] and data["answer"] == plain["answer"]
    traced = _ask(indexed, "--rerank", broken, "--trace")
    assert "rerank by fake-broken" in traced.stderr and "fused order kept" in traced.stderr


def test_chat_reranks_each_turn(indexed, tmp_path):
    index, config = indexed
    result = run("chat", "--index", index, "--config", config, "--chain", "extract", "--json", "--rerank", "fake",
                 "--history", tmp_path / "chat.sqlite", input="what do cats hunt?\n")
    assert result.exit_code == 0, result.output
    turn = json.loads(result.stdout.splitlines()[0])
    assert turn["rerank"]["reranker"] == "fake" and turn["rerank"]["results"][0]["before"] > 1


# --------------------------------------------------------------------------- eval


def test_eval_reranks_every_pipeline_that_asks_and_counts_failures(tmp_path, broken):
    write_docs(tmp_path / "docs", {"cats.txt": "Cats hunt mice at night.", "space.txt": "Saturn has bright rings.",
                                   "dogs.txt": "Dogs guard the house at night."})
    (tmp_path / "qa.jsonl").write_text(json.dumps({"id": "a1", "question": "What do cats hunt at night?",
                                                   "answers": ["mice"], "source": "cats.txt"}) + "\n")
    config = tmp_path / "eval.yaml"
    config.write_text(f"""
datasets:
  - {{name: tiny-qa, kind: qa, documents: docs, qa: qa.jsonl}}
config: {{embedder: {{kind: hash}}, ask: {{chain: extract}}}}
pipelines:
  - {{name: fused, answer: false}}
  - {{name: reversed, answer: false, search: {{rerank: fake}}, rerank: {{model: reverse}}}}
  - {{name: broken, search: {{rerank: {broken}}}}}
metrics: [source_hit@1]
out: out
""")
    spec = load_eval_config(config)
    outcomes = {o.name: o for o in run_eval(spec, tmp_path / "out")}
    assert all(o.status == "ok" for o in outcomes.values()), [o.error for o in outcomes.values()]
    assert "rerank_failures" not in outcomes["fused"].metrics
    assert outcomes["fused"].metrics["source_hit@1"] == 1.0 and outcomes["reversed"].metrics["source_hit@1"] == 0.0
    assert outcomes["reversed"].metrics["rerank_failures"] == 0.0
    assert outcomes["reversed"].models["reranker"] == "fake:scripted-reranker"
    assert outcomes["broken"].metrics["rerank_failures"] == 1.0
    assert outcomes["broken"].warnings == [f"the reranker failed on 1 of 1 queries, which were scored in fused order "
                                           f"(first error: {DOWN})"]
    trace = json.loads((tmp_path / "out" / "traces" / "tiny-qa" / "broken.jsonl").read_text())
    assert trace["rerank"]["error"] == DOWN and trace["chunks"]
    write_report(spec, list(outcomes.values()), tmp_path / "out")
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| rerank_failures |" in report.split("What the metrics mean")[0]
    assert "reranker (search.rerank) failed" in report and "warning: the reranker failed on 1 of 1" in report


def test_eval_config_naming_an_unknown_reranker_points_at_its_line(tmp_path):
    write_docs(tmp_path / "docs", {"cats.txt": "Cats hunt mice."})
    (tmp_path / "qa.jsonl").write_text('{"id": "a1", "question": "What do cats hunt?", "answers": ["mice"]}\n')
    config = tmp_path / "eval.yaml"
    config.write_text("datasets:\n  - {name: q, kind: qa, documents: docs, qa: qa.jsonl}\npipelines:\n"
                      "  - {name: p, search: {rerank: colbert}}\n")
    result = run("eval", config)
    assert result.exit_code == 1 and "line 4" in result.stderr
    assert "'search.rerank' is 'colbert'; choose one of fake, http, none" in result.stderr
