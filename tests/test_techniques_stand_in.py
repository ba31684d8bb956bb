"""Every query strategy through ``ragkit eval`` against a scripted OpenAI-compatible server (issue 23, point 5).

The server (tests/chat_stand_in.py on tests/stand_in.py's StandIn, 127.0.0.1 only) recognises each of ragkit's
prompts and answers as a capable model would, or with junk. One eval run covers every strategy of
``ragkit.choices.STRATEGIES`` with answers on; the checks read the eval's own reports and traces and what the
server was sent. The corpus is five short company reports with years in their names, so self-query has
something to filter on, and one question ("Globex's employees in 2023") that ``none`` answers from the wrong
year's report.
"""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragkit.choices import STRATEGIES
from ragkit.cli import app
from ragkit.errors import EXIT_PARTIAL
from ragkit.evaluation.spec import load_eval_config, pipeline_config
from ragkit.retrieval.transforms import MAX_SUB_QUESTIONS

from chat_stand_in import KINDS, capable, chat_reply, completion, kind_of, question_of
from conftest import REPO, have_local_model, write_docs
from stand_in import StandIn

runner = CliRunner()

DOCS = {
    "acme-2022.txt": "Acme Corporation annual report for 2022. Acme made 120 anvils a day at its Tucson works. "
                     "The company sold rockets to coyotes across the desert.",
    "acme-2023.txt": "Acme Corporation annual report for 2023. Acme opened a second plant in Phoenix. "
                     "Anvil output doubled after the new furnace was installed.",
    # The wrong year's report says "employees" and "2023" more often than the right one: none ranks it first.
    "globex-2022.txt": "Globex annual report for 2022. Globex had 1,200 employees. The board expects Globex employees "
                       "in 2023 to rise, and hiring employees for 2023 is the plan for 2023.",
    "globex-2023.txt": "Globex annual report for 2023. Globex ended 2023 with 1,450 people on its payroll. "
                       "Revenue grew to 90 million dollars.",
    "initech-2023.txt": "Initech annual report for 2023. Initech sells printer software to banks. "
                        "Its offices moved to Austin in the spring.",
}
QA = [
    {"id": "globex", "question": "How many employees did Globex have in 2023?", "answers": ["1,450"],
     "source": "globex-2023.txt"},
    {"id": "anvils", "question": "How many anvils a day did Acme make in 2022?", "answers": ["120"],
     "source": "acme-2022.txt"},
    {"id": "plant", "question": "Where did Acme open its second plant?", "answers": ["Phoenix"],
     "source": "acme-2023.txt"},
    {"id": "offices", "question": "Where did Initech move its offices?", "answers": ["Austin"],
     "source": "initech-2023.txt"},
]
# What each strategy sends the model besides the answer (the stuff chain's prompt): its own prompt, or none.
# A strategy added to ragkit.choices without a line here fails test_every_strategy_is_covered.
TECHNIQUE_KIND = {"none": None, "multi-query": "rewrite", "rag-fusion": "rewrite", "hyde": "hyde",
                  "step-back": "step-back", "decompose": "decompose", "self-query": "self-query", "ircot": "ircot"}
METRICS = ["source_hit@1", "source_hit@5", "contains_answer", "citation_validity", "llm_calls", "cached_calls"]


def test_every_strategy_is_covered():
    assert list(TECHNIQUE_KIND) == list(STRATEGIES)
    assert {kind for kind in TECHNIQUE_KIND.values() if kind} | {"answer"} == set(KINDS)


@pytest.fixture
def reports(tmp_path) -> Path:
    """The five reports, their questions and an eval config with one pipeline per strategy (no model cache, so
    that every call reaches the server and each run's calls can be matched to what the server got)."""
    write_docs(tmp_path / "docs", DOCS)
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(item) + "\n" for item in QA), encoding="utf-8")
    pipelines = "".join(f"  - {{name: {name}, ask: {{strategy: {name}}}}}\n" for name in STRATEGIES)
    config = tmp_path / "techniques.yaml"
    config.write_text("datasets:\n  - {name: reports, kind: qa, documents: docs, qa: qa.jsonl}\n"
                      "config:\n  embedder: {kind: hash}\n  splitter: {chunk_size: 300, chunk_overlap: 30}\n"
                      "  llm: {cache: false}\n  search: {mode: hybrid}\n  ask: {k: 3}\n"
                      f"pipelines:\n{pipelines}metrics: [{', '.join(METRICS)}]\n", encoding="utf-8")
    return config


def run_eval(config: Path, server: StandIn, out: Path):
    """``ragkit eval CONFIG --base-url <server> --json``: the result, the results document and every run's traces."""
    result = runner.invoke(app, ["eval", str(config), "--base-url", server.root + "/v1", "--model", "stand-in",
                                 "--out", str(out), "--json"])
    results = json.loads(result.stdout) if result.stdout.strip().startswith("{") else None
    traces = {}
    for path in sorted((out / "traces").glob("*/*.jsonl")):
        traces[path.stem] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return result, results, traces


def runs_of(results: dict) -> dict:
    return {run["name"]: run for run in results["runs"]}


def calls_by_run(server: StandIn, traces: dict, names) -> dict:
    """The server's requests cut into each run's, in run order, by the calls each run's trace says it made.

    A miscount anywhere shifts every later run's share, and the kinds checks on the shares catch it.
    """
    bodies = [r["json"] for r in server.requests]
    shares, at = {}, 0
    for name in names:
        share = []
        for record in traces[name]:
            share.append(bodies[at:at + record["llm_calls"]])
            at += record["llm_calls"]
        shares[name] = share
    assert at == len(bodies), f"the traces count {at} model calls, the server got {len(bodies)}"
    return shares


# --------------------------------------------------------------------------- 1. a capable model


@pytest.fixture
def capable_server():
    server = StandIn(chat_reply(capable))
    yield server
    server.close()


def test_every_technique_runs_through_an_openai_compatible_server(reports, capable_server, tmp_path):
    result, results, traces = run_eval(reports, capable_server, tmp_path / "out")
    assert result.exit_code == 0, result.output + result.stderr
    runs = runs_of(results)
    assert list(runs) == list(STRATEGIES)
    for name, run in runs.items():
        assert run["status"] == "ok" and run["n_queries"] == len(QA), run
        assert set(METRICS) <= set(run["metrics"]) and run["models"]["llm"].startswith("openai:stand-in@"), run
        assert run["metrics"]["citation_validity"] == 1.0 and run["metrics"]["cached_calls"] == 0
        assert all(r["answered_by"] == "model" and r["citations"] for r in traces[name]), name

    shares = calls_by_run(capable_server, traces, STRATEGIES)
    for name, kind in TECHNIQUE_KIND.items():
        for record, bodies in zip(traces[name], shares[name]):
            kinds = [kind_of(body) for body in bodies]
            assert set(kinds) <= {kind, "answer"} and "answer" in kinds, (name, kinds)
            # Each transform asks once a question; IRCoT once a step that had a model call.
            wanted = {None: 0, "ircot": len([s for s in record.get("steps", []) if s["raw"] is not None])}.get(kind, 1)
            assert kinds.count(kind) == wanted, (name, kinds)
            assert all(question_of(body) == record["query"] for body in bodies if kind_of(body) == kind)
    _check_effects(traces, shares, runs)


def _check_effects(traces: dict, shares: dict, runs: dict) -> None:
    """What each technique did with the server's replies, as the traces record it."""
    for record in traces["multi-query"] + traces["rag-fusion"]:
        assert len(record["queries"]) == 4 and record["queries"][1].startswith("What do the documents say about")
    for record in traces["hyde"]:
        assert record["queries"][-1].startswith("The annual report gives the figure for")
    for record in traces["step-back"]:
        assert len(record["queries"]) == 2 and record["queries"][1].startswith("What is known about")
        assert not any("not shorter" in note for note in record["notes"])
    for record, bodies in zip(traces["decompose"], shares["decompose"]):
        sub = json.loads(capable("decompose", bodies[0]))["questions"]
        assert record["sub_questions"] == sub and len(sub) <= MAX_SUB_QUESTIONS
        asked = [question_of(b) for b in bodies if kind_of(b) == "answer"]
        assert asked[:len(sub)] == sub and len(asked) == len(sub) + 1   # each sub-question, then the question
    filters = {r["query_id"]: r["filters"] for r in traces["self-query"]}
    # The rules read the year; the model's filter names the file whose name holds "Initech".
    assert filters == {"globex": {"source": "*2023*"}, "anvils": {"source": "*2022*"}, "plant": {},
                       "offices": {"source": "initech-2023.txt"}}
    held = [b for share in shares["self-query"] for b in share if kind_of(b) == "self-query"]
    assert all(b["response_format"]["type"] == "json_schema" for b in held)
    offices = next(r for r in traces["self-query"] if r["query_id"] == "offices")
    assert {c["source"] for c in offices["chunks"]} == {"initech-2023.txt"}
    assert "model: source=initech-2023.txt" in offices["notes"]
    for record in traces["ircot"]:
        assert record["steps"] and all(s["sentence"] == s["raw"] for s in record["steps"])
        assert record["steps"][-1]["stop"], record["steps"]
    # The measured difference: none ranks the 2022 report first for Globex's 2023 staff, self-query the 2023 one.
    first = {name: {r["query_id"]: r["chunks"][0]["source"] for r in traces[name]} for name in ("none", "self-query")}
    assert first["none"]["globex"] == "globex-2022.txt" and first["self-query"]["globex"] == "globex-2023.txt"
    assert runs["none"]["metrics"]["source_hit@1"] == 0.75 and runs["self-query"]["metrics"]["source_hit@1"] == 1.0


# --------------------------------------------------------------------------- 2. junk replies

JUNK = {
    "empty": lambda body: "",
    "markup": lambda body: "<answer>\n</answer>",
    "echo": lambda body: question_of(body),
    # Cut off before any value closed (a value that did close, a rewrite say, is used: that is no junk).
    "invalid json": lambda body: '{"query": ["',
}
# The note each technique leaves when the model's reply is junk (ircot's names the problem after it).
FALLBACK_NOTE = {
    "multi-query": "model returned no usable rewrites; using the original question",
    "rag-fusion": "model returned no usable rewrites; using the original question",
    "hyde": "no usable hypothetical passage; searching with the original question only",
    "step-back": "model returned no usable step-back question; using the original question",
    "decompose": "model returned no usable sub-questions; answering the original question directly",
    "self-query": "the model's reply is not JSON: no model filter",
    "ircot": "ircot step 1: the model's sentence was not searched (",
}


@pytest.mark.parametrize("junk", JUNK)
def test_junk_from_the_server_falls_back_with_a_note_for_every_technique(reports, tmp_path, junk):
    assert set(FALLBACK_NOTE) == set(STRATEGIES) - {"none"}
    server = StandIn(chat_reply(lambda kind, body: JUNK[junk](body)))
    try:
        result, results, traces = run_eval(reports, server, tmp_path / "out")
    finally:
        server.close()
    assert result.exit_code == 0, result.output + result.stderr
    assert all(run["status"] == "ok" for run in results["runs"])
    calls_by_run(server, traces, STRATEGIES)
    for name in STRATEGIES:
        for record in traces[name]:
            # No junk shown as an answer: every answer is extract's quotes, and says why.
            assert record["answered_by"] == "extract" and record["fallback_reason"], (name, record)
            assert record["answer"].strip() and not record["refused"] and record["answer"] != record["query"]
            assert record["queries"][0] == record["query"]
            if name != "none":
                assert any(note.startswith(FALLBACK_NOTE[name]) for note in record["notes"]), (name, record["notes"])
        if name == "decompose":
            assert all(r["sub_questions"] == [r["query"]] for r in traces[name])
        if name == "ircot":
            assert all(len(r["steps"]) == 1 and r["steps"][0]["sentence"] is None for r in traces[name])
    # The rules still filter without the model's help.
    assert {r["query_id"]: r["filters"] for r in traces["self-query"]}["globex"] == {"source": "*2023*"}


def test_a_server_error_on_a_techniques_prompt_fails_that_run_alone_in_one_line(reports, tmp_path):
    """HTTP 500 on every technique's own prompt (answers still served): model errors are not fallbacks (a
    broken or misnamed server must not pass for a bad rewrite), so each technique's run fails with one line
    naming the status, and the run without a technique (none) finishes."""
    def script(kind, body):
        return (500, {"error": {"message": "the stand-in broke"}}) if kind != "answer" else capable(kind, body)

    server = StandIn(chat_reply(script))
    try:
        result, results, traces = run_eval(reports, server, tmp_path / "out")
    finally:
        server.close()
    assert result.exit_code == EXIT_PARTIAL and "Traceback" not in result.output, result.output + result.stderr
    runs = runs_of(results)
    assert runs["none"]["status"] == "ok" and runs["none"]["metrics"]["source_hit@1"] == 0.75
    for name in set(STRATEGIES) - {"none"}:
        assert runs[name]["status"] == "failed" and runs[name]["metrics"] == {}, runs[name]
        assert "returned HTTP 500" in runs[name]["error"] and "\n" not in runs[name]["error"]
        assert not traces.get(name)   # nothing recorded, so a re-run asks again
    assert f"{len(STRATEGIES) - 1} run(s) failed" in result.stderr


# --------------------------------------------------------------------------- 3. the shipped config


@pytest.mark.skipif(not have_local_model(), reason="configs/techniques.yaml uses the local embedder, not installed")
def test_the_shipped_techniques_config_runs_against_the_server(capable_server, tmp_path):
    """configs/techniques.yaml as it is (sample_docs and its 17 questions, the local embedder, retrieval only),
    with the server in place of the local model: every strategy runs, and the model calls it counts, made or
    answered from the cache (rag-fusion's rewrites are multi-query's), are the ones the server saw."""
    config = REPO / "configs" / "techniques.yaml"
    spec = load_eval_config(config)
    for pipeline in spec.pipelines:   # one retrieval-only run per strategy, named after it, the local model's
        cfg = pipeline_config(spec, pipeline)
        assert cfg.ask.strategy == pipeline.name and not pipeline.answer and cfg.llm.kind == "local"
    result, results, traces = run_eval(config, capable_server, tmp_path / "out")
    assert result.exit_code == 0, result.output + result.stderr
    runs = runs_of(results)
    assert list(runs) == list(STRATEGIES) and all(run["status"] == "ok" for run in results["runs"])
    assert all(run["n_queries"] == 17 and "source_hit@5" in run["metrics"] for run in results["runs"])
    shares = calls_by_run(capable_server, traces, STRATEGIES)
    for name, kind in TECHNIQUE_KIND.items():
        kinds = {kind_of(body) for share in shares[name] for body in share}
        assert kinds == ({kind} if kind and name != "rag-fusion" else set()), (name, kinds)
    assert runs["rag-fusion"]["metrics"]["cached_calls"] == 1.0 and runs["rag-fusion"]["metrics"]["llm_calls"] == 0
    assert all("steps" in r for r in traces["ircot"]) and all("filters" in r for r in traces["self-query"])


def test_the_stand_in_streams_when_asked():
    status, data, headers = completion({"model": "m", "stream": True}, "Two words.")
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    pieces = [json.loads(line[6:])["choices"][0]["delta"].get("content", "") for line in data.decode().splitlines()
              if line.startswith("data: {")]
    assert "".join(pieces) == "Two words." and data.decode().endswith("data: [DONE]\n\n")
