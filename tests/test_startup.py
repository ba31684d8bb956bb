"""``ragkit --help``, ``--version``, ``<cmd> --help`` and shell completion start fast.

Each case runs in a fresh interpreter and checks which modules got imported — never how long it
took (timings live in benchmarks/startup.py). Heavy means a stage's dependency: the vector store,
BM25, PDF parsing, the ONNX runtime, LangChain, llama.cpp, numpy, YAML, pydantic, and markdown-it
(typer's rich help panels).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("faiss", "bm25s", "pypdf", "onnxruntime", "langchain", "llama_cpp", "numpy", "yaml", "pydantic",
         "markdown_it")
# The command modules and what they import at the top; every stage is imported inside a command body.
# ragkit.text (standard library only; bm25s is imported on first use) gives them ``printable``.
LIGHT_RAGKIT = {"ragkit", "ragkit.errors", "ragkit.text", "ragkit.cli", "ragkit.cli.main", "ragkit.cli.common",
                "ragkit.cli.ask", "ragkit.cli.search", "ragkit.cli.ingest", "ragkit.cli.eval", "ragkit.cli.models",
                "ragkit.choices"}   # the option help lists the choices: names and words, no imports

# Runs the app as the console script does (ragkit.cli:run), then writes the names of the loaded modules to argv[1].
PROBE = """
import json, sys
from ragkit.cli import run
modules_file, args = sys.argv[1], sys.argv[2:]
sys.argv = ["ragkit", *args]
try:
    run()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
with open(modules_file, "w") as handle:
    json.dump({"exit": code, "modules": sorted(sys.modules)}, handle)
"""


def loaded_modules(tmp_path, args, env=None):
    """(exit code, module names) after ``ragkit *args`` in a fresh interpreter."""
    target = tmp_path / "modules.json"
    environ = {**os.environ, **(env or {}),
               "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", PROBE, str(target), *args], env=environ, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert target.exists(), done.stderr
    data = json.loads(target.read_text())
    return data["exit"], set(data["modules"]), done.stdout


def heavy(modules, allowed=()):
    return sorted(m for m in modules if m.split(".")[0].startswith(HEAVY) and m.split(".")[0] not in allowed)


@pytest.mark.parametrize("args", [
    ["--help"], ["--version"], [],
    ["ingest", "--help"], ["search", "--help"], ["info", "--help"], ["ask", "--help"], ["chat", "--help"],
    ["eval", "--help"], ["models", "--help"], ["ask", "-h"],
])
def test_help_and_version_import_no_stage(tmp_path, args):
    code, modules, stdout = loaded_modules(tmp_path, args)
    assert code in (0, 2)  # bare `ragkit` shows the help with click's usage exit code
    assert heavy(modules) == []
    assert {m for m in modules if m.startswith("ragkit")} <= LIGHT_RAGKIT


def test_version_prints_the_version(tmp_path):
    from ragkit import __version__

    assert loaded_modules(tmp_path, ["--version"])[2].strip() == f"ragkit {__version__}"


def complete(tmp_path, line):
    """Bash completion of ``line`` (as typed, the last word being completed)."""
    words = line.split(" ")
    env = {"_RAGKIT_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    return loaded_modules(tmp_path, [], env)


def test_completing_a_command_name_imports_no_stage(tmp_path):
    _, modules, stdout = complete(tmp_path, "ragkit se")
    assert "search" in stdout
    assert heavy(modules) == []
    assert {m for m in modules if m.startswith("ragkit")} <= LIGHT_RAGKIT


def test_completing_an_option_imports_no_stage(tmp_path):
    _, modules, stdout = complete(tmp_path, "ragkit ask --str")
    assert "--strategy" in stdout
    # typer 0.29 builds a pydantic TypeAdapter for each parameter of the command being completed,
    # even for a None value; that is typer's cost, not a stage's.
    assert heavy(modules, allowed=("pydantic", "pydantic_core")) == []
    assert {m for m in modules if m.startswith("ragkit")} <= LIGHT_RAGKIT


def test_models_lists_backends_without_importing_them(tmp_path):
    """``ragkit models`` reads the config (pydantic, YAML) but imports no backend to describe them."""
    code, modules, stdout = loaded_modules(tmp_path, ["models"])
    assert code == 0 and "local" in stdout and "openai" in stdout and "hash" in stdout
    assert heavy(modules, allowed=("pydantic", "pydantic_core", "yaml")) == []
    assert {m for m in modules if m.startswith("ragkit")} <= LIGHT_RAGKIT | {"ragkit.config", "ragkit.query_config", "ragkit.sections", "ragkit.yamlfile", "ragkit.extras"}
