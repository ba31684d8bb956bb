"""The command line as a user meets it (issue 10, points 2-6): text printed literally, one-line errors
instead of tracebacks, exit codes as the README lists them, help that reads well, and choosing a
model with flags or environment variables instead of YAML."""

import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import get_args, get_type_hints

import pytest
from typer.testing import CliRunner

from ragkit.cli import app

from conftest import REPO, write_docs

runner = CliRunner()
COMMANDS = ["ingest", "search", "info", "ask", "chat", "eval", "models"]
BRACKETS = "Set options[debug] to true. See note [1] and [/] here."


def run(*args, env=None, input=None):
    return runner.invoke(app, [str(a) for a in args], env=env, input=input)


@pytest.fixture
def bracket_index(tmp_path, fast_config):
    """An index in a folder named ``idx[v2]`` over one document full of square brackets."""
    write_docs(tmp_path / "docs", {"notes[draft].txt": BRACKETS})
    index = tmp_path / "idx[v2]"
    result = run("ingest", tmp_path / "docs", "--index", index, "--config", fast_config)
    assert result.exit_code == 0, result.output
    assert "idx[v2]" in result.stdout    # the summary names the index as it is
    return index


# --------------------------------------------------------------------------- 2. literal text


def test_search_shows_document_text_and_sources_literally(bracket_index, fast_config):
    result = run("search", "options debug", "--index", bracket_index, "--config", fast_config)
    assert result.exit_code == 0
    flat = " ".join(result.stdout.replace("│", " ").split())
    assert "notes[draft].txt" in flat
    assert "options[debug]" in flat and "note [1] and [/] here" in flat


def test_ask_extract_quotes_brackets_literally(bracket_index, fast_config):
    result = run("ask", "what about options debug?", "--index", bracket_index, "--config", fast_config,
                 "--chain", "extract")
    assert result.exit_code == 0, result.output
    assert "options[debug]" in result.stdout.splitlines()[0]
    flat = " ".join(result.stdout.split())
    assert "[1] notes[draft].txt" in flat and "[/]" in flat
    assert "note [1] and [/] here" in flat  # the document's own "[1]" stays in the quote


def test_info_and_error_messages_show_paths_literally(bracket_index, tmp_path, fast_config):
    assert "idx[v2]" in run("info", "--index", bracket_index).stdout
    missing = tmp_path / "other[v2]"
    result = run("search", "x", "--index", missing, "--config", fast_config)
    assert result.exit_code == 1 and f"no index at {missing}" in result.stderr


def test_batch_query_problems_name_the_file_literally(bracket_index, tmp_path, fast_config):
    queries = tmp_path / "q[v2].jsonl"
    queries.write_text('{"_id": "a", "text": "options"}\n[1, 2]\n')
    result = run("search", "--queries", queries, "--index", bracket_index, "--config", fast_config)
    assert result.exit_code == 3 and f"{queries}:2: skipped" in result.stderr


def test_chat_shows_the_session_name_and_the_interrupt_notice_literally(bracket_index, fast_config, monkeypatch):
    def interrupted(self, message, on_token=None, on_status=None):
        raise KeyboardInterrupt

    monkeypatch.setattr("ragkit.generation.chat.ChatSession.turn", interrupted)
    result = run("chat", "--session", "a[b]", "--index", bracket_index, "--config", fast_config,
                 "--chain", "extract", "--history", bracket_index.parent / "chat.sqlite", input="hello\n")
    assert result.exit_code == 0, result.output
    assert "Session a[b] (0 earlier turns)" in result.stderr
    assert "[interrupted — this turn was not saved]" in result.stderr


def test_eval_shows_run_and_data_set_names_literally(docs, tmp_path):
    (tmp_path / "qa.jsonl").write_text(json.dumps({"id": "a", "question": "Which planet has rings?",
                                                    "answers": ["Saturn"], "source": "space/planets.txt"}) + "\n")
    config = tmp_path / "eval.yaml"
    config.write_text("datasets:\n  - {name: 'qa[1]', kind: qa, documents: docs, qa: qa.jsonl}\n"
                      "config: {embedder: {kind: hash}}\n"
                      "pipelines:\n  - {name: 'sparse[bm25]', search: {mode: sparse}, ask: {chain: extract}}\n"
                      "metrics: [source_hit@1]\nout: out\n")
    result = run("eval", config)
    assert result.exit_code == 0, result.output
    assert "ragkit eval — qa[1]" in result.stdout and "sparse[bm25]" in result.stdout
    assert "qa[1] / sparse[bm25]: 1" in result.stderr     # the plain progress line


def test_ask_help_shows_citation_brackets():
    assert "[n] = file:page" in run("ask", "--help").stdout


# --------------------------------------------------------------------------- 3. no tracebacks


@pytest.mark.parametrize("command", [["search", "x"], ["info"], ["ask", "x"], ["ingest", "docs"]])
def test_an_index_that_is_a_file_is_one_error_line(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "file.txt").write_text("not an index")
    result = run(*command, "--index", "file.txt")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: the index file.txt is a file; an index is a folder (check --index or $RAGKIT_INDEX)"]
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_config_value_of_the_wrong_type_is_one_error_line(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("search:\n  weights: 3\n")
    result = run("search", "x", "--config", config, "--index", tmp_path / "idx")
    assert result.exit_code == 1    # a bad config file is an error, not a usage error
    assert result.stderr.startswith(f"Error: {config} line 2: 'search.weights' must be a mapping")
    assert len(result.stderr.strip().splitlines()) == 1


# Starts the CLI as the console script does, with a real SIGINT sent to itself when `module` is
# first imported: Ctrl-C while typer loads, or while a command imports its stage. Ctrl-C is set
# as a terminal's foreground job has it: run from a background job (`pytest ... &` in a script),
# the child inherits SIGINT ignored, Python keeps it ignored, and the CLI rightly stays deaf to it.
CTRL_C = """
import builtins, os, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
module, sys.argv = sys.argv[1], ["ragkit", *sys.argv[2:]]
real_import = builtins.__import__
def importing(name, *args, **kwargs):
    if name == module and name not in sys.modules:
        os.kill(os.getpid(), signal.SIGINT)
    return real_import(name, *args, **kwargs)
builtins.__import__ = importing
from ragkit.cli import run
run()
"""


@pytest.mark.parametrize("module, args", [
    ("typer", ["--help"]),                               # before any command exists
    ("ragkit.cli.common", ["search", "x"]),              # while the commands are registered
    ("ragkit.retrieval.search", ["search", "x"]),        # in the command, importing its stage
])
def test_ctrl_c_during_start_up_exits_130_without_a_traceback(tmp_path, module, args):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", CTRL_C, module, *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip().endswith("Error: interrupted")


def test_the_console_script_is_the_interrupt_safe_entry_point():
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert 'ragkit = "ragkit.cli:run"' in text
    assert signal.SIGINT  # the test above sends a real one


# --------------------------------------------------------------------------- 4. exit codes


@pytest.mark.parametrize("args, says", [
    (["search", "x", "--mode", "bogus"], "Invalid value for '--mode' / '-m': 'bogus' is not one of 'dense'"),
    (["ask", "x", "--chain", "bogus"], "Invalid value for '--chain': 'bogus' is not one of 'auto'"),
    (["ask", "x", "--strategy", "x"], "Invalid value for '--strategy' / '-s': 'x' is not one of 'none'"),
    (["chat", "--expand", "y"], "Invalid value for '--expand': 'y' is not one of 'none', 'parent', 'window'"),
    (["ask", "x", "--llm", "bogus"], "'bogus' is not one of 'fake', 'langchain', 'local', 'openai'"),
    (["search", "x", "-k", "0"], "0 is not a count of 1 or more"),
    (["ask", "x", "--top-k", "-3"], "-3 is not a count of 1 or more"),
    (["ask"], "Missing argument 'QUESTION'"),
    (["search", "x", "--bogus"], "No such option: --bogus"),
    (["bogus"], "No such command 'bogus'"),
    (["search"], "give a QUERY or --queries FILE"),
])
def test_a_bad_command_line_is_a_one_line_usage_error(tmp_path, monkeypatch, args, says):
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and says in lines[0], lines
    assert "Traceback" not in result.output


def test_fixed_choices_match_the_config():
    from ragkit.cli import common
    from ragkit.config import AskConfig, SearchConfig

    ask, search = get_type_hints(AskConfig), get_type_hints(SearchConfig)
    assert get_args(common.Mode) == get_args(search["mode"])
    assert get_args(common.Strategy) == get_args(ask["strategy"])
    assert get_args(common.Chain) == get_args(ask["chain"])
    assert get_args(common.Expand) == get_args(ask["expand"])


# --------------------------------------------------------------------------- 5. help


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_readable_help_with_an_example(command):
    long, short = run(command, "--help"), run(command, "-h")
    assert long.exit_code == short.exit_code == 0 and long.stdout == short.stdout
    text = long.stdout
    for noise in ("<bool>", "<str>", "<path>", "<int>", "list[", "{"):
        assert noise not in text.split("Examples:")[0].replace('{"_id","text"}', ""), (command, noise)
    assert f"ragkit {command} " in text.split("Usage:")[1]    # an example, not only the usage line
    assert "-h, --help" in text
    options = [line for line in text.splitlines() if line.strip().startswith("-")]
    assert options, text


@pytest.mark.parametrize("command", ["search", "ask", "chat"])
def test_defaults_and_choices_are_in_the_help(command):
    text = " ".join(run(command, "-h").stdout.split())
    assert "-k, --top-k N" in text
    assert "[default: search.mode in the config, else hybrid]" in text
    assert "dense (embeddings), sparse (BM25) or hybrid (both" in text


def test_group_help_points_to_command_help():
    text = run("-h").stdout
    assert "ragkit COMMAND -h" in text and "models" in text


# --------------------------------------------------------------------------- 6. choosing a model


class StandIn:
    """An OpenAI-compatible chat server on 127.0.0.1 that records requests and always answers the same."""

    def __init__(self, answer="Saturn has rings [1]."):
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                outer.requests.append(request)
                if request.get("stream"):
                    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": request["model"],
                             "choices": [{"index": 0, "delta": {"role": "assistant", "content": answer},
                                          "finish_reason": None}]}
                    body, ctype = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n", "text/event-stream"
                else:
                    body = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": request["model"],
                                       "choices": [{"index": 0, "finish_reason": "stop",
                                                    "message": {"role": "assistant", "content": answer}}],
                                       "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}})
                    ctype = "application/json"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body.encode())))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def models(self):
        return [request["model"] for request in self.requests]


@pytest.fixture
def stand_in():
    server = StandIn()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def planets(docs, tmp_path, fast_config):
    index = tmp_path / "idx"
    assert run("ingest", docs, "--index", index, "--config", fast_config).exit_code == 0
    return ["--index", index, "--config", fast_config]


def test_ask_reaches_a_server_given_on_the_command_line(planets, stand_in):
    result = run("ask", "Which planet has rings?", *planets, "--chain", "stuff", "--llm", "openai",
                 "--base-url", stand_in.url, "--model", "x")
    assert result.exit_code == 0, result.output
    assert stand_in.models() == ["x"] and "Saturn has rings" in result.stdout


def test_a_base_url_alone_means_an_openai_compatible_server(planets, stand_in):
    result = run("ask", "Which planet has rings?", *planets, "--base-url", stand_in.url, "--model", "llama3.2",
                 "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert stand_in.models() == ["llama3.2"] and data["chain"] == "stuff"   # auto: stuff for a capable model


def test_environment_variables_choose_the_model_and_flags_beat_them(planets, stand_in):
    env = {"RAGKIT_BASE_URL": stand_in.url, "RAGKIT_MODEL": "from-env", "RAGKIT_LLM": "openai"}
    assert run("ask", "Which planet has rings?", *planets, "--json", env=env).exit_code == 0
    assert run("ask", "What do cats hunt?", *planets, "--json", "--model", "from-flag", env=env).exit_code == 0
    assert stand_in.models() == ["from-env", "from-flag"]


def test_environment_beats_the_config_file(docs, tmp_path, stand_in):
    config = tmp_path / "c.yaml"
    config.write_text(f"embedder: {{kind: hash}}\nllm: {{kind: openai, base_url: '{stand_in.url}', model: from-config}}\n")
    index = tmp_path / "idx"
    run("ingest", docs, "--index", index, "--config", config)
    assert run("ask", "Which planet has rings?", "--index", index, "--config", config, "--json").exit_code == 0
    assert run("ask", "What do cats hunt?", "--index", index, "--config", config, "--json",
               env={"RAGKIT_MODEL": "from-env"}).exit_code == 0
    assert stand_in.models() == ["from-config", "from-env"]


def test_eval_flags_replace_the_model_of_every_pipeline(docs, tmp_path, stand_in):
    (tmp_path / "qa.jsonl").write_text(json.dumps({"id": "a", "question": "Which planet has rings?",
                                                    "answers": ["Saturn"], "source": "space/planets.txt"}) + "\n")
    config = tmp_path / "eval.yaml"
    config.write_text("datasets:\n  - {name: qa, kind: qa, documents: docs, qa: qa.jsonl}\n"
                      "config: {embedder: {kind: hash}}\n"
                      "pipelines:\n  - {name: stuff, ask: {chain: stuff}}\n"
                      "  - {name: other, ask: {chain: stuff}, llm: {kind: local, model: nothing.gguf}}\n"
                      "metrics: [source_hit@1, contains]\nout: out\n")
    result = run("eval", config, "--base-url", stand_in.url, "--model", "x")
    assert result.exit_code == 0, result.output + result.stderr
    assert stand_in.models() == ["x"]   # the second run's identical prompt is a cache hit
    results = json.loads(next((tmp_path / "out").glob("llm-*/results.json")).read_text())
    assert "x" in json.dumps(results)


def test_models_lists_backends_default_and_configured(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-key")
    result = run("models")
    assert result.exit_code == 0
    for name in ("local", "openai", "langchain", "hash", "SmolLM2", "all-MiniLM-L6-v2", "gpt-4o-mini"):
        assert name in result.stdout
    assert "sk-test-secret-key" not in result.stdout
    data = json.loads(run("models", "--json", env={"RAGKIT_LLM": "openai"}).stdout)
    chat = {row["kind"]: row for row in data["llm"]}
    assert chat["local"]["default"] and chat["openai"]["configured"] and not chat["local"]["configured"]
    assert chat["fake"]["status"] == "registered by a plugin"     # the tests' scripted model
    assert {row["kind"] for row in data["embedder"]} >= {"local", "openai", "hash"}
    rerankers = {row["kind"]: row for row in data["rerank"]}
    assert rerankers["none"]["default"] and rerankers["none"]["configured"] and rerankers["http"]["status"] == "ready"
    assert rerankers["fake"]["status"] == "registered by a plugin" and "Rerankers (--rerank" in result.stdout


def test_models_table_describes_exactly_the_built_in_backends():
    from ragkit.cli.models import CHAT_MODELS, EMBEDDERS
    from ragkit.embedders import EMBEDDERS as EMBEDDER_REGISTRY
    from ragkit.llm import LLMS
    from ragkit.llm.openai import DEFAULT_OPENAI_MODEL

    assert set(CHAT_MODELS) == set(LLMS) - {"fake"}
    from ragkit.cli.models import RERANKERS
    from ragkit.rerank import RERANKERS as RERANKER_REGISTRY

    assert set(RERANKERS) == set(RERANKER_REGISTRY) - {"fake"}
    assert set(EMBEDDERS) <= set(EMBEDDER_REGISTRY)
    assert CHAT_MODELS["openai"].model.startswith(DEFAULT_OPENAI_MODEL)
