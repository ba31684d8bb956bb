"""Embedders: one interface (:class:`RagkitEmbeddings`), backends registered by the name used in config.

``embedder.kind``:

- ``local`` (default, :mod:`ragkit.embedders.local`): all-MiniLM-L6-v2 as int8 ONNX on
  onnxruntime. No key, no network. ``embedder.model: e5-small`` picks multilingual-e5-small
  instead (:mod:`ragkit.embedders.e5`, the ``e5`` extra), which embeds queries differently from
  documents (:meth:`RagkitEmbeddings.embed_queries`).
- ``openai`` (:mod:`ragkit.embedders.openai`): LangChain's ``OpenAIEmbeddings`` (key from
  ``OPENAI_API_KEY``), built lazily so that nothing contacts the service until the first text.
- ``hash`` (:mod:`ragkit.embedders.hashing`): deterministic bag-of-words hashing, no model.

The index manifest records ``model_id`` and ``dimension``; a query-time embedder whose id
differs is refused (see :mod:`ragkit.store.manifest`).
Another backend is one :func:`register_embedder` call away.
"""

from __future__ import annotations

from typing import Callable

from ragkit.config import EmbedderConfig, register_backend_name
from ragkit.embedders.base import RagkitEmbeddings
from ragkit.embedders.hashing import HashEmbeddings, build_hash
from ragkit.embedders.local import LocalMiniLMEmbeddings, build_local
from ragkit.embedders.openai import OpenAIEmbedder, build_openai
from ragkit.errors import EmbedderError

__all__ = ["EMBEDDERS", "EmbedderConfig", "EmbedderError", "HashEmbeddings", "LocalMiniLMEmbeddings",
           "OpenAIEmbedder", "RagkitEmbeddings", "build_embedder", "register_embedder"]

EmbedderBuilder = Callable[[EmbedderConfig], RagkitEmbeddings]
"""Builds an embedder from the ``embedder:`` section; nothing is loaded or contacted until the first text."""

EMBEDDERS: dict[str, EmbedderBuilder] = {}


def register_embedder(kind: str, builder: EmbedderBuilder) -> None:
    """Make ``embedder.kind: <kind>`` build its embedder with ``builder``."""
    EMBEDDERS[kind] = builder
    register_backend_name("embedder", "kind", kind)


register_embedder("local", build_local)
register_embedder("hash", build_hash)
register_embedder("openai", build_openai)


def build_embedder(cfg: EmbedderConfig) -> RagkitEmbeddings:
    """Build the embedder named by ``cfg.kind``."""
    try:
        factory = EMBEDDERS[cfg.kind]
    except KeyError:
        raise EmbedderError(f"unknown embedder.kind {cfg.kind!r}; choose one of {', '.join(sorted(EMBEDDERS))}") from None
    return factory(cfg)
