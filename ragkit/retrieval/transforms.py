"""Query transforms: rewrite a question into the texts to retrieve with, before search.

Strategies: ``none``, ``multi-query`` (rephrasings, union of results), ``rag-fusion``
(rephrasings, RRF), ``hyde`` (a hypothetical answer passage searched on the dense side),
``step-back`` (a more general question), ``decompose`` (least-to-most sub-questions) and
``self-query`` (a metadata filter over the index's fields, :mod:`ragkit.retrieval.self_query`).

The default local chat model is tiny and often wrong, so every model output is treated as
untrusted text: it is cleaned (numbering, bullets, quotes, preambles, duplicates, echoes of the
question) and, when nothing usable is left, the plan falls back to the original question and
says so in ``notes``. Errors *raised* by the model are not caught: the caller reports them.
Each transform makes at most one model call, so the cost per question is predictable.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from ragkit import choices
from ragkit.config import AskConfig
from ragkit.errors import SearchError
from ragkit.llm.base import ChatModel
from ragkit.retrieval.self_query import index_catalog, self_query
from ragkit.retrieval.transform_prompts import build_messages, output_schema
from ragkit.text.model_output import MIN_QUERY_CHARS, THINK, parse_passage, parse_query_list

_LEADING_QUESTION_WORDS = re.compile(r"^(?:(?:what|how|why|which|who|when|where|is|are|does|do|did|can)\s+)+", re.I)

STRATEGIES = tuple(choices.STRATEGIES)
FUSION = {"none": "single", "multi-query": "union", "rag-fusion": "rrf", "hyde": "rrf",
          "step-back": "rrf", "decompose": "rrf", "self-query": "rrf", "ircot": "rrf"}

MAX_N = 10


@dataclass
class QueryPlan:
    """The texts to retrieve with for one question, and how to combine their rankings.

    ``fusion`` depends only on the strategy (see :data:`FUSION`), so it stays "rrf" or "union"
    even when a fallback leaves one query; fusing a single ranking returns it unchanged.
    """

    strategy: str
    question: str
    queries: list[str]
    dense_only: list[str] = field(default_factory=list)
    sub_questions: list[str] = field(default_factory=list)
    fusion: str = "single"
    filters: dict[str, str] = field(default_factory=dict)   # self-query's metadata filter, on both retrievers
    notes: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    llm_calls: int = 0

    def to_json(self) -> dict:
        """A plain-JSON dict (str, list, int only) of every field, for ``--json`` and ``--trace``."""
        return asdict(self)


# Tokens, not characters: room for n short questions (JSON quoting included), not for a model that rambles.
_MAX_TOKENS = {"rewrite": 40, "hyde": 200, "step-back": 60, "decompose": 40}


# --- planning ------------------------------------------------------------------------------

def _ask(llm: ChatModel, plan: QueryPlan, kind: str, n: int) -> str:
    """One model call; its raw output goes into the plan. Exceptions propagate on purpose.

    A model that supports structured output (llama.cpp) is held to the kind's JSON schema by a
    grammar; any other gets the same few-shot messages and its reply is parsed as it comes.
    """
    max_tokens = _MAX_TOKENS[kind] * (n if kind in ("rewrite", "decompose") else 1)
    schema = output_schema(kind, n) if getattr(llm, "structured_output", False) else None
    messages = build_messages(kind, plan.question, n)
    out = (llm.complete(messages, max_tokens=max_tokens, schema=schema) if schema is not None
           else llm.complete(messages, max_tokens=max_tokens))
    plan.llm_calls += 1
    if schema is not None and plan.llm_calls == 1:
        plan.notes.append("the reply was held to a JSON schema (grammar-constrained decoding)")
    if not isinstance(out, str):
        plan.notes.append(f"model returned {type(out).__name__}, not text")
        out = ""
    plan.raw.append(out)
    return out


def transform_uses_model(ask: AskConfig) -> bool:
    """Whether the ``ask:`` section's transform calls the chat model: any strategy but ``none`` and a self-query
    with ``self_query: rules`` (the rules alone: file names, years, quarters, tickers)."""
    return ask.strategy != "none" and not (ask.strategy == "self-query" and ask.self_query == "rules")


def plan_queries(question: str, strategy: str, llm: ChatModel | None, *, n: int = 3,
                 searcher: Any = None) -> QueryPlan:
    """Turn ``question`` into a :class:`QueryPlan` with ``strategy`` (one of :data:`STRATEGIES`).

    The original question (whitespace collapsed) is always ``queries[0]``. Unusable model output falls back to the
    question with a note; exceptions from ``llm.complete`` propagate. ``none`` needs no model; ``self-query``
    needs the ``searcher`` whose index it filters, and without a model uses its rules alone.
    """
    if strategy not in STRATEGIES:
        raise SearchError(f"unknown query transform {strategy!r}; choose one of: {', '.join(STRATEGIES)}")
    question = " ".join((question or "").split())
    if not question:
        raise SearchError("empty question")
    if not 1 <= n <= MAX_N:
        raise SearchError(f"n must be between 1 and {MAX_N}, got {n}")
    plan = QueryPlan(strategy=strategy, question=question, queries=[question], fusion=FUSION[strategy])
    if strategy in ("none", "ircot"):   # ircot's sentences are written after retrieval (ragkit.generation.ircot)
        return plan
    if strategy == "self-query":
        return _self_query(llm, plan, searcher)
    if llm is None:
        raise SearchError(f"query transform {strategy!r} needs a chat model")
    {"multi-query": _rewrite, "rag-fusion": _rewrite, "hyde": _hyde, "step-back": _step_back,
     "decompose": _decompose}[strategy](llm, plan, n)
    return plan


def _self_query(llm: ChatModel | None, plan: QueryPlan, searcher: Any) -> QueryPlan:
    if searcher is None:
        raise SearchError("query transform 'self-query' needs the index it filters")
    found = self_query(plan.question, index_catalog(searcher), llm)
    plan.filters, plan.raw, plan.llm_calls = found.filters, found.raw, found.llm_calls
    plan.notes += found.notes
    if found.text:
        plan.queries.append(found.text)
    return plan


def _model_name(llm: ChatModel) -> str:
    return getattr(llm, "model_id", "model")


def _rewrite(llm: ChatModel, plan: QueryPlan, n: int) -> None:
    items, notes = parse_query_list(_ask(llm, plan, "rewrite", n), plan.question, n)
    plan.notes.append(f"asked {_model_name(llm)} for {n} rephrasing(s): " + "; ".join(notes))
    plan.queries += items
    if not items:
        plan.notes.append("model returned no usable rewrites; using the original question")


def _hyde(llm: ChatModel, plan: QueryPlan, n: int) -> None:
    passage, notes = parse_passage(_ask(llm, plan, "hyde", n), plan.question)
    plan.notes.append(f"asked {_model_name(llm)} for a hypothetical passage" + (": " + "; ".join(notes) if notes else ""))
    if passage:
        plan.dense_only.append(passage)
    else:
        plan.notes.append("no usable hypothetical passage; searching with the original question only")


def step_back_question(reply: str) -> str | None:
    """``{"topic": "ocean tides"}`` -> "What is known about ocean tides?"; None when the reply holds no topic.

    Question words a small model leaves at the start of a topic ("how does X") are dropped.
    """
    try:
        topic = json.loads(THINK.sub("", reply or "").strip()).get("topic")
    except (ValueError, AttributeError):
        return None
    words = _LEADING_QUESTION_WORDS.sub("", " ".join(str(topic or "").split())).strip(" ?.")
    return f"What is known about {words}?" if len(words) >= MIN_QUERY_CHARS else None


def _step_back(llm: ChatModel, plan: QueryPlan, n: int) -> None:
    raw = _ask(llm, plan, "step-back", 1)
    broader = step_back_question(raw)
    items, notes = parse_query_list(broader if broader is not None else raw, plan.question, 1)
    plan.notes.append(f"asked {_model_name(llm)} for a step-back question: " + "; ".join(notes))
    plan.queries += items
    if not items:
        plan.notes.append("model returned no usable step-back question; using the original question")
    elif len(items[0].split()) >= len(plan.question.split()):
        # Kept: a longer question can still be broader; the trace says it did not step back in length.
        plan.notes.append("the step-back question is not shorter than the question")


MAX_SUB_QUESTIONS = 3
"""Decompose asks for at most this many sub-questions, whatever ``n``: each is answered with its own model call."""


def _decompose(llm: ChatModel, plan: QueryPlan, n: int) -> None:
    n = min(n, MAX_SUB_QUESTIONS)
    items, notes = parse_query_list(_ask(llm, plan, "decompose", n), plan.question, n)
    items = items[:n]
    plan.notes.append(f"asked {_model_name(llm)} for up to {n} sub-question(s): " + "; ".join(notes))
    if items:
        plan.sub_questions = items
        plan.queries += items
    else:
        plan.sub_questions = [plan.question]
        plan.notes.append("model returned no usable sub-questions; answering the original question directly")
