"""Every model call capped, every ask on a clock (issue 20 point 4, issue 19 point 5); decompose's support
decision reads the user's question, never its sub-answers. The clock is a fake: no wall time is measured."""

from __future__ import annotations

import pytest

from ragkit.config import AskConfig
from ragkit.generation import budget
from ragkit.generation.ask import ask
from ragkit.generation.chains import answer_question
from ragkit.ingest.pipeline import ingest
from ragkit.retrieval.pipeline import Hit
from ragkit.retrieval.search import Searcher

from conftest import write_docs
from fakes import fake_llm

FACTS = ["Cats sleep sixteen (16) hours a day.", "Dogs sleep twelve (12) hours a day.",
         "Owls hunt at night and sleep by day."]
QUESTION = "How long do cats sleep?"


def _chunks():
    return [Hit(rank=i, score=1.0 / i, chunk_id=f"c{i}", doc_id=f"d{i}", source=f"f{i}.txt", page=None,
                         text=t, metadata={}) for i, t in enumerate(FACTS, 1)]


class Capped:
    """A chat model that records each call's token cap and advances a fake clock by ``seconds`` a call."""

    model_id, context_window, kind = "capped", 4096, "fake"

    def __init__(self, reply: str, clock: list[float] | None = None, seconds: float = 0.0):
        self.reply, self.clock, self.seconds, self.caps = reply, clock, seconds, []

    def _call(self, max_tokens):
        self.caps.append(max_tokens)
        if self.clock is not None:
            self.clock[0] += self.seconds
        return self.reply

    def complete(self, messages, *, max_tokens=None, stop=None):
        return self._call(max_tokens)

    def stream(self, messages, *, max_tokens=None):
        yield from self._call(max_tokens).split(" ")

    def count_tokens(self, text):
        return len(text.split())


@pytest.mark.parametrize("chain, calls", [("stuff", 1), ("map-reduce", 4), ("refine", 3)])
def test_every_call_has_a_cap_the_final_one_answer_tokens_the_others_step_tokens(chain, calls):
    llm = Capped("Cats sleep 16 hours [1][2][3].")
    answer_question(QUESTION, _chunks(), chain, llm, answer_tokens=200, step_tokens=50)
    assert len(llm.caps) == calls and llm.caps[-1] == 200 and all(cap == 50 for cap in llm.caps[:-1])


@pytest.mark.parametrize("chain", ["stuff", "map-reduce", "refine"])
def test_past_the_budget_the_model_is_stopped_and_the_answer_is_labelled_quotes(chain, monkeypatch):
    now = [0.0]
    monkeypatch.setattr(budget, "clock", lambda: now[0])
    llm = Capped("Cats sleep 16 hours [1][2][3].", now, seconds=100.0)   # every call takes 100 s on the fake clock
    answer = answer_question(QUESTION, _chunks(), chain, llm, deadline=90.0)
    assert len(llm.caps) == 1   # the first call ran past the deadline: no other is started
    assert answer.answered_by == "extract" and "time budget" in answer.fallback_reason
    assert '"Cats sleep sixteen (16) hours a day." [1]' in answer.text


def test_an_ask_has_a_budget_from_the_config(tmp_path, fast_cfg, monkeypatch):
    ingest(write_docs(tmp_path / "docs", {f"f{i}.txt": t for i, t in enumerate(FACTS)}), tmp_path / "idx", fast_cfg)
    now = [0.0]
    monkeypatch.setattr(budget, "clock", lambda: now[0])
    searcher = Searcher(tmp_path / "idx", fast_cfg)

    def slow(prompt):   # each call takes 100 s on the fake clock
        now[0] += 100.0
        return "Cats sleep 16 hours [1][2][3]."

    result = ask(QUESTION, searcher, fake_llm(slow), AskConfig(chain="stuff", budget_seconds=30.0))
    assert result.answer.fallback_reason and "ask.budget_seconds" in result.answer.fallback_reason
    now[0] = 0.0
    unhurried = ask(QUESTION, searcher, fake_llm(lambda p: "Cats sleep 16 hours [1][2][3]."), AskConfig(chain="stuff"))
    assert unhurried.answer.answered_by == "model"
    searcher.close()


def test_decompose_decides_support_on_the_users_question_not_on_its_sub_answers(tmp_path, fast_cfg):
    ingest(write_docs(tmp_path / "docs", {f"f{i}.txt": t for i, t in enumerate(FACTS)}), tmp_path / "idx", fast_cfg)
    searcher = Searcher(tmp_path / "idx", fast_cfg)

    def script(prompt):
        if "Break the question" in prompt:
            return '{"questions": ["How many hours do cats spend asleep?", "When were the 1967 and 1974 studies?"]}'
        return "Cats sleep 16 hours a day [1][2][3]."

    cfg = AskConfig(chain="stuff", refuse="always")
    plain = ask(QUESTION, searcher, fake_llm(script), cfg)
    decomposed = ask(QUESTION, searcher, fake_llm(script), AskConfig(chain="stuff", refuse="always",
                                                                      strategy="decompose"))
    assert len(decomposed.sub_answers) == 2
    assert decomposed.answer.support == plain.answer.support and not decomposed.answer.refused
    notes = " ".join(decomposed.notes) + decomposed.answer.support_reason
    assert "1967" not in notes and "1974" not in notes   # the note names no term the user did not type
    searcher.close()
