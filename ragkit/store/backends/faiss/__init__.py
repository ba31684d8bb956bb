"""The ``faiss`` dense backend: one backend whatever the index structure (``dense.index``).

``flat`` holds the exact index and what every FAISS index shares (the file, searching, length
checks); ``ann`` the backend itself, :class:`~ragkit.store.backends.faiss.ann.FaissDenseIndex`
(flat, HNSW, IVF, or chosen by size).
"""

from ragkit.store.backends.faiss.ann import FaissDenseIndex
from ragkit.store.backends.faiss.flat import FILE_NAME

__all__ = ["FILE_NAME", "FaissDenseIndex"]
