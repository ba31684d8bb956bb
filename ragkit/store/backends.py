"""The dense and sparse index interfaces, and the registries that name their backends.

A generation's manifest records the backend name of its dense and of its sparse index
(``"dense": {"backend": "faiss"}``, ``"sparse": {"backend": "bm25s", ...}``); opening the
generation looks both names up here. A new backend (Pinecone, an approximate FAISS index)
implements :class:`DenseStore` or :class:`SparseStore` and calls :func:`register_dense_store`
or :func:`register_sparse_store`; the contract tests in tests/test_backends.py then cover it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Protocol

import numpy as np

from ragkit.errors import StoreError
from ragkit.store.ann import FaissDenseIndex
from ragkit.store.manifest import IndexSettings
from ragkit.store.pinecone_dense import PineconeDense
from ragkit.store.pinecone_sparse import PineconeSparse
from ragkit.store.sparse import BM25Index


class DenseStore(Protocol):
    """Vectors by docstore row, searched by inner product (ragkit's vectors are L2-normalised).

    Built empty as ``cls(dimension, **settings)``: the FAISS index settings of the ``dense:`` section
    for ``faiss``, ``pinecone=options`` for a remote store; rows continue from ``size`` as vectors are added.
    """

    dimension: int

    @property
    def size(self) -> int:
        """Number of vectors."""

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors (shape (n, dimension))."""

    def search(self, queries: np.ndarray, k: int,
               allowed_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores), each of shape (n_queries, k' <= k), best first; only ``allowed_rows`` when given.

        A query that found fewer than another of its batch ends in rows of -1 (score -inf).
        """

    def vectors(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The stored vectors (all, or the given rows), to carry them into a new generation."""

    def save(self, directory: Path) -> None:
        """Write the index into a generation directory."""

    @classmethod
    def load(cls, directory: Path) -> DenseStore:
        """Read an index written by ``save``."""


class SparseStore(Protocol):
    """A lexical index over the docstore rows' texts.

    Built empty as ``cls(**settings)``, where ``settings`` are the keys ``settings()`` returns.
    """

    @property
    def size(self) -> int:
        """Number of rows."""

    def settings(self) -> dict:
        """The settings that define the scores (recorded in the manifest)."""

    def build(self, texts: list[str]) -> None:
        """Index ``texts``; row i is texts[i]."""

    def scores(self, query: str) -> np.ndarray:
        """The score of every row for ``query`` (shape (size,))."""

    def tokenize(self, texts: list[str]) -> list[list[str]]:
        """Each text as the terms this index matches (the same function for documents and queries)."""

    def term_scores(self, terms: list[str]) -> np.ndarray:
        """The score of every row for already tokenised ``terms`` (shape (size,))."""

    def search(self, query: str, k: int,
               allowed_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of the top ``k`` rows with a positive score, best first; only ``allowed_rows`` when given."""

    def save(self, directory: Path) -> None:
        """Write the index into a generation directory."""

    @classmethod
    def load(cls, directory: Path) -> SparseStore:
        """Read an index written by ``save``."""


DENSE_STORES: dict[str, type[DenseStore]] = {}
SPARSE_STORES: dict[str, type[SparseStore]] = {}


def register_dense_store(name: str, cls: type[DenseStore]) -> None:
    """Make ``cls`` the dense backend called ``name`` (the name manifests record)."""
    DENSE_STORES[name] = cls


def register_sparse_store(name: str, cls: type[SparseStore]) -> None:
    """Make ``cls`` the sparse backend called ``name`` (the name manifests record)."""
    SPARSE_STORES[name] = cls


register_dense_store("faiss", FaissDenseIndex)  # flat, hnsw, ivf: ragkit.store.ann
register_dense_store("pinecone", PineconeDense)
register_sparse_store("bm25s", BM25Index)
register_sparse_store("pinecone", PineconeSparse)


def dense_store_class(name: str) -> type[DenseStore]:
    """The dense backend registered as ``name``; StoreError when there is none."""
    return _lookup(DENSE_STORES, "dense", name)


def sparse_store_class(name: str) -> type[SparseStore]:
    """The sparse backend registered as ``name``; StoreError when there is none."""
    return _lookup(SPARSE_STORES, "sparse", name)


def _lookup(registry: dict, kind: str, name: str) -> type:
    try:
        return registry[name]
    except KeyError:
        raise StoreError(f"unknown {kind} index backend {name!r} (registered: {', '.join(sorted(registry))}); "
                         "register it, or re-ingest with --rebuild") from None


def load_dense(generation: Path, manifest: dict) -> DenseStore:
    """The dense index of a generation, read with the backend its manifest names."""
    return dense_store_class(manifest["dense"]["backend"]).load(generation)


def load_sparse(generation: Path, manifest: dict) -> SparseStore:
    """The sparse index of a generation, read with the backend its manifest names."""
    return sparse_store_class(manifest["sparse"]["backend"]).load(generation)


def new_dense_store(backend: str, dimension: int, settings: dict, options: dict) -> DenseStore:
    """An empty dense store of ``backend``: FAISS with its index ``settings``, a remote one with its ``options``."""
    return dense_store_class(backend)(dimension, **{**settings, **_remote(options)})


def new_sparse_store(backend: str, settings: dict, options: dict) -> SparseStore:
    """An empty sparse store of ``backend`` with its BM25 ``settings`` (and a remote one's ``options``, which
    win over the ``pinecone`` entry a recorded settings() holds)."""
    return sparse_store_class(backend)(**{**settings, **_remote(options)})


def _remote(options: dict) -> dict:
    # The remote backends take their section as ``pinecone=``; a local one takes none.
    return {"pinecone": options} if options else {}


def prepare_ingest(index_dir: Path, settings: IndexSettings) -> IndexSettings:
    """Let remote dense and sparse backends check themselves and finish a killed ingest before anything is written.

    Returns the settings with the backends' options completed (a Pinecone host resolved from a name).
    """
    hook = getattr(dense_store_class(settings.dense_backend), "prepare_ingest", None)
    if hook is not None:
        settings = replace(settings, dense_options=hook(index_dir, settings.dense_options, settings.embedder.dimension))
    sparse_class = sparse_store_class(settings.sparse_backend)
    hook = getattr(sparse_class, "prepare_ingest", None)
    if hook is not None:
        options = hook(index_dir, settings.sparse_options)
        recorded = new_sparse_store(settings.sparse_backend, settings.sparse, options).settings()
        settings = replace(settings, sparse_options=options, sparse=recorded)
    return settings


def finish_ingest(index_dir: Path, settings: IndexSettings) -> None:
    """Let remote dense and sparse backends drop what the generation just made live no longer holds."""
    hook = getattr(dense_store_class(settings.dense_backend), "finish_ingest", None)
    if hook is not None:
        hook(index_dir, settings.dense_options)
    hook = getattr(sparse_store_class(settings.sparse_backend), "finish_ingest", None)
    if hook is not None:
        hook(index_dir, settings.sparse_options)
