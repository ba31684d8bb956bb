"""The rough edges a new user met (issue 20 point 5), each pinned by a test."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from ragkit.cli import app

from conftest import REPO, have_local_model, write_docs

runner = CliRunner()


def test_help_says_the_fusion_the_default_uses():
    from ragkit.config import SearchConfig

    assert SearchConfig().fusion == "convex"
    for command in (["search", "--help"], ["ask", "--help"]):
        text = " ".join(runner.invoke(app, command, env={"COLUMNS": "200"}).stdout.split())
        assert "fused by reciprocal rank fusion" not in text and "weighted sum of their normalised scores" in text


def test_ingest_of_an_empty_folder_warns(tmp_path, fast_config):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["ingest", str(tmp_path / "empty"), "--index", str(tmp_path / "i"),
                                 "--config", str(fast_config)])
    assert result.exit_code == 0 and "the index is empty" in result.stderr and ".pdf" in result.stderr


def test_the_fast_config_writes_its_index_where_index_says_not_next_to_itself(tmp_path, monkeypatch):
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    write_docs(tmp_path / "docs", {"a.md": "Cats hunt mice at night."})
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["ingest", "docs", "--config", "configs/fast.yaml"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / ".ragkit").is_dir() and not list((tmp_path / "configs").glob(".ragkit*"))
    result = runner.invoke(app, ["ingest", "docs", "--config", "configs/fast.yaml", "--index", "elsewhere"])
    assert result.exit_code == 0 and (tmp_path / "elsewhere").is_dir()


def test_ingest_refuses_another_embedder_unless_rebuild(tmp_path, fast_config):
    docs = write_docs(tmp_path / "docs", {"a.md": "Cats hunt mice at night."})
    other = tmp_path / "other.yaml"
    other.write_text("embedder: {kind: hash, dimension: 64}\n")
    args = ["ingest", str(docs), "--index", str(tmp_path / "i")]
    assert runner.invoke(app, [*args, "--config", str(fast_config)]).exit_code == 0
    refused = runner.invoke(app, [*args, "--config", str(other)])
    assert refused.exit_code == 1 and "--rebuild" in refused.stderr and "64-d" in refused.stderr
    assert runner.invoke(app, [*args, "--config", str(other), "--rebuild"]).exit_code == 0


def test_eval_on_a_settings_file_says_it_is_one():
    result = runner.invoke(app, ["eval", str(REPO / "configs" / "default.yaml")])
    assert result.exit_code != 0 and "is a settings file (for --config), not an eval config" in result.stderr


def test_a_refusal_prints_no_sources_table_and_json_has_no_trace_without_trace(tmp_path, fast_config):
    docs = write_docs(tmp_path / "docs", {"a.md": "Cats hunt mice at night."})
    runner.invoke(app, ["ingest", str(docs), "--index", str(tmp_path / "i"), "--config", str(fast_config)])
    args = ["ask", "How many cars did Tesla sell in 2023?", "--chain", "extract", "--index", str(tmp_path / "i"),
            "--config", str(fast_config)]
    shown = runner.invoke(app, args)
    assert "do not contain the answer" in shown.stdout and "Sources" not in shown.stdout
    assert "trace" not in json.loads(runner.invoke(app, [*args, "--json"]).stdout)


@pytest.mark.integration
@pytest.mark.skipif(not have_local_model(), reason="local model packages not installed")
def test_the_readme_pdf_example_answers_from_the_field_notes(tmp_path):
    shutil.copytree(REPO / "sample_docs", tmp_path / "sample_docs")
    assert runner.invoke(app, ["ingest", str(tmp_path / "sample_docs"), "--index", str(tmp_path / "i")]).exit_code == 0
    for extra in ([], ["--expand", "window"]):
        result = runner.invoke(app, ["ask", "What should happen to a PDF that fails to parse?", "--chain", "extract",
                                     "--index", str(tmp_path / "i"), "--json", *extra])
        data = json.loads(result.stdout)
        assert not data["refused"] and any(s["source"] == "field-notes.pdf" for s in data["sources"])


@pytest.mark.parametrize("extras", ["installed", "missing"])
def test_models_wraps_at_80_columns_between_words(extras, hide):
    # CI's dev install lacks local-qwen, whose "pip install 'ragkit[local-qwen]'" status widened a table to 81.
    from ragkit.extras import EXTRAS

    if extras == "missing":
        hide(*(module for extra in EXTRAS.values() for module in extra.modules))
    data = json.loads(runner.invoke(app, ["models", "--json"]).stdout)
    shown = runner.invoke(app, ["models"], env={"COLUMNS": "80"}).stdout
    assert max(len(line.rstrip()) for line in shown.splitlines()) <= 80
    words = set(shown.split())
    for row in data["llm"] + data["embedder"]:
        for word in (row["model"] + " " + row["status"]).split():
            assert word in words, word   # never cut across two lines


def test_a_filter_on_a_key_no_chunk_has_lists_the_keys(tmp_path, fast_config):
    docs = write_docs(tmp_path / "docs", {"a.md": "Cats hunt mice at night."})
    runner.invoke(app, ["ingest", str(docs), "--index", str(tmp_path / "i"), "--config", str(fast_config)])
    args = ["search", "cats", "--index", str(tmp_path / "i"), "--config", str(fast_config)]
    result = runner.invoke(app, [*args, "--filter", "nosuchkey=1"])
    assert result.exit_code != 0 and "'nosuchkey'" in result.stderr and "source" in result.stderr
    assert "page" in result.stderr
    asked = runner.invoke(app, ["ask", "what do cats hunt?", "--chain", "extract", *args[2:], "--filter", "nosuchkey=1"])
    assert asked.exit_code != 0 and "'nosuchkey'" in asked.stderr
    known = runner.invoke(app, [*args, "--filter", "source=other.md"])   # a known key, no match: no error
    assert known.exit_code == 0 and "No results" in known.stderr


def test_html_pages_lose_navigation_headers_footers_and_pop_ups(tmp_path):
    from ragkit.ingest.loaders import _html_text

    page = ('<html><head><title>Ownership</title></head><body>'
            '<div id="help" role="dialog"><h2>Keyboard shortcuts</h2><p>Press ← or → to navigate</p></div>'
            '<nav id="sidebar"><a href="a.html">1. Getting started</a></nav><header>The Book</header>'
            '<main><h1>Ownership</h1><p>Each value has an owner.</p></main><footer>Licensed MIT</footer></body></html>')
    text, title = _html_text(page)
    assert text == "Ownership\nEach value has an owner." and title == "Ownership"
    assert _html_text("<p>A page with no main.</p><nav>Menu</nav>")[0] == "A page with no main."


@pytest.mark.parametrize("made_by_user", [False, True])
def test_ctrl_c_on_a_first_ingest_says_no_index_was_written_and_leaves_no_lock(tmp_path, fast_config, monkeypatch,
                                                                               made_by_user):
    import ragkit.ingest.pipeline as pipeline

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    docs = write_docs(tmp_path / "docs", {"a.md": "Cats hunt mice at night."})
    if made_by_user:
        (tmp_path / "i").mkdir()
    monkeypatch.setattr(pipeline, "load_and_split", interrupted)
    result = runner.invoke(app, ["ingest", str(docs), "--index", str(tmp_path / "i"), "--config", str(fast_config)])
    assert result.exit_code == 130 and "no index was written" in result.stderr
    assert not (tmp_path / "i" / "lock").exists() and (tmp_path / "i").exists() == made_by_user
