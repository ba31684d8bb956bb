"""Keep the README true: CI runs its install and test commands, and every ragkit command in it runs here."""

import importlib.util
import json
import re
import shlex
import shutil

import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.paths import cache_dir

from conftest import REPO, have_local_model

README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
runner = CliRunner()


def _commands():
    for block in BLOCKS:
        for line in block.strip().splitlines():
            for part in line.split("&&"):
                words = shlex.split(part.strip())
                if words and words[0].endswith("ragkit"):
                    yield words[1:]


def test_ci_runs_exactly_the_readme_install_and_test_commands():
    """CI runs the dev install and the test command as the README shows them, then the user install (the quick
    start's first block, which scripts/fresh_install.py reads from the README) and each extra in fresh venvs."""
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    dev_install, test = BLOCKS[2].strip(), BLOCKS[3].strip()
    assert "'.[dev]'" in dev_install and "pytest" in test
    assert dev_install in ci and test in ci
    assert ci.index(dev_install) < ci.index(test)
    fresh = [line for line in ci if line.startswith("python3 scripts/fresh_install.py")]
    assert len(fresh) == 1 and "--extras local-llm,ray" in fresh[0]
    spec = importlib.util.spec_from_file_location("fresh_install", REPO / "scripts" / "fresh_install.py")
    fresh_install = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh_install)
    assert fresh_install.install_command("user") == BLOCKS[0].strip() == "python3 -m venv .venv && .venv/bin/pip install ."
    assert fresh_install.install_command("dev") == dev_install
    assert fresh_install.jobs_for("user")[0][1] == BLOCKS[1].strip().splitlines()[0]
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    for extra in ("local-llm", "ray", "e5"):
        assert re.search(rf"^{extra} = \[", pyproject, flags=re.M), extra


@pytest.mark.integration
@pytest.mark.skipif(not have_local_model(), reason="local model packages not installed")
def test_every_readme_command_runs_with_the_embedded_default(tmp_path, monkeypatch):
    shutil.copytree(REPO / "sample_docs", tmp_path / "sample_docs")
    shutil.copy(REPO / "sample_queries.jsonl", tmp_path / "sample_queries.jsonl")
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    (tmp_path / "benchmarks").mkdir()
    shutil.copy(REPO / "benchmarks" / "sample_docs_qa.jsonl", tmp_path / "benchmarks" / "sample_docs_qa.jsonl")
    monkeypatch.chdir(tmp_path)
    commands = list(_commands())
    assert commands[0][0] == "ingest" and commands[1][0] == "search"
    outputs = {}
    for args in commands:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output, result.stderr)
        outputs[" ".join(args)] = result.stdout
    # The quick start's question is answered from the right file.
    quick = outputs[" ".join(commands[1])]
    assert "rag-techniques.md" in quick.split("\n", 6)[-1][:2000]
    json_search = next(v for k, v in outputs.items() if "--filter source=field-notes.pdf" in k)
    hits = json.loads(json_search)
    assert hits and all(h["source"] == "field-notes.pdf" for h in hits) and hits[0]["page"] == 3
    batch = next(v for k, v in outputs.items() if "--queries" in k)
    assert len(batch.strip().splitlines()) == 3
    assert (cache_dir() / "eval" / "sample-qa" / "results.json").exists()  # the default out: never the git tree
    assert not (tmp_path / "configs" / "eval-out").exists() and not (tmp_path / "benchmarks" / "out").exists()
