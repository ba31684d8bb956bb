"""The numbers and names README.md and RELIABILITY.md state about the test suite are checked, so they cannot go stale.

Counting uses ``pytest --collect-only`` (no test runs): a few seconds, once per session.
"""

import re
import subprocess
import sys

import pytest

from conftest import REPO

SLACK = 60
"""How far "about N tests" may be from the collected count: N rounded to the nearest hundred, give or take ten."""


@pytest.fixture(scope="module")
def fast_tier_size() -> int:
    """How many tests plain ``pytest`` (the fast tier) collects in this checkout."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    summary = re.search(r"^(\d+)(?:/\d+)? tests? collected", done.stdout, re.M)
    assert summary, f"no collection summary (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return int(summary.group(1))


def _stated_size(doc: str) -> int:
    match = re.search(r"about ([\d,]+) tests", (REPO / doc).read_text(encoding="utf-8"))
    assert match, f"{doc} no longer says 'about N tests'; drop this check or restore the sentence"
    return int(match.group(1).replace(",", ""))


@pytest.mark.parametrize("doc", ["README.md", "RELIABILITY.md"])
def test_the_stated_fast_tier_size_is_what_pytest_collects_to_the_nearest_hundred(doc, fast_tier_size):
    stated = _stated_size(doc)
    assert abs(stated - fast_tier_size) <= SLACK, (
        f"{doc} says about {stated} tests, the fast tier collects {fast_tier_size}: update the sentence")


def _defined_tests() -> set[str]:
    names = set()
    for path in (REPO / "tests").glob("test_*.py"):
        names.update(re.findall(r"^(?:async )?def (test_\w+)\(", path.read_text(encoding="utf-8"), re.M))
    return names


def test_every_test_reliability_cites_as_proof_exists():
    text = (REPO / "RELIABILITY.md").read_text(encoding="utf-8")
    cited = set(re.findall(r"`(?:[\w/]+\.py::)?(test_\w+)", text))
    assert len(cited) >= 20, "RELIABILITY.md cites its proofs as `test_name`; the pattern found too few"
    assert sorted(cited - _defined_tests()) == []


def test_every_file_and_script_reliability_names_exists():
    text = (REPO / "RELIABILITY.md").read_text(encoding="utf-8")
    files = set(re.findall(r"\b((?:tests|benchmarks|ragkit)/[\w/]+\.py)\b", text))
    files |= {f"tests/{name}" for name in re.findall(r"(?<![/\w])(test_\w+\.py)\b", text)}
    assert files, "RELIABILITY.md names no file; the pattern is wrong"
    assert sorted(f for f in files if not (REPO / f).is_file()) == []


def test_the_damage_case_counts_reliability_states_are_the_test_matrix():
    from test_integrity import DAMAGES, FAST_CASES, FILE_KINDS

    text = (REPO / "RELIABILITY.md").read_text(encoding="utf-8")
    total, fast = len(FILE_KINDS) * len(DAMAGES), len(FAST_CASES)
    assert f"{total} / {total} ({len(FILE_KINDS)} file kinds × flip, truncate)" in text
    assert f"({fast} cases, fast)" in text and f"(the other {total - fast}, heavy)" in text
    assert text.count(f"the {fast} damage cases") == 2
