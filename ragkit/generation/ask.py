"""Ask: question -> transforms -> retrievers -> fusion -> expansion -> generation chain -> answer.

This module wires the retrieval pipeline (:class:`~ragkit.retrieval.pipeline.Pipeline`: transforms,
retrievers, fusion, rerank, expansion) to the generation chains and records what each did (the trace). With LangSmith tracing on, one ask
is one trace: query transform, retrieval, fusion and generation runs, model calls inside them.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping

from ragkit.config import AskConfig, checks_support, effective_chain
from ragkit.errors import GenerationError, UsageError
from ragkit.generation import budget
from ragkit.generation.answer import Answer
from ragkit.generation.chains import answer_question
from ragkit.generation.citations import strip_citations
from ragkit.generation.ircot import Loop, ircot, steps_json
from ragkit.generation.refusal import question_terms
from ragkit.llm.base import ChatModel
from ragkit.retrieval.pipeline import Hit, Pipeline, Retrieved
from ragkit.retrieval.search import Searcher
from ragkit.retrieval.transforms import QueryPlan, transform_uses_model
from ragkit.tracing import stage, traced


@dataclass
class AskResult:
    """An answer with everything needed to check it: sources, queries, rankings, cost, time."""

    question: str
    answer: Answer
    plan: QueryPlan
    rankings: list[dict]
    context: list[Hit]
    notes: list[str]
    timings: dict
    usage: dict
    sub_answers: list[dict] = field(default_factory=list)
    rerank: dict | None = None   # the rerank step (ragkit.retrieval.reranking), None when search.rerank is none
    steps: list[dict] = field(default_factory=list)   # --strategy ircot's steps (ragkit.generation.ircot)

    def to_json(self, trace: bool = True) -> dict:
        """The answer with its citations and sources, the queries, timings, one ``usage`` object and (with
        ``trace``) the trace.

        ``answered_by`` says who wrote the text: ``"model"``, or ``"extract"`` (quotes, or a refusal, decided
        without the model), with ``fallback_reason`` when a model chain's answer failed the reader's checks.
        ``usage`` counts this answer's model calls honestly: ``llm_calls`` made to the model,
        ``cached_calls`` answered from the model cache instead (free, no tokens), and the
        prompt and completion tokens of the calls made. With a reranker, ``rerank`` holds its step:
        name, model, each candidate's rank before and after and its score, or the ``error`` that made
        the answer use the fused order. A self-query has ``filters``, the metadata filter it applied; an IRCoT
        ask has ``steps``, each reasoning sentence with the chunks it added, its seconds and why the loop stopped.
        """
        answer = self.answer.to_json()
        data = {
            "question": self.question,
            "answer": answer["text"],
            "citations": answer["citations"],
            "sources": answer["sources"],
            "refused": answer["refused"],
            "support": answer["support"],
            "support_reason": answer["support_reason"],
            "removed_citations": answer["removed_citations"],
            "answered_by": answer["answered_by"],
            "fallback_reason": answer["fallback_reason"],
            "queries": self.plan.queries + self.plan.dense_only,
            "strategy": self.plan.strategy,
            "chain": answer["chain"],
            "timings": self.timings,
            "usage": usage_json(self.usage),
        }
        if self.rerank is not None:
            data["rerank"] = self.rerank
        if self.plan.strategy == "self-query":   # the filter it applied ({}: none, the notes say why)
            data["filters"] = self.plan.filters
        if self.plan.strategy == "ircot":
            data["steps"] = self.steps
        if trace:
            data["trace"] = {"plan": self.plan.to_json(), "rankings": self.rankings, "notes": self.notes,
                             "sub_answers": self.sub_answers}
        return data


def usage_json(usage: Mapping[str, int]) -> dict:
    """A model ``Usage`` dict as the JSON outputs show it: ``llm_calls``, ``cached_calls``, ``prompt_tokens``, ``completion_tokens``."""
    return {"llm_calls": int(usage.get("calls", 0)), "cached_calls": int(usage.get("cached_calls", 0)),
            "prompt_tokens": int(usage.get("prompt_tokens", 0)),
            "completion_tokens": int(usage.get("completion_tokens", 0))}


def _traced_answer(result: AskResult) -> dict:
    return {"answer": result.answer.text, "citations": result.answer.citations, "refused": result.answer.refused,
            "sources": [s.label() for s in result.answer.sources]}


@traced("ragkit ask", "chain", inputs=lambda question, *_, **__: {"question": question}, outputs=_traced_answer)
def ask(question: str, searcher: Searcher, llm: ChatModel | None, cfg: AskConfig, *, mode: str | None = None,
        filters: Mapping[str, str] | None = None, on_token: Callable[[str], None] | None = None,
        retrieval_query: str | None = None, on_status: Callable[[str], None] | None = None,
        asked: str | None = None) -> AskResult:
    """Answer one question end to end. ``llm`` may be None only with ``chain="extract"`` and ``strategy="none"``.

    ``retrieval_query`` (default: the question) is what the transforms and retrievers see,
    when the question handed to the model carries more (a chat's earlier turns). ``on_status``
    hears what is happening before the answer starts ("rewriting the question", "retrieving",
    "reading 5 sources"), so a front end can show it. ``asked`` (default: the question) is what the
    user typed this time, when the question carries more: the support decision, the checks and a
    fallback read it, so they never name a term of an earlier turn or of a sub-answer.
    """
    status = on_status or (lambda _: None)
    question = (question or "").strip()
    if not question:
        raise GenerationError("the question is empty")
    if not question_terms(retrieval_query or question):
        raise UsageError(f"the question {question!r} has no words to search for, only common ones (what, is, the, …) "
                         "or punctuation: ask about something specific, e.g. \"what limits protect PDF parsing?\"")
    searcher.check_not_empty()
    cfg = _settings(cfg, llm)
    if llm is not None:
        llm.reset_usage()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    # Past this time the model is stopped and the answer is extract's quotes (ModelRun reads budget.clock).
    deadline = budget.clock() + cfg.budget_seconds if cfg.budget_seconds > 0 else None
    pipeline = Pipeline.for_ask(searcher, cfg, llm, mode=mode, filters=filters)
    if cfg.strategy == "self-query":
        status("choosing a filter" + (" (rules)" if not transform_uses_model(cfg) else ""))
    elif cfg.strategy not in ("none", "ircot"):   # ircot's model calls come after the first retrieval
        status("rewriting the question")
    plan = pipeline.plan(retrieval_query or question)
    timings["transform_s"] = round(time.perf_counter() - started, 4)

    clock = time.perf_counter()
    status("retrieving")
    retrieved = pipeline.retrieve([plan], max(cfg.depth, cfg.k), cfg.k)[0]
    loop = _ircot(question, retrieved, pipeline, llm, cfg, deadline) if cfg.strategy == "ircot" else None
    retrieved = loop.retrieved if loop else retrieved
    context, notes = retrieved.context, retrieved.notes + (loop.notes if loop else [])
    timings["retrieve_s"] = round(time.perf_counter() - clock, 4)

    clock = time.perf_counter()
    status(f"reading {len(context)} source{'s' if len(context) != 1 else ''}")
    with stage("generation", "chain", {"question": question, "chain": cfg.chain,
                                       "sources": [c.chunk_id for c in context]}) as record:
        answer, sub_answers = _generate(question, context, plan, pipeline, llm, cfg, on_token=on_token,
                                        deadline=deadline,
                                        asked=_asked(asked, retrieval_query, question))
        record({"answer": answer.text, "citations": answer.citations})
    timings["generate_s"] = round(time.perf_counter() - clock, 4)
    notes = notes + list(answer.notes)
    timings["total_s"] = round(time.perf_counter() - started, 4)
    usage = llm.usage.to_json() if llm is not None else {"calls": 0, "cached_calls": 0,
                                                         "prompt_tokens": 0, "completion_tokens": 0}
    return AskResult(question=question, answer=answer, plan=plan, rankings=retrieved.rankings, context=context,
                     notes=notes, timings=timings, usage=usage, sub_answers=sub_answers, rerank=retrieved.rerank,
                     steps=steps_json(loop))


def _ircot(question: str, first: Retrieved, pipeline: Pipeline, llm: ChatModel | None, cfg: AskConfig,
           deadline: float | None) -> Loop:
    """The IRCoT loop after the question's own retrieval (``--strategy ircot``)."""
    if llm is None:
        raise GenerationError("--strategy ircot needs a chat model: each step is a sentence the model writes")
    return ircot(question, first, pipeline, llm, steps=cfg.ircot_steps, depth=max(cfg.depth, cfg.k), k=cfg.k,
                 step_tokens=cfg.step_tokens, deadline=deadline)


def _generate(question: str, context: list[Hit], plan: QueryPlan, pipeline: Pipeline, llm: ChatModel | None,
              cfg: AskConfig, *, on_token: Callable[[str], None] | None, deadline: float | None,
              asked: str) -> tuple[Answer, list[dict]]:
    """The answer (after a decomposition's sub-answers, whose findings the model sees) and the sub-answers.

    Support, the checks and a fallback read ``asked``, never the findings or a chat's history.
    """
    sub_answers: list[dict] = []
    final_question = question
    if plan.strategy == "decompose" and plan.sub_questions and plan.sub_questions != [plan.question]:
        findings, sub_answers = _answer_sub_questions(plan.sub_questions, pipeline, llm, cfg, deadline=deadline)
        if findings:
            final_question = f"{question}\n\nFindings from simpler sub-questions:\n" + "\n".join(findings)
    searcher = pipeline.searcher
    answer = answer_question(final_question, context, cfg.chain, llm, on_token=on_token,
                             in_corpus=searcher.in_corpus, embedder=searcher.meaning_embedder(),
                             check_support=checks_support(cfg.refuse, llm is not None and llm.follows_instructions),
                             answer_tokens=cfg.answer_tokens, step_tokens=cfg.step_tokens, deadline=deadline,
                             asked=asked)
    return answer, sub_answers


def _asked(asked: str | None, retrieval_query: str | None, question: str) -> str:
    """The text the support decision and the checks read: what the user typed this time, or, for a follow-up
    with no word of its own to search for ("and why?"), the retrieval query (it adds the previous message)."""
    if asked and question_terms(asked):
        return asked
    return retrieval_query or question


def _settings(cfg: AskConfig, llm: ChatModel | None) -> AskConfig:
    """``cfg`` with ``chain: auto`` resolved (the config has already checked every choice)."""
    # Callers that know the config resolve "auto" first; without a model, auto means extract.
    return dataclasses.replace(cfg, chain=effective_chain(cfg.chain, llm is not None and llm.follows_instructions))


def _answer_sub_questions(sub_questions: list[str], pipeline: Pipeline, llm: ChatModel | None, cfg: AskConfig,
                          *, deadline: float | None = None) -> tuple[list[str], list[dict]]:
    """Least-to-most: answer each sub-question in order with its own retrieval, carrying the earlier answers forward.

    Returns the findings (one ``- sub-question answer`` line each, citations stripped) that the
    final answer sees as notes, and each sub-answer for the trace. A sub-answer is one step of the ask:
    capped at ``cfg.step_tokens``, checked like any answer (a refusal or a fallback is no finding), and
    none is started past half the ask's budget, so the final answer keeps time to be written.
    """
    findings: list[str] = []
    sub_answers: list[dict] = []
    searcher, plain = pipeline.searcher, dataclasses.replace(pipeline, strategy="none")   # each sub-question as it is
    half = None if deadline is None else budget.clock() + (deadline - budget.clock()) / 2
    for sub in sub_questions:
        if half is not None and budget.clock() >= half:
            sub_answers.append({"question": sub, "answer": None, "sources": [],
                                "note": "not asked: half of the ask's time budget was spent"})
            continue
        sub_context = plain.run(sub, cfg.k, cfg.k).context
        prompt_question = sub if not findings else f"{sub}\n\nEarlier findings:\n" + "\n".join(findings)
        sub_answer = answer_question(prompt_question, sub_context, cfg.chain, llm, answer_tokens=cfg.step_tokens,
                                     step_tokens=cfg.step_tokens, deadline=half, asked=sub,
                                     in_corpus=searcher.in_corpus, embedder=searcher.meaning_embedder())
        if sub_answer.answered_by == "model" and not sub_answer.refused:
            findings.append(f"- {sub} {strip_citations(sub_answer.text).strip()}")
        sub_answers.append({"question": sub, "answer": sub_answer.text, "answered_by": sub_answer.answered_by,
                            "fallback_reason": sub_answer.fallback_reason,
                            "sources": [s.chunk_id for s in sub_answer.sources]})
    return findings, sub_answers
