"""``embedder.kind: openai``: OpenAI (or any OpenAI-compatible endpoint) embeddings via LangChain.

The client is built at the first text embedded, so building needs neither the network nor a key;
the key comes from ``OPENAI_API_KEY`` and never appears in a message or a repr. The only host
contacted is the configured one: LangChain's token counting would otherwise download tiktoken's
tables from a third-party host (see :meth:`OpenAIEmbedder._client_settings`).
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from ragkit.config import EmbedderConfig
from ragkit.embedders.base import RagkitEmbeddings, normalise
from ragkit.errors import EmbedderError

_OPENAI_DIMS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class OpenAIEmbedder(RagkitEmbeddings):
    """OpenAI (or any OpenAI-compatible endpoint) embeddings through LangChain's ``OpenAIEmbeddings``.

    The client is built on first use, so building the embedder never needs the network; the
    key comes from ``OPENAI_API_KEY`` and is never stored on this object's repr.
    """

    def __init__(self, model: str = "text-embedding-3-small", dimension: int | None = None,
                 base_url: str | None = None, batch_size: int = 256):
        self.model = model
        self.base_url = base_url
        self.batch_size = batch_size
        self.dimension = int(dimension or _OPENAI_DIMS.get(model, 0))
        if not self.dimension:
            raise EmbedderError(f"unknown dimension for embedding model {model!r}: set embedder.dimension")
        self.model_id = f"openai:{model}"
        self._client = None

    def __repr__(self) -> str:
        return f"OpenAIEmbedder(model={self.model!r}, base_url={self.base_url!r})"

    def _load(self):
        if self._client is None:
            if not os.environ.get("OPENAI_API_KEY"):
                raise EmbedderError("embedder.kind is 'openai' but OPENAI_API_KEY is not set")
            from langchain_openai import OpenAIEmbeddings

            self._client = OpenAIEmbeddings(**self._client_settings())
        return self._client

    def _client_settings(self) -> dict:
        """``OpenAIEmbeddings`` arguments that reach no host but the configured one.

        LangChain splits long texts by tiktoken tokens (``check_embedding_ctx_length``) and sends
        token ids; tiktoken downloads its tables on first use. Another server (``base_url``) gets
        the text itself: its tokenizer is not OpenAI's, and it may not accept token ids. OpenAI
        itself gets token ids counted with the tables ragkit ships (no download).
        """
        settings: dict = {"model": self.model, "chunk_size": self.batch_size}
        if self.base_url or self.model not in _OPENAI_DIMS:
            settings["check_embedding_ctx_length"] = False
        else:
            from ragkit.text.tiktoken_offline import prepare_tiktoken_cache

            prepare_tiktoken_cache()
        if self.base_url:
            settings["base_url"] = self.base_url
        return settings

    def _failure(self, exc: Exception) -> str:
        """One line on what failed: the key only when the server refused it."""
        where = "embedder.base_url" if self.base_url else "the network"
        if type(exc).__name__ in ("AuthenticationError", "PermissionDeniedError"):
            return f"OpenAI embeddings failed: the server refused OPENAI_API_KEY ({type(exc).__name__})"
        return f"OpenAI embeddings failed ({type(exc).__name__}); check {where} and OPENAI_API_KEY"

    def embed_array(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed ``texts`` in requests of ``batch_size``; any failure is one :class:`EmbedderError` line."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        client = self._load()
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            try:
                out.extend(client.embed_documents(batch))
            except Exception as exc:  # network, auth: one clear line, never the key
                raise EmbedderError(self._failure(exc)) from None
            if progress:
                progress(len(batch))
        array = np.asarray(out, dtype=np.float32)
        if array.shape[1] != self.dimension:
            raise EmbedderError(f"model returned {array.shape[1]}-d vectors, expected {self.dimension}: "
                                "set embedder.dimension")
        return normalise(array)


def build_openai(cfg: EmbedderConfig) -> OpenAIEmbedder:
    """The ``openai`` registry entry (batches of at least 64 texts per request)."""
    return OpenAIEmbedder(model=cfg.model or "text-embedding-3-small", dimension=cfg.dimension,
                          base_url=cfg.base_url, batch_size=max(cfg.batch_size, 64))
