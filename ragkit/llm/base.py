"""The chat-model interface every backend is wrapped in (:class:`ChatLLM`): cached, counted, errors that name the setting.

Answers are cached by :class:`~ragkit.llm.cache.LLMCache`, keyed by model id, parameters and
messages. The backends are in :mod:`ragkit.llm.local` and :mod:`ragkit.llm.openai`; the
registry that builds them by ``llm.kind`` is :mod:`ragkit.llm`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage

from ragkit.config import LLMConfig
from ragkit.errors import LLMError, RagkitError
from ragkit.llm.cache import LLMCache


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


class ChatModel(Protocol):
    """What the stages need from a chat model; :class:`ChatLLM` is the one implementation, whatever the backend."""

    kind: str            # the llm.kind it was built from ("local", "openai", …)
    model_id: str
    context_window: int
    follows_instructions: bool   # trusted to write answers (chain auto -> stuff); ragkit.extras.follows_instructions
    usage: "Usage"

    def complete(self, messages: list[BaseMessage] | str, *, max_tokens: int | None = None,
                 stop: list[str] | None = None) -> str: ...

    # Optional: a model with ``structured_output = True`` also takes ``complete(..., schema=...)``
    # (a JSON schema its decoding is held to); callers check ``getattr(llm, "structured_output", False)``.

    def stream(self, messages: list[BaseMessage] | str, *, max_tokens: int | None = None) -> Iterator[str]: ...

    def count_tokens(self, text: str) -> int: ...

    def reset_usage(self) -> "Usage": ...


def _as_messages(messages: list[BaseMessage] | str) -> list[BaseMessage]:
    return [HumanMessage(content=messages)] if isinstance(messages, str) else list(messages)


def message_text(content: Any) -> str:
    """Text of a message content (a string, or a list of content blocks)."""
    if isinstance(content, str):
        return content
    return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content or [] if isinstance(b, (str, dict)))


def chat_params(cfg: LLMConfig) -> dict:
    """The generation parameters of an ``llm:`` section that go into every cache key."""
    return {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens, "seed": cfg.seed}


def scrub_secret(text: str) -> str:
    """Remove the API key from text that may reach the user, and keep it to one line."""
    key = os.environ.get("OPENAI_API_KEY")
    if key and len(key) >= 4:
        text = text.replace(key, "***")
    return " ".join(text.split())[:300]


class ChatLLM:
    """Wraps a LangChain BaseChatModel: a call cache keyed by model id, messages and parameters; usage counting.

    ``chat_model`` may also be a zero-argument factory, called on the first uncached call, so
    that building a ChatLLM is instant and never loads a model or opens a connection.
    ``translate`` maps a backend exception to an :class:`LLMError` (or None: use the generic message).
    ``structured_output``: the backend takes ``response_format={"type": "json_object", "schema": …}``
    (llama.cpp turns the schema into a grammar), so :meth:`complete` can hold a reply to a schema.
    ``json_schema_output``: the backend takes OpenAI's ``response_format={"type": "json_schema", …}``
    instead; only callers that need a schema kept (self-query, see :meth:`schema_format`) send one.
    """

    def __init__(self, chat_model: BaseChatModel | Callable[[], BaseChatModel], model_id: str,
                 context_window: int, params: dict, cache_path: Path | None, *,
                 translate: Callable[[Exception], LLMError | None] | None = None, kind: str = "",
                 structured_output: bool = False, json_schema_output: bool = False,
                 follows_instructions: bool = True):
        self.kind, self.structured_output, self.json_schema_output = kind, structured_output, json_schema_output
        self.follows_instructions = follows_instructions
        # Called with True just before the model is loaded (first uncached call) and False once it
        # is: a front end can say why the first answer takes a moment.
        self.on_load: Callable[[bool], None] | None = None
        self.model_id, self.context_window, self.params, self.cache_path = model_id, context_window, dict(params), cache_path
        self.usage = Usage()
        self._model = chat_model if isinstance(chat_model, BaseChatModel) else None
        self._factory, self._translate = chat_model, translate
        self._cache = LLMCache(cache_path) if cache_path is not None else None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ChatLLM(model_id={self.model_id!r}, context_window={self.context_window}, cache={str(self.cache_path)!r})"

    # ------------------------------------------------------------------ public
    def complete(self, messages: list[BaseMessage] | str, *, max_tokens: int | None = None,
                 stop: list[str] | None = None, schema: dict | None = None) -> str:
        """Answer ``messages`` (a string is one human message); cached answers cost no call.

        ``schema`` (a JSON schema) holds the reply to it when the backend has ``structured_output``;
        elsewhere it is ignored, and the caller parses what comes back.
        """
        msgs, max_tokens, key, hit = self._lookup(messages, max_tokens, stop, schema)
        if hit is not None:
            return hit
        held = self.schema_format(schema)
        extra = {"response_format": held} if held is not None else {}
        try:
            message = self._get_model().invoke(msgs, stop=stop, max_tokens=max_tokens, **extra)
        except Exception as exc:  # backends raise many types; the user needs one line naming a setting
            raise self._error(exc) from None
        text = message_text(message.content)
        prompt_tokens, completion_tokens = self._tokens(msgs, text, getattr(message, "usage_metadata", None))
        self._count(prompt_tokens, completion_tokens)
        self._cache_put(key, text, prompt_tokens, completion_tokens)
        return text

    def schema_format(self, schema: dict | None) -> dict | None:
        """The ``response_format`` that holds a reply to ``schema`` on this backend; None without a schema or a way."""
        if schema is None:
            return None
        if self.structured_output:
            return {"type": "json_object", "schema": schema}
        if self.json_schema_output:
            return {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}
        return None

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
                piece = message_text(chunk.content)
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
        from ragkit.text.tiktoken_offline import get_encoding

        # disallowed_special=(): documents may contain "<|endoftext|>", which is text here, not a control token
        return len(get_encoding("cl100k_base").encode(text, disallowed_special=()))

    def reset_usage(self) -> Usage:
        """Return the usage so far and start a new count (one per question)."""
        usage, self.usage = self.usage, Usage()
        return usage

    # ------------------------------------------------------------------ internals
    def _lookup(self, messages: list[BaseMessage] | str, max_tokens: int | None, stop: list[str] | None,
                schema: dict | None = None):
        """(messages, max_tokens, cache key, cached text or None); a hit is counted here."""
        msgs = _as_messages(messages)
        max_tokens = max_tokens or self.params.get("max_tokens") or LLMConfig.max_tokens
        payload = {"model_id": self.model_id, "messages": [[m.type, m.content] for m in msgs],
                   "params": {"temperature": self.params.get("temperature"), "max_tokens": max_tokens,
                              "stop": list(stop) if stop else None, "seed": self.params.get("seed")}}
        if self.schema_format(schema) is not None:  # a held reply differs from a free one
            payload["schema"] = schema
        key = LLMCache.key(payload)
        hit = self._cache.get(key) if self._cache is not None else None
        if hit is not None:
            self.usage.cached_calls += 1
        return msgs, max_tokens, key, hit

    def _get_model(self) -> BaseChatModel:
        with self._lock:  # two threads must not load the local model twice
            if self._model is None:
                if self.on_load is not None:
                    self.on_load(True)
                try:
                    self._model = self._factory()
                finally:
                    if self.on_load is not None:
                        self.on_load(False)
            return self._model

    def _error(self, exc: Exception) -> RagkitError:
        if isinstance(exc, RagkitError):  # already one line naming what to do (a missing extra, a bad setting)
            return exc
        return (self._translate and self._translate(exc)) or LLMError(
            scrub_secret(f"the model call failed ({self.model_id}): {type(exc).__name__}: {exc}"))

    def _count(self, prompt_tokens: int, completion_tokens: int) -> None:
        self.usage.calls += 1
        self.usage.prompt_tokens += prompt_tokens
        self.usage.completion_tokens += completion_tokens

    def _tokens(self, msgs: list[BaseMessage], text: str, reported: Any) -> tuple[int, int]:
        # The model's own count when it reports one; otherwise an estimate (llama.cpp streams report none)
        if reported and (reported.get("input_tokens") or reported.get("output_tokens")):
            return int(reported.get("input_tokens") or 0), int(reported.get("output_tokens") or 0)
        return sum(self.count_tokens(message_text(m.content)) for m in msgs), self.count_tokens(text)

    def _cache_put(self, key: str, text: str, prompt_tokens: int, completion_tokens: int) -> None:
        if self._cache is not None:
            self._cache.put(key, self.model_id, text, prompt_tokens, completion_tokens)
