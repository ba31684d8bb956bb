"""``llm.kind: openai``: ChatOpenAI, and with ``llm.base_url`` any OpenAI-compatible server (Ollama, vLLM, llama.cpp).

The client is built at the first call (langchain-openai is imported then), so building needs
neither the network nor a key; the backend's exceptions become an :class:`~ragkit.errors.LLMError`
naming the setting to fix, never holding the key.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from langchain_core.language_models import BaseChatModel

from ragkit.config import LLMConfig
from ragkit.errors import LLMError
from ragkit.llm.base import ChatLLM, chat_params, scrub_secret

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
OPENAI_CONTEXT = 128000  # tokens, when llm.context_window is 0


def _redact_url(url: str) -> str:
    """The URL without user:password@ or a query string, which may carry credentials."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def build_openai(cfg: LLMConfig, cache_path: Path | None) -> ChatLLM:
    """``llm.kind: openai``: ChatOpenAI, or any OpenAI-compatible server at ``llm.base_url``."""
    model_name = cfg.model or DEFAULT_OPENAI_MODEL
    where = _redact_url(cfg.base_url) if cfg.base_url else "api.openai.com"
    model_id = f"openai:{model_name}" + (f"@{where}" if cfg.base_url else "")

    def factory() -> BaseChatModel:
        key = os.environ.get("OPENAI_API_KEY")
        if not key and not cfg.base_url:
            raise LLMError("llm.kind is 'openai' but OPENAI_API_KEY is not set")
        # Local servers (Ollama, vLLM, llama.cpp) ignore the key, but the client insists on one
        return _chat_openai_class(bool(cfg.base_url))(
            model=model_name, base_url=cfg.base_url, api_key=key or "not-needed", temperature=cfg.temperature,
            max_tokens=cfg.max_tokens, timeout=cfg.timeout_s, max_retries=1, seed=cfg.seed)

    def translate(exc: Exception) -> LLMError | None:
        import openai

        if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError, DNS failures, refused
            return LLMError(f"cannot reach the model at {where} (check llm.base_url, or the server)")
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return LLMError("the model endpoint rejected the key (check OPENAI_API_KEY)")
        if isinstance(exc, openai.NotFoundError):
            hint = "check llm.model, and that llm.base_url ends in /v1" if cfg.base_url else "check llm.model"
            return LLMError(f"model '{model_name}' not found at {where} ({hint})")
        if isinstance(exc, openai.RateLimitError):
            return LLMError(f"the model endpoint at {where} is rate limiting or out of quota (HTTP 429); retry later")
        if isinstance(exc, openai.APIStatusError):
            if "context_length" in str(exc) or "maximum context" in str(exc):
                return LLMError(f"the prompt is too long for '{model_name}' (check llm.context_window, or retrieve fewer chunks)")
            return LLMError(scrub_secret(f"the model endpoint at {where} returned HTTP {exc.status_code} "
                                   f"(check llm.model and llm.base_url): {exc.message}"))
        return None

    return ChatLLM(factory, model_id, cfg.context_window or OPENAI_CONTEXT, chat_params(cfg),
                   cache_path, translate=translate, kind="openai",
                   json_schema_output=True)  # OpenAI, vLLM, llama.cpp's server and Ollama take json_schema


@lru_cache(maxsize=2)
def _chat_openai_class(compatible: bool) -> type:
    """ChatOpenAI; for other servers, one that also sends the completion budget as ``max_tokens``.

    ChatOpenAI sends only ``max_completion_tokens``, which Ollama and llama-cpp-python's
    server silently ignore (ollama/ollama#7125, abetlen/llama-cpp-python#1907): answers
    would run to the end of the context.
    """
    from langchain_openai import ChatOpenAI

    if not compatible:
        return ChatOpenAI

    class CompatibleChatOpenAI(ChatOpenAI):
        def _get_request_payload(self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any) -> dict:
            payload = super()._get_request_payload(input_, stop=stop, **kwargs)
            if payload.get("max_completion_tokens") is not None:
                payload["max_tokens"] = payload["max_completion_tokens"]
            return payload

    return CompatibleChatOpenAI
