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

STRATEGIES = tuple(choices.STRATEGIES)
FUSION = {"none": "single", "multi-query": "union", "rag-fusion": "rrf", "hyde": "rrf",
          "step-back": "rrf", "decompose": "rrf", "self-query": "rrf", "ircot": "rrf"}

MIN_QUERY_CHARS = 3
MAX_QUERY_CHARS = 300
MIN_PASSAGE_CHARS = 20
# Dense embedders truncate long inputs anyway (MiniLM reads 256 tokens); a cap keeps a
# run-away generation out of the trace and the embedding call.
MAX_PASSAGE_CHARS = 2000
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


# --- cleaning model output -----------------------------------------------------------------

_THINK = re.compile(r"<think>.*?(</think>|$)", re.S | re.I)
# Any XML-ish tag or code fence: a small model leaves debris like <subquestion1> or </sub>,
# which would otherwise pass as a (short) query.
_TAGS = re.compile(r"</?\s*[A-Za-z][\w-]*\s*>|```\w*", re.I)
_MARKER = re.compile(r"^(?:\#\d+\s*|[-*+•·>#]+\s*|\(?\d{1,2}\s*[.):\]](?!\d)\s*|[a-z]\)\s+)+", re.I)
# "1.What" is a marker, "1.5 million" and "2:30" are not: a marker is never followed by a digit.
# A label needs a number or a colon, so "Question-answering systems" keeps its first word.
_LABEL = re.compile(r"^(?:(?:alternative|rephrased|rewritten|search|sub|step[- ]back|general|broader|"
                    r"more general)[- ]?)?(?:query|question|rewrite|rephrasing|sub-?question|passage|answer|q)"
                    r"(?:\s*\d{0,2}\s*:|\s*\d{1,2}\s*[.)\-–])\s*", re.I)
_PREAMBLE = re.compile(r"^(?:sure|certainly|of course|okay|ok|absolutely|here (?:are|is)|here's|"
                       r"below (?:are|is)|the following|(?:i )?hope (?:this|that|these)|let me|as an ai)\b", re.I)
_INLINE_NUMBER = re.compile(r"\s+(?=\(?\d{1,2}[.)]\s)")
_QUESTION_SPLIT = re.compile(r"(?:(?<=\?)|(?<=\?[\"'”’]))\s+(?=\S)")
_JSON_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:)?')
_LEADING_QUESTION_WORDS = re.compile(r"^(?:(?:what|how|why|which|who|when|where|is|are|does|do|did|can)\s+)+", re.I)
_QUOTES = "\"'`“”‘’«»"


def _norm(text: str) -> str:
    """Case-, punctuation- and spacing-insensitive form, for duplicate and echo checks."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def same_text(a: str, b: str) -> bool:
    """Whether two texts are the same ignoring case, punctuation and spacing (the duplicate and echo check)."""
    return _norm(a) == _norm(b)


def without_markup(text: str) -> str:
    """``text`` with tags and code fences (a small model's debris) replaced by spaces."""
    return _TAGS.sub(" ", text)


def _pieces(line: str) -> list[str]:
    """One output line -> candidate items; small models often put a whole list on one line."""
    if re.match(r"^\(?1[.)]\s", line.strip()) and re.search(r"\s\(?2[.)]\s", line):
        return _INLINE_NUMBER.split(line.strip())
    parts = _QUESTION_SPLIT.split(line)
    return parts if len(parts) > 1 else [line]


def _clean_item(item: str) -> str:
    """Strip list markers, labels, markdown emphasis and surrounding quotes from one item."""
    text = item.strip()
    for _ in range(3):  # markers, labels and quotes nest ("1. Query 1: \"...\""); peel a few layers
        before = text
        text = _MARKER.sub("", text).strip()
        text = _LABEL.sub("", text).strip()
        text = text.strip("*").strip()  # markdown bold; not "_", which starts identifiers
        if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
            text = text[1:-1].strip()
        if text == before:
            break
    return " ".join(text.rstrip(",;").split())


def _strip_preamble(line: str) -> tuple[str, bool]:
    """Drop a chatty lead-in ("Sure! Here are 3 queries:"), keeping anything after its colon."""
    stripped = line.strip()
    if _PREAMBLE.match(_clean_item(stripped)):
        head, colon, rest = stripped.partition(":")
        if colon:
            return rest.strip(), True
        # "Sure! What is X?" - drop only the chatty first sentence; "OK, why does X fail?" is
        # one question, not chatter, so a single sentence ending in "?" is kept.
        parts = re.split(r"(?<=[.!])\s+", stripped, maxsplit=1)
        if len(parts) > 1:
            return parts[1], True
        return (stripped, False) if stripped.endswith("?") else ("", True)
    if stripped.endswith(":"):
        return "", True
    return stripped, False


def _count_note(counts: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in counts.items() if v)


def json_lines(text: str) -> str:
    """A JSON reply (``{"queries": [...]}``, ``{"question": "..."}`` or a bare list) as one item a line.

    Text that is not such JSON is returned unchanged: models without structured output may
    answer in lines, and the line parser takes it from there.
    """
    body = _THINK.sub("", text).strip().removeprefix("```json").strip("`").strip()
    try:
        data = json.loads(body)
    except ValueError:
        if not body.startswith(("{", "[")):
            return text
        # Cut off at max_tokens mid-JSON: keep the string values that did close (not the keys).
        data = _closed_strings(body)
    if isinstance(data, dict):
        data = [v for value in data.values() for v in (value if isinstance(value, list) else [value])]
    if not isinstance(data, list) or not all(isinstance(v, str) for v in data):
        return text
    return "\n".join(" ".join(v.split()) for v in data)


def _closed_strings(body: str) -> list[str]:
    """The complete JSON string values (not keys) in a truncated JSON text."""
    values = []
    for literal, is_key in _JSON_STRING.findall(body):  # keys matched too, so quotes pair up in order
        if is_key:
            continue
        try:
            values.append(json.loads(f'"{literal}"'))
        except ValueError:  # a broken escape: not a value worth keeping
            continue
    return values


def parse_query_list(text: str, question: str, n: int) -> tuple[list[str], list[str]]:
    """Clean a model's list of queries: returns ``(queries, notes)``, at most ``n`` queries.

    Splits lines (and one-line lists), strips numbering, bullets, quotes and "Query 1:" labels,
    drops preambles, empty, too-short (< 3 chars) and too-long (> 300 chars) items, exact or
    near duplicates (ignoring case and punctuation) and echoes of the question.
    """
    text = _TAGS.sub("\n", _THINK.sub("", json_lines(text or "")))
    seen = {_norm(question)}
    kept: list[str] = []
    dropped = {"preamble": 0, "empty": 0, "too short": 0, "too long": 0, "duplicate": 0,
               "echo of the question": 0, "over the limit": 0}
    for line in text.splitlines():
        line, was_preamble = _strip_preamble(line)
        dropped["preamble"] += was_preamble
        if not line:
            continue
        for piece in _pieces(line):
            item = _clean_item(piece)
            key = _norm(item)
            if not key:
                dropped["empty"] += bool(piece.strip())
            elif len(item) < MIN_QUERY_CHARS:
                dropped["too short"] += 1
            elif len(item) > MAX_QUERY_CHARS:
                dropped["too long"] += 1
            elif key == _norm(question):
                dropped["echo of the question"] += 1
            elif key in seen:
                dropped["duplicate"] += 1
            elif len(kept) >= n:
                dropped["over the limit"] += 1
            else:
                seen.add(key)
                kept.append(item)
    notes = [f"kept {len(kept)}" + (f"; dropped {_count_note(dropped)}" if any(dropped.values()) else "")]
    if dropped["over the limit"]:
        notes.append(f"kept the first {n} (n={n})")
    return kept, notes


def parse_passage(text: str, question: str) -> tuple[str, list[str]]:
    """Clean a HyDE passage: returns ``(passage, notes)``, passage ``""`` when unusable."""
    lines: list[str] = []
    for line in _TAGS.sub("\n", _THINK.sub("", text or "")).splitlines():
        if not lines:  # only the lead-in can be chatter; later lines are the passage
            line = _LABEL.sub("", _strip_preamble(line)[0]).strip()
        if line.strip():
            lines.append(line)
    passage = " ".join(" ".join(lines).split())
    if len(passage) >= 2 and passage[0] in _QUOTES and passage[-1] in _QUOTES:
        passage = passage[1:-1].strip()
    notes: list[str] = []
    # An echo may come back with a word or two around it; what is left once the
    # question is removed must still be passage-sized.
    remainder = _norm(passage).replace(_norm(question), " ").strip() if _norm(question) else _norm(passage)
    if not passage:
        notes.append("model returned an empty passage")
        return "", notes
    if len(remainder) < MIN_PASSAGE_CHARS:
        notes.append("model passage is too short or just echoes the question")
        return "", notes
    if len(passage) > MAX_PASSAGE_CHARS:
        passage = passage[:MAX_PASSAGE_CHARS].rsplit(" ", 1)[0]
        notes.append(f"passage cut to {len(passage)} characters")
    return passage, notes


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
        topic = json.loads(_THINK.sub("", reply or "").strip()).get("topic")
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
