"""One answer's model calls: the token budget of each call, packing sources into it, counting and streaming."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from typing import Callable

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from ragkit.errors import GenerationError, OutOfTime
from ragkit.generation.citations import Source
from ragkit.llm.base import ChatModel

MIN_TRUNCATED = 24   # tokens: below this a cut-down chunk is noise, so it is dropped instead
MIN_ROOM = 8         # tokens a call must leave for data, or the question is "too long"

Render = Callable[[int, str, str], str]  # (n, ref, text) -> the data block, e.g. format_source


def clock() -> float:
    """The clock deadlines are read on (``time.perf_counter``; tests replace it)."""
    return time.perf_counter()


class ModelRun:
    """One answer's model calls: budgets, packing, call counting and streaming of the final step.

    ``notes`` collects what the reader should know (sources cut or left out); ``calls`` counts
    the model calls made. Every call is capped: the final step at ``answer_tokens``, the others (a map,
    a refine step before the last) at ``step_tokens``; with a ``deadline`` (a :func:`clock` time) a call
    is not started, or is cut, once it has passed, and :class:`OutOfTime` is raised.
    """

    def __init__(self, llm: ChatModel, answer_tokens: int, max_context_tokens: int | None,
                 on_token: Callable[[str], None] | None, *, step_tokens: int | None = None,
                 deadline: float | None = None):
        self.llm, self.answer_tokens, self.max_context_tokens = llm, answer_tokens, max_context_tokens
        self.step_tokens = min(step_tokens or answer_tokens, answer_tokens)
        self.on_token, self.deadline = on_token, deadline
        self.calls = 0
        self.notes: list[str] = []

    def call(self, system: str, human: str, *, final: bool = False) -> str:
        """One model call; the final step streams to ``on_token`` when there is one."""
        messages: list[BaseMessage] = [SystemMessage(content=system), HumanMessage(content=human)]
        self._check_time()
        self.calls += 1
        tokens = self.answer_tokens if final else self.step_tokens
        listener = self.on_token if final else None
        if listener is None and self.deadline is None:
            return self.llm.complete(messages, max_tokens=tokens) or ""
        # Streamed, so that a call running past the deadline can be stopped between tokens.
        pieces = []
        stream = self.llm.stream(messages, max_tokens=tokens)
        try:
            for piece in stream:
                if piece:
                    pieces.append(piece)
                    if listener is not None:
                        listener(piece)
                self._check_time()
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()   # stops the generation when the loop left early
        return "".join(pieces)

    def _check_time(self) -> None:
        if self.deadline is not None and clock() >= self.deadline:
            raise OutOfTime()

    def room(self, system: str, empty_human: str, question: str) -> int:
        """Tokens one call can spend on data blocks, given its prompt without them."""
        window = int(self.llm.context_window)
        # The margin covers the chat template's role tokens, which the count cannot see, and the
        # count itself being an estimate (ChatLLM counts with cl100k_base whatever the model).
        margin = 16 + window // 10
        fixed = self.llm.count_tokens(system) + self.llm.count_tokens(empty_human)
        room = window - self.answer_tokens - fixed - margin
        if room < MIN_ROOM:
            if self.answer_tokens + margin + MIN_ROOM >= window:
                raise GenerationError(f"answer_tokens={self.answer_tokens} leaves no room in the model's context "
                                      f"of {window} tokens")
            raise GenerationError(f"the question is {self.llm.count_tokens(question)} tokens; the model's context "
                                  f"is {window} (with {self.answer_tokens} kept for the answer and {fixed + margin} "
                                  "for the prompt), which leaves no room for the documents: shorten the question")
        return room if self.max_context_tokens is None else min(room, self.max_context_tokens)

    def pack(self, items: list[Source], room: int, render: Render) -> list[Source]:
        """The leading ``items`` whose blocks fit in ``room`` tokens; the first misfit is cut down or dropped.

        Packing stops at the first misfit so that what the model sees is always the best-ranked
        prefix, numbered as retrieved.
        """
        kept: list[Source] = []
        left = room
        for item in items:
            cost = self.llm.count_tokens(render(item.n, item.label(), item.text)) + 1  # +1: the joining newline
            if cost <= left:
                kept.append(item)
                left -= cost
                continue
            if left >= MIN_TRUNCATED or not kept:
                cut = self._truncate(item, left - 1, render)
                if cut is not None:
                    kept.append(cut)
                    self.notes.append(f"source [{item.n}] was cut to fit the model's context")
            dropped = [s.n for s in items if s.n > kept[-1].n] if kept else [s.n for s in items]
            if dropped:
                self.notes.append(f"{len(dropped)} source(s) did not fit the model's context and were left out: "
                                  + " ".join(f"[{n}]" for n in dropped))
            break
        return kept

    def _truncate(self, item: Source, left: int, render: Render) -> Source | None:
        """``item`` cut at a word boundary to the longest prefix whose block fits in ``left`` tokens."""
        ends = [m.end() for m in re.finditer(r"\S+", item.text)]
        best, lo, hi = None, 1, len(ends) - 1
        while lo <= hi:  # binary search on the word count: count_tokens is the model's, opaque here
            mid = (lo + hi) // 2
            text = item.text[:ends[mid - 1]] + " \u2026"
            if self.llm.count_tokens(render(item.n, item.label(), text)) <= left:
                best, lo = text, mid + 1
            else:
                hi = mid - 1
        return None if best is None else replace(item, text=best)
