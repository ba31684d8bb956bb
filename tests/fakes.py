"""Test doubles: a scripted chat model. Registered as ``llm.kind: fake`` by a conftest fixture.

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

from ragkit.config import LLMConfig
from ragkit.errors import LLMError
from ragkit.llm.base import ChatLLM, message_text

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
