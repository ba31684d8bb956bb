"""The short expected answers of the docugami 10-Q set (benchmarks/docugami_short): their shape,
their eval config, and (integration) that each string is in a source filing as ragkit loads it."""

from __future__ import annotations

import importlib.util

import pytest

from ragkit.evaluation.spec import load_eval_config

from conftest import REPO, SHARED, needs_data

DATASET = SHARED / "docugami-sec-10q"
needs_dataset = needs_data(DATASET / "qa.jsonl", "docugami 10-Q data set")


def _verify():
    path = REPO / "benchmarks" / "docugami_short" / "verify.py"
    spec = importlib.util.spec_from_file_location("docugami_short_verify", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_answer_lines_have_their_split_a_kind_and_specific_strings():
    verify = _verify()
    answers, skipped = verify.load_labels()
    assert verify.shape_problems(answers) == []
    assert {row["split"] for row in answers} == {"cal", "test"} and skipped


def test_specific_strings_exclude_bare_years_and_short_numbers():
    verify = _verify()
    assert not verify.is_specific("2023") and not verify.is_specific("85")
    assert verify.is_specific("39%") and verify.is_specific("$1 billion") and verify.is_specific("15,758")


def test_coverage_check_finds_a_missing_a_doubled_and_a_changed_question():
    verify = _verify()
    questions = {f"q-{n}": {"question": f"Q{n}?", "source": ["a.pdf"]} for n in range(3)}
    answers = [{"id": "q-0", "question": "Q0 changed?", "source": ["b.pdf"]}]
    found = verify.coverage_problems(questions, answers, [{"id": "q-1", "reason": "list"}, {"id": "q-1", "reason": "x"}])
    assert found == ["q-1: listed 2 times", "q-2: neither answered nor skipped",
                     "q-0: question text differs from qa.jsonl", "q-0: sources ['b.pdf'] are not among the question's ['a.pdf']"]


@needs_dataset
def test_shipped_config_reads_both_splits():
    spec = load_eval_config(REPO / "configs" / "docugami-short.yaml")
    assert [d.name for d in spec.datasets] == ["docugami-short-cal", "docugami-short-test"]
    assert all(d.documents == (DATASET / "docs").resolve() for d in spec.datasets)
    assert [p.name for p in spec.pipelines] == ["hybrid+extract"]
    assert spec.metrics == ["source_hit@5", "contains_answer", "answerable_refused", "citation_validity"]


@pytest.mark.integration
@needs_dataset
def test_every_answer_string_is_in_a_source_filing_and_every_question_is_covered_once():
    assert _verify().problems(DATASET) == []
