"""The support decision in three outcomes (strong, weak, none), the kinds of value questions ask for, and
names said in other words (issue 18: questions in the user's own words)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.embedders.base import RagkitEmbeddings
from ragkit.generation.answer import number_sources
from ragkit.generation.answer_kinds import asked_kind, counted_terms, holds_kind_near
from ragkit.generation.chains import answer_question
from ragkit.generation.citations import NO_ANSWER
from ragkit.generation.extract import extract_answer
from ragkit.generation.meaning import said_otherwise, source_names
from ragkit.generation.refusal import assess_support, named_spans
from ragkit.retrieval.pipeline import Hit
from ragkit.text import tokenize

from fakes import fake_llm


def chunk(n: int, text: str, source: str = "report.pdf", page: int | None = 1) -> Hit:
    return Hit(rank=n, score=1.0 / n, chunk_id=f"c{n}", doc_id=f"d{n}", source=source, page=page,
                        text=text, metadata={})


REPORT = chunk(1, "Location: Tallahassee, FL. The pilot, age 85, held a private pilot certificate. "
                  "The pilot reported a total flight experience of 2,319 hours. The engine was built by Lycoming.",
               source="ntsb-report.pdf")
PLAN = chunk(2, "The agency will increase the frequency of coaching that employees receive by 50 percent. "
                "By FY 2026 the agency will digitize 500 million pages of records.", source="plan.pdf")


class NamesEmbedder(RagkitEmbeddings):
    """A fake embedder that knows a few synonyms: texts in one group are close, all others far apart."""

    model_id = "test:names"
    dimension = 256
    GROUPS = (("florida", "fl", "tallahassee"), ("plane", "aircraft", "airplane"), ("engine", "motor"))

    def __init__(self):
        self.others: dict[str, int] = {}   # every other text gets a direction of its own

    def embed_array(self, texts, progress=None):
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            words = set("".join(c if c.isalnum() else " " for c in text.lower()).split())
            hit = [g for g, group in enumerate(self.GROUPS) if words & set(group)]
            vectors[i, hit[0] if hit else self.others.setdefault(text, len(self.GROUPS) + len(self.others))] = 1.0
        return vectors


def test_questions_ask_for_kinds_of_value():
    assert asked_kind("How many employees work at the agency?") == "count"
    assert asked_kind("What share of its collections will be processed?") == "percent"
    assert asked_kind("By when will the archive issue the guidance?") == "date"
    assert asked_kind("In what year was the airplane built?") == "date"
    assert asked_kind("When does a cat hunt mice?") == "any"          # "at night" answers it
    assert asked_kind("Who heads the agency?") == "person"
    assert asked_kind("What was Azure's revenue in dollars?") == "count"
    assert asked_kind("What was the probable cause of the accident?") == "any"
    assert counted_terms("How many Presidential Libraries does the agency manage?") == ["presidenti", "librari"]


def test_a_count_stands_near_what_it_counts_and_is_neither_a_percentage_nor_a_date():
    employees = tokenize(["employees"])[0]
    assert holds_kind_near("there were about 3,400 employees in Israel", "count", employees)
    assert not holds_kind_near(PLAN.text.split(". ")[0], "count", employees)          # 50 percent
    assert not holds_kind_near("By July 1, 2023 the employees were moved", "count", employees)   # a date
    assert not holds_kind_near("We provide tutorials either as66 notebooks", "count", tokenize(["tutorials"])[0])
    assert holds_kind_near("Leading six of the ten categories", "count", tokenize(["categories"])[0])


def test_names_are_runs_of_capitalised_words_and_numbers():
    assert named_spans("What was Tesla's revenue at the Super Bowl in 2023?") == [
        ("Tesla's", ["tesla"]), ("Super Bowl", ["super", "bowl"]), ("2023", ["2023"])]
    assert source_names(["Location: Tallahassee, FL. Robert J Gretz wrote it."], ["dir/plan.pdf"]) == [
        "Location", "Tallahassee", "FL", "Robert J Gretz", "plan"]


def test_a_name_said_otherwise_is_close_in_meaning_and_an_absent_one_is_not():
    close = said_otherwise(["Florida", "Tesla"], [REPORT.text], [REPORT.source], NamesEmbedder())
    assert close == {"Florida"}


def test_a_name_the_sources_say_in_their_own_words_is_not_refused():
    sources = number_sources([REPORT])
    question = "How old was the guy flying the plane in the Florida crash?"
    words_only = assess_support(question, sources, in_corpus=lambda t: False)
    with_meaning = assess_support(question, sources, in_corpus=lambda t: False, embedder=NamesEmbedder())
    assert words_only.level == "none" and words_only.missing == ("florida",)
    assert with_meaning.level != "none" and with_meaning.missing == ()


def test_a_name_nothing_holds_is_refused_even_with_meaning():
    support = assess_support("What was Tesla's revenue in the quarter?", number_sources([REPORT]),
                             in_corpus=lambda t: False, embedder=NamesEmbedder())
    assert support.level == "none" and not support.answerable and "tesla" in support.reason


def test_a_year_the_corpus_holds_but_the_sources_do_not_is_weak_support_not_a_refusal():
    sources = number_sources([REPORT])
    held = assess_support("How many hours had the pilot logged by 2012?", sources, in_corpus=lambda t: t == "2012")
    unknown = assess_support("How many hours had the pilot logged by 2012?", sources, in_corpus=lambda t: False)
    assert held.level == "weak" and "2012" in held.reason
    assert unknown.level == "none"


def test_three_outcomes_strong_weak_none():
    sources = number_sources([REPORT, PLAN])
    strong = assess_support("How many hours of total flight experience did the pilot have?", sources)
    weak_words = assess_support("How long had the pilot been at the controls over his life?", sources)
    weak_kind = assess_support("How many employees receive coaching at the agency?", sources)
    none = assess_support("What is quantum chromodynamics?", sources)
    assert (strong.level, strong.reason) == ("strong", "")
    assert weak_words.level == "weak" and "key words" in weak_words.reason
    assert weak_kind.level == "weak" and "number" in weak_kind.reason      # coaching "by 50 percent" is no count
    assert none.level == "none" and not none.answerable
    assert assess_support("What is it?", sources).reason == "the question has no searchable words"


def test_extract_quotes_weakly_supported_sources_and_says_so():
    answer = extract_answer("How many employees receive coaching at the agency?", [PLAN])
    assert not answer.refused and answer.support == "weak" and answer.citations == [1]
    assert "50 percent" in answer.text and any(note.startswith("weak support:") for note in answer.notes)
    data = answer.to_json()
    assert data["support"] == "weak" and data["support_reason"]


def test_extract_in_other_words_entirely_quotes_what_is_closest_in_meaning():
    # Not one word of the question is in the source, yet it is about the same thing: quotes, marked weak.
    answer = extract_answer("Who made the motor?", [REPORT], embedder=NamesEmbedder())
    assert not answer.refused and answer.support == "weak"
    assert answer.text.splitlines()[0] == "\"The engine was built by Lycoming.\" [1]"


def test_extract_refusal_carries_support_none_and_its_reason():
    answer = extract_answer("What is quantum chromodynamics?", [REPORT])
    assert answer.refused and answer.text == NO_ANSWER and answer.support == "none" and answer.sources == []


def test_a_model_chain_marks_weak_support_and_asks_the_model():
    llm = fake_llm(["The agency raises coaching by 50 percent [1]."])
    answer = answer_question("How many employees receive coaching at the agency?", [PLAN], "stuff", llm,
                             check_support=True)
    assert answer.chain == "stuff" and answer.support == "weak" and answer.llm_calls == 1


def test_a_model_chain_without_the_check_takes_no_support_decision():
    llm = fake_llm(["The agency raises coaching by 50 percent [1]."])
    answer = answer_question("How many employees receive coaching at the agency?", [PLAN], "stuff", llm)
    assert answer.support is None


@pytest.fixture
def weak_index(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "plan.md").write_text(PLAN.text + "\n", encoding="utf-8")
    (tmp_path / "ragkit.yaml").write_text("embedder:\n  kind: hash\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", str(docs), "--index", str(tmp_path / "idx"),
                                      "--config", str(tmp_path / "ragkit.yaml")])
    assert result.exit_code == 0, result.output
    return tmp_path


def test_cli_ask_marks_weak_support_in_the_terminal_and_in_json(weak_index):
    args = ["ask", "How many employees receive coaching at the agency?", "--chain", "extract",
            "--index", str(weak_index / "idx"), "--config", str(weak_index / "ragkit.yaml")]
    shown = CliRunner().invoke(app, args)
    assert shown.exit_code == 0 and "Weak support" in shown.output and "50 percent" in shown.output
    data = json.loads(CliRunner().invoke(app, [*args, "--json"]).output)
    assert data["support"] == "weak" and data["support_reason"] and not data["refused"]


@pytest.mark.parametrize("question", ["what is the?", "?!", "How does it do that?"])
def test_a_question_of_only_common_words_or_punctuation_is_one_clear_line_not_a_refusal(weak_index, question):
    result = CliRunner().invoke(app, ["ask", question, "--chain", "extract", "--index", str(weak_index / "idx"),
                                      "--config", str(weak_index / "ragkit.yaml")])
    assert result.exit_code == 2
    assert "has no words to search for" in result.output and NO_ANSWER not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_asking_or_searching_an_empty_index_says_it_is_empty(tmp_path):
    (tmp_path / "empty").mkdir()
    index = str(tmp_path / "idx")
    assert CliRunner().invoke(app, ["ingest", str(tmp_path / "empty"), "--index", index]).exit_code == 0
    for command in (["ask", "what is reciprocal rank fusion?", "--chain", "extract"], ["search", "fusion"]):
        result = CliRunner().invoke(app, [*command, "--index", index])
        assert result.exit_code == 1 and "is empty: nothing was ingested" in result.output, result.output
        assert NO_ANSWER not in result.output


def test_each_sentence_is_embedded_once_per_process():
    from ragkit.generation import meaning

    class Counting(NamesEmbedder):
        model_id = "test:counting"

        def __init__(self):
            super().__init__()
            self.seen: list[str] = []

        def embed_array(self, texts, progress=None):
            self.seen += list(texts)
            return super().embed_array(texts)

    embedder = Counting()
    first = meaning.best_similarity("Who made the motor?", ["The engine was built by Lycoming.", "Cats sleep."], embedder)
    again = meaning.best_similarity("Who made the motor?", ["Cats sleep.", "The engine was built by Lycoming."], embedder)
    assert sorted(embedder.seen) == sorted(["Who made the motor?", "The engine was built by Lycoming.", "Cats sleep."])
    assert first.tolist() == again.tolist()[::-1] and first[0] > first[1]
