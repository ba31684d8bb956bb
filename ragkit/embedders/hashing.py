"""``embedder.kind: hash``: deterministic bag-of-words feature hashing. No model, instant.

For tests and for trying ragkit without a model (``configs/fast.yaml``): texts sharing words
get similar vectors, so retrieval behaves meaningfully, if far below a real embedder.
"""

from __future__ import annotations

import hashlib
import re
from typing import Callable

import numpy as np

from ragkit.config import EmbedderConfig
from ragkit.embedders.base import RagkitEmbeddings, normalise

_TOKEN = re.compile(r"\w+", re.UNICODE)


class HashEmbeddings(RagkitEmbeddings):
    """Deterministic bag-of-words embeddings via feature hashing: each word adds +-1 to one dimension."""

    def __init__(self, dimension: int = 256):
        self.dimension = int(dimension)
        self.model_id = f"hash:{self.dimension}"

    def embed_array(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Hash the words of each text (lowercased) into an L2-normalised float32 row."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in _TOKEN.findall(text.lower()):
                digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                out[row, value % self.dimension] += 1.0 if (value >> 63) else -1.0
        if progress and texts:
            progress(len(texts))
        return normalise(out)


def build_hash(cfg: EmbedderConfig) -> HashEmbeddings:
    """The ``hash`` registry entry (``embedder.dimension``, default 256)."""
    return HashEmbeddings(dimension=cfg.dimension or 256)
