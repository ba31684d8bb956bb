"""The embedder interface: LangChain ``Embeddings`` plus the identity the index manifest records.

The manifest records ``model_id`` and ``dimension``; a query-time embedder whose id differs is
refused (see :mod:`ragkit.store.generations`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from langchain_core.embeddings import Embeddings


class RagkitEmbeddings(Embeddings):
    """LangChain ``Embeddings`` with the identity the index manifest records.

    A backend overrides :meth:`embed_array` (or LangChain's ``embed_documents``); the other
    methods follow from it. A model that embeds questions differently from what they search
    (e5's ``query: `` prefix) also overrides :meth:`embed_queries`, which search calls.
    """

    model_id: str = "unknown"
    dimension: int = 0
    max_tokens: int = 0  # how many of its own tokens the model reads (longer texts are cut); 0 = no limit

    def count_tokens(self, texts: list[str]) -> list[int] | None:
        """Each text's length in the model's own tokens (special tokens included), or None when unknown."""
        return None

    def embed_array(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed texts into a float32 array of shape (len(texts), dimension), L2-normalised.

        ``progress(n)`` is called as texts are done, with how many (ingest's progress bar).
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = normalise(np.asarray(self.embed_documents(texts), dtype=np.float32))
        if progress:
            progress(len(texts))
        return vectors

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Embed search queries like :meth:`embed_array` (by default the same vectors as documents)."""
        return self.embed_array(texts)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """LangChain's interface: the vectors of :meth:`embed_array` as lists."""
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """LangChain's interface: one query's vector (:meth:`embed_queries`)."""
        return self.embed_queries([text])[0].tolist()


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 length (an all-zero row stays zero), as float32."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)
