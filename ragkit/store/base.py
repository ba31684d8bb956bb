"""The dense and sparse store interfaces: what every backend implements, and every hook a caller may use.

A backend subclasses :class:`DenseStore` or :class:`SparseStore`, implements the abstract methods,
overrides the hooks it needs (each has a default that suits a store kept in the index folder), and
is registered by name (:func:`ragkit.store.registry.register_dense_store`); config files may then
name it (``dense.backend: <name>``) and the contract tests in tests/test_backends.py run over it.

Callers (the generation writer, ingest, ``ragkit info``) call the hooks; they never ask a store
what it has. Rows are the docstore's rows: row i of the dense and of the sparse store is the
generation's i-th chunk. The ranking helpers at the end are shared by backends and retrieval.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

if TYPE_CHECKING:
    from ragkit.config import Config

CARRY_BLOCK = 65_536  # vectors copied into a new generation at a time (96 MB at 384-d)


class DenseStore(ABC):
    """Vectors by docstore row, searched by inner product (ragkit's vectors are L2-normalised).

    ``dimension`` and ``size`` (number of vectors) are attributes or properties; rows continue
    from ``size`` as vectors are added. ``file_name`` is what the store writes into a generation
    (errors and ``ragkit info`` name it); ``remote`` says its vectors live outside the index folder
    (another machine): ingest then calls :meth:`prepare_ingest` and :meth:`finish_ingest`, and the
    generation's sha256 checks cover only the files the store writes there.
    """

    remote: ClassVar[bool] = False
    file_name: ClassVar[str] = "dense"
    dimension: int
    size: int

    # ----------------------------------------------------------------- what every backend implements

    @abstractmethod
    def add(self, vectors: np.ndarray) -> None:
        """Append vectors (shape (n, dimension)); their rows continue from ``size``."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int,
               allowed_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores), each of shape (n_queries, k' <= k), best first; only ``allowed_rows`` when given.

        A query that found fewer than another of its batch ends in rows of -1 (score -inf).
        """

    @abstractmethod
    def vectors(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The stored vectors (all, or the given rows), to carry them into a new generation."""

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the store into a generation directory (its docstore is written already)."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> DenseStore:
        """Read a store written by ``save``."""

    # ----------------------------------------------------------------- hooks, with their defaults

    @classmethod
    def config_settings(cls, cfg: Config) -> dict:
        """The settings of the store's structure taken from the config (FAISS: the ``dense:`` index settings).

        They are recorded in the manifest; a change writes a new generation that carries every vector over.
        Default: none.
        """
        return {}

    @classmethod
    def config_options(cls, cfg: Config) -> dict:
        """Where and how a remote store connects, from its config section (not recorded). Default: none."""
        return {}

    @classmethod
    def create(cls, dimension: int, settings: dict, options: dict) -> DenseStore:
        """An empty store for ``dimension``-d vectors. Default: ``cls(dimension, **settings)``."""
        return cls(dimension, **settings)

    @classmethod
    def load_mapped(cls, directory: Path) -> DenseStore:
        """Like :meth:`load`, for reading only (carrying vectors forward): a store may leave them in the file,
        memory-mapped. Default: :meth:`load`."""
        return cls.load(directory)

    @classmethod
    def prepare_ingest(cls, index_dir: Path, options: dict, dimension: int) -> dict:
        """Before an ingest writes anything (remote stores): check the target, finish a killed ingest.

        Returns the options completed (a host resolved from a name). Default: ``options`` unchanged.
        """
        return options

    @classmethod
    def finish_ingest(cls, index_dir: Path, options: dict) -> None:
        """After a new generation is live (remote stores): drop what it no longer holds. Default: nothing."""

    def prepare(self, rows: int, sample: Callable[[np.ndarray], np.ndarray]) -> None:
        """Told, before the first add, how many vectors will come; ``sample(picks)`` gives the vectors of the
        given rows (to train on). Default: nothing."""

    def carry(self, old: DenseStore, rows: np.ndarray) -> None:
        """Take the rows ``rows`` of the previous generation's store ``old`` as this store's first rows.

        Default: add their vectors, read in blocks (a large index's are never all copied at once).
        A remote store that holds them already may just count them.
        """
        for start in range(0, len(rows), CARRY_BLOCK):
            self.add(old.vectors(rows[start:start + CARRY_BLOCK]))

    def describe(self) -> dict | None:
        """The structure as built, recorded as the manifest's ``dense.index`` (with a ``note`` ingest shows).
        Default: None (nothing to record)."""
        return None

    def where(self) -> dict:
        """Where a remote store keeps the vectors, merged into the manifest's ``dense`` section (never a key).
        Default: nothing."""
        return {}

    def stats(self) -> dict:
        """What ``ragkit info`` adds to the manifest's ``dense`` section (a remote store: records held now).
        Default: nothing."""
        return {}


class SparseStore(ABC):
    """A lexical index over the docstore rows' texts.

    Built empty as ``create(settings, options)``, where ``settings`` are the keys ``settings()``
    returns. ``size`` is the number of rows; ``file_name``, ``remote`` as for :class:`DenseStore`.
    """

    remote: ClassVar[bool] = False
    file_name: ClassVar[str] = "sparse"
    size: int

    # ----------------------------------------------------------------- what every backend implements

    @abstractmethod
    def settings(self) -> dict:
        """The settings that define the scores (recorded in the manifest; a change rebuilds the index)."""

    @abstractmethod
    def build(self, texts: list[str]) -> None:
        """Index ``texts``; row i is texts[i]."""

    @abstractmethod
    def tokenize(self, texts: list[str]) -> list[list[str]]:
        """Each text as the terms this index matches (the same function for documents and queries)."""

    @abstractmethod
    def term_scores(self, terms: list[str]) -> np.ndarray:
        """The score of every row for already tokenised ``terms`` (shape (size,))."""

    @abstractmethod
    def search(self, query: str, k: int,
               allowed_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of the top ``k`` rows with a positive score, best first; only ``allowed_rows`` when given."""

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the index into a generation directory (its docstore is written already)."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> SparseStore:
        """Read an index written by ``save``."""

    def scores(self, query: str) -> np.ndarray:
        """The score of every row for ``query`` (shape (size,)): :meth:`term_scores` of its tokens."""
        return self.term_scores(self.tokenize([query])[0])

    # ----------------------------------------------------------------- hooks, with their defaults

    @classmethod
    def config_options(cls, cfg: Config) -> dict:
        """Where and how a remote store connects, from its config section (not recorded). Default: none."""
        return {}

    @classmethod
    def create(cls, settings: dict, options: dict) -> SparseStore:
        """An empty index with the scoring ``settings``. Default: ``cls(**settings)``."""
        return cls(**settings)

    @classmethod
    def prepare_ingest(cls, index_dir: Path, options: dict) -> dict:
        """Before an ingest writes anything (remote stores): check the target, finish a killed ingest.

        Returns the options completed. Default: ``options`` unchanged.
        """
        return options

    @classmethod
    def finish_ingest(cls, index_dir: Path, options: dict) -> None:
        """After a new generation is live (remote stores): drop what it no longer holds. Default: nothing."""

    def carry(self, old_generation: Path, old_rows: np.ndarray) -> None:
        """Before :meth:`build`: the first ``len(old_rows)`` rows are rows ``old_rows`` of ``old_generation``
        (a remote store may keep their records as written). Default: nothing (``build`` indexes every row)."""

    def stats(self) -> dict:
        """What ``ragkit info`` adds to the manifest's ``sparse`` section. Default: nothing."""
        return {}


# --------------------------------------------------------------------------- ranking helpers


def empty_result(n_queries: int) -> tuple[np.ndarray, np.ndarray]:
    """No rows and no scores for each of ``n_queries`` queries (a dense search that found nothing)."""
    return np.zeros((n_queries, 0), dtype=np.int64), np.zeros((n_queries, 0), dtype=np.float32)


def top_positive(scores: np.ndarray, k: int, allowed_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(rows, scores) of the ``k`` best positive ``scores`` (one per row), best first; only ``allowed_rows`` when given."""
    rows = np.flatnonzero(scores > 0)
    return top_among(rows, scores[rows], k, allowed_rows)


def top_among(rows: np.ndarray, scores: np.ndarray, k: int,
              allowed_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`top_positive`, over the given ``rows`` (ascending, unique) and their ``scores`` only."""
    keep = scores > 0
    if allowed_rows is not None:
        keep &= np.isin(rows, allowed_rows)
    rows, scores = rows[keep], scores[keep]
    if len(rows) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        rows, scores = rows[part], scores[part]
    # Ties broken by row so results are deterministic.
    order = np.lexsort((rows, -scores))
    return rows[order].astype(np.int64), scores[order]
