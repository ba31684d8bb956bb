"""The benchmark scripts stay few, teach through ``--help``, and every one the repository names exists.

BENCHMARKS.md shows today's figure for each target with the command that reproduces it; these checks keep those
commands runnable in form (the script is there, its ``--help`` works and shows the command) without running any
benchmark (they need the shared data sets and minutes to hours).
"""

import ast
import re
import subprocess
import sys

import pytest

from conftest import REPO

BENCH = REPO / "benchmarks"
MAX_SCRIPTS = 12
NAMED = re.compile(r"\bbenchmarks/[\w/]+\.py\b")


def _scripts() -> list[str]:
    """Top-level benchmark files that run as a script (``if __name__ == "__main__"``); the rest are helpers."""
    return sorted(p.stem for p in BENCH.glob("*.py") if '__name__ == "__main__"' in p.read_text(encoding="utf-8"))




def test_there_are_at_most_twelve_benchmark_scripts():
    assert len(_scripts()) <= MAX_SCRIPTS, _scripts()


@pytest.mark.parametrize("name", _scripts())
def test_each_script_documents_its_command_and_uses_the_shared_parser(name):
    source = (BENCH / f"{name}.py").read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(source)) or ""
    assert f"python benchmarks/{name}.py" in doc, f"{name}.py's docstring shows no command line"
    assert "common.parser(__doc__)" in source, f"{name}.py's --help would not print its docstring"


@pytest.mark.parametrize("name", _scripts())
def test_each_scripts_help_runs_and_shows_its_command(name):
    done = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "COLUMNS": "120"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"python benchmarks/{name}.py" in done.stdout


def _tracked_text_files() -> list:
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    paths = [REPO / line for line in listed.stdout.splitlines()
             if line.endswith((".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".cfg")) and not line.startswith("benchmarks/out/")]
    return [p for p in paths if p.is_file()]


def test_every_benchmark_script_named_in_the_repository_exists():
    missing = set()
    for path in _tracked_text_files():
        for named in NAMED.findall(path.read_text(encoding="utf-8", errors="replace")):
            if not (REPO / named).is_file():
                missing.add(f"{named} (named in {path.relative_to(REPO)})")
    assert sorted(missing) == []


def test_benchmarks_md_is_one_page_whose_commands_name_existing_scripts():
    text = (REPO / "BENCHMARKS.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    shown = set(re.findall(r"python3? (benchmarks/[\w/]+\.py)", text))
    assert shown and sorted(s for s in shown if not (REPO / s).is_file()) == []


def _row(text: str, starts: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {starts}"))
    return [cell.strip().strip("*") for cell in line.strip("|").split("|")]


def _number(cell: str) -> float:
    return float(re.search(r"[\d,.]+", cell).group().replace(",", ""))


def test_the_install_figures_readme_states_are_benchmarks_md_s():
    """README's quick start rounds BENCHMARKS.md's install table; a new measurement there must reach README too."""
    bench = (REPO / "BENCHMARKS.md").read_text(encoding="utf-8")
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    user, dev = _row(bench, "user (README quick start)"), _row(bench, "dev (tests")
    wall, cpu, venv = (_number(c) for c in user[2:5])
    dev_wall, dev_cpu, dev_venv = (_number(c) for c in dev[2:5])
    stated = (f"{round(wall / 60)} min of wall time, {round(cpu / 60)} min of CPU, a {venv:.0f} MB venv, against "
              f"{round(dev_wall / 60)} min, {round(dev_cpu / 60)} min and {dev_venv / 1000:.1f} GB for the dev install")
    assert stated in readme


def test_the_latencies_readme_states_are_benchmarks_md_s():
    bench = (REPO / "BENCHMARKS.md").read_text(encoding="utf-8")
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    hybrid_1m = _number(_row(bench, "ivf (4,000 lists")[-1])            # the `auto` row's hybrid p50 at 1M chunks
    assert f"p50 {round(hybrid_1m)} ms at 1M" in readme
    checks = re.search(r"p50 ([\d,.]+) ms against [\d.]+ ms before", " ".join(bench.split()))
    assert checks, "BENCHMARKS.md no longer gives the meaning checks' cost as 'p50 N ms against M ms before'"
    assert f"about {float(checks.group(1)) / 1000:.1f} s for a new question" in readme
