"""Test doubles: a scripted chat model and a scripted reranker. Registered as ``llm.kind: fake`` and
``search.rerank: fake`` by a conftest fixture.

Never imported by the product: fakes live in the tests.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from ragkit.config import LLMConfig, RerankConfig
from ragkit.errors import LLMError
from ragkit.llm.base import ChatLLM, message_text
from ragkit.rerank import Reranker
from ragkit.text import tokenize

FAKE_CONTEXT = 8192


class ScriptedChatModel(BaseChatModel):
    """A chat model that answers from a script: a list (in order, never cycling) or ``f(prompt_text)``.

    Streams word by word (whitespace kept), so streaming code paths can be tested.
    """

    script: Any
    _position: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "ragkit-scripted"

    def _answer(self, messages: list[BaseMessage]) -> str:
        if callable(self.script):
            return str(self.script("\n\n".join(message_text(m.content) for m in messages)))
        if self._position >= len(self.script):
            raise LLMError("fake model script exhausted")
        self._position += 1
        return str(self.script[self._position - 1])

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self._answer(messages)))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for piece in re.findall(r"\s*\S+|\s+", self._answer(messages)):
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))


def fake_llm(script: Any, cache_dir: Path | None = None, cfg: LLMConfig | None = None) -> ChatLLM:
    """A :class:`ChatLLM` around a :class:`ScriptedChatModel`; cached only when ``cache_dir`` is given.

    The answers depend on a script the cache key cannot see, so a shared cache would replay
    another test's answers: no cache unless asked for.
    """
    cfg = cfg or LLMConfig(kind="fake")
    model = ScriptedChatModel(script=script if callable(script) else list(script))
    cache = Path(cache_dir) / "llm_cache.sqlite" if cache_dir is not None and cfg.cache else None
    params = {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens, "seed": cfg.seed}
    return ChatLLM(model, "fake:scripted", cfg.context_window or FAKE_CONTEXT, params, cache, kind=cfg.kind)


def build_fake(cfg: LLMConfig, cache_path: Path | None) -> ChatLLM:
    """The ``fake`` registry entry: a scripted model answering every prompt with a fixed cited sentence."""
    return fake_llm(lambda prompt: "Scripted answer [1].", None, cfg)


# --------------------------------------------------------------------------- rerankers


def overlap_scores(query: str, texts: list[str]) -> list[float]:
    """A cross-encoder's job done by counting: each text's share of the query's (stemmed) terms."""
    wanted = set(tokenize([query])[0])
    return [len(wanted & set(tokens)) / max(len(wanted), 1) for tokens in tokenize(list(texts))]


class ScriptedReranker(Reranker):
    """A reranker whose scores come from ``script(query, texts)`` (default :func:`overlap_scores`); it records every call.

    ``script`` may return anything, or raise: the stage's checks and fallbacks are what tests exercise.
    """

    name = "fake"
    model_id = "fake:scripted-reranker"

    def __init__(self, script=None):
        self.script = script or overlap_scores
        self.calls: list[tuple[str, list[str]]] = []

    def rerank(self, query: str, texts) -> list[float]:
        """The script's answer for ``(query, texts)``."""
        self.calls.append((query, list(texts)))
        return self.script(query, list(texts))


FAKE_RERANKERS: list[ScriptedReranker] = []   # every reranker built by the registry entry, newest last


def build_fake_reranker(cfg: RerankConfig) -> ScriptedReranker:
    """The ``fake`` reranker registry entry: scores by query-term overlap, unless ``rerank.model`` is ``reverse``
    (the fused order turned upside down, so a test sees every rank move)."""
    reverse = cfg.model == "reverse"
    reranker = ScriptedReranker((lambda query, texts: [float(i) for i in range(len(texts))]) if reverse else None)
    FAKE_RERANKERS.append(reranker)
    return reranker
