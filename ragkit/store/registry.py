"""The registries that name the dense and sparse store backends, and what callers do through them.

A generation's manifest records the backend name of its dense and of its sparse index
(``"dense": {"backend": "faiss"}``, ``"sparse": {"backend": "bm25s", ...}``); opening the
generation looks both names up here. A new backend subclasses
:class:`~ragkit.store.base.DenseStore` or :class:`~ragkit.store.base.SparseStore` and calls
:func:`register_dense_store` or :func:`register_sparse_store`: config files may then name it
(``dense.backend: <name>``) and the contract tests in tests/test_backends.py cover it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ragkit.config import register_backend_name
from ragkit.errors import StoreError
from ragkit.store.backends.bm25s import BM25Index
from ragkit.store.backends.faiss import FaissDenseIndex
from ragkit.store.backends.pinecone import PineconeDense, PineconeSparse
from ragkit.store.base import DenseStore, SparseStore
from ragkit.store.manifest import IndexSettings

if TYPE_CHECKING:
    from ragkit.config import Config

DENSE_STORES: dict[str, type[DenseStore]] = {}
SPARSE_STORES: dict[str, type[SparseStore]] = {}


def register_dense_store(name: str, cls: type[DenseStore]) -> None:
    """Make ``cls`` the dense backend called ``name`` (the name configs and manifests use)."""
    DENSE_STORES[name] = cls
    register_backend_name("dense", "backend", name)


def register_sparse_store(name: str, cls: type[SparseStore]) -> None:
    """Make ``cls`` the sparse backend called ``name`` (the name configs and manifests use)."""
    SPARSE_STORES[name] = cls
    register_backend_name("sparse", "backend", name)


register_dense_store("faiss", FaissDenseIndex)  # flat, hnsw, ivf: ragkit.store.backends.faiss
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
    """An empty dense store of ``backend`` with its structure ``settings`` and (a remote one's) ``options``."""
    return dense_store_class(backend).create(dimension, settings, options)


def new_sparse_store(backend: str, settings: dict, options: dict) -> SparseStore:
    """An empty sparse store of ``backend`` with its scoring ``settings`` and (a remote one's) ``options``."""
    return sparse_store_class(backend).create(settings, options)


def store_options(cfg: Config) -> tuple[dict, dict, dict]:
    """(dense structure settings, dense options, sparse options) the configured backends take from ``cfg``."""
    dense = dense_store_class(cfg.dense.backend)
    return dense.config_settings(cfg), dense.config_options(cfg), sparse_store_class(cfg.sparse.backend).config_options(cfg)


def prepare_ingest(index_dir: Path, settings: IndexSettings) -> IndexSettings:
    """Let remote dense and sparse backends check themselves and finish a killed ingest before anything is written.

    Returns the settings with the backends' options completed (a Pinecone host resolved from a name),
    and the sparse settings as the completed store records them.
    """
    dense = dense_store_class(settings.dense_backend)
    if dense.remote:
        settings = replace(settings, dense_options=dense.prepare_ingest(index_dir, settings.dense_options,
                                                                        settings.embedder.dimension))
    sparse = sparse_store_class(settings.sparse_backend)
    if sparse.remote:
        options = sparse.prepare_ingest(index_dir, settings.sparse_options)
        recorded = sparse.create(settings.sparse, options).settings()
        settings = replace(settings, sparse_options=options, sparse=recorded)
    return settings


def finish_ingest(index_dir: Path, settings: IndexSettings) -> None:
    """Let remote dense and sparse backends drop what the generation just made live no longer holds."""
    for store, options in ((dense_store_class(settings.dense_backend), settings.dense_options),
                           (sparse_store_class(settings.sparse_backend), settings.sparse_options)):
        if store.remote:
            store.finish_ingest(index_dir, options)
