"""FAISS dense indexes of every kind: exact (flat), HNSW and IVF, chosen by ``dense.index``.

The ``faiss`` backend stays one backend whatever the index structure: the structure is a
setting of it (``kind``), recorded in the manifest's ``dense.index`` section, and the file is
the same ``dense.faiss`` written by ``faiss.write_index`` (no pickle); ``faiss.read_index``
gives back whichever structure was written.

An approximate index is built when it is first searched or saved, once every vector of the
generation is known (IVF trains on them; ``auto`` chooses by their number). Until then added
vectors wait as blocks, unless the caller said beforehand how many will come and offered a
training sample (:meth:`FaissDenseIndex.prepare`, as the generation writer does): then each
block goes straight into FAISS and the index never holds a second copy of the vectors. A generation is always written whole (carried vectors, then new
ones), so removals need nothing special: the new structure never sees the removed vectors.

* ``hnsw``: a graph (``IndexHNSWFlat``), fastest to query, slowest to build.
* ``ivf``: inverted lists over k-means cells (``IndexIVFFlat``, vectors kept exact, so no
  refinement step is needed). Too few vectors to train the cells (fewer than
  :data:`IVF_POINTS_PER_LIST` per list) falls back to flat, and the index says so.
* ``auto``: flat below ``auto_flat_below`` vectors (exact search is fast enough there), else IVF,
  whose recall held on near-duplicate vectors where HNSW's fell (BENCHMARKS.md "Scale").

How wide a search is (HNSW's efSearch, IVF's probed cells) follows the number of vectors unless
set (``hnsw_ef_search`` / ``ivf_probe`` > 0): :func:`search_width` doubles it for every tenfold
growth: the widths that kept recall@10 >= 0.95 of exact search from 10k to 1M vectors
(benchmarks/scale.py; the figures are in BENCHMARKS.md "Scale").

Filters: when at most :data:`EXACT_FILTER_FRACTION` of the rows are allowed, the allowed
vectors are searched exactly (a graph walk or a few probed cells could miss a small
allowed set); otherwise the approximate search runs with a FAISS ``IDSelector``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import faiss
import numpy as np

from ragkit.store.backends.faiss.flat import (
    FILE_NAME,
    FaissIndex,
    check_unit_lengths,
    faiss_search,
    without_empty_columns,
)
from ragkit.store.base import empty_result

if TYPE_CHECKING:
    from ragkit.config import Config

KINDS = ("flat", "hnsw", "ivf", "auto")
# FAISS warns when k-means has fewer than 39 training points per cell: the cells are then noise.
IVF_POINTS_PER_LIST = 39
IVF_TRAIN_POINTS_PER_LIST = 256      # more buys nothing (FAISS samples down to this)
EXACT_FILTER_FRACTION = 0.05
MAX_EF_SEARCH = 4096
# The search widths at WIDTH_AT_ROWS vectors that kept recall@10 >= 0.95 (see the module notes).
WIDTH_AT_ROWS = 100_000
HNSW_EF_SEARCH_AT = 512
IVF_PROBE_AT = 128
# Read-only memory-mapping of an index's stored vectors (flat, HNSW-Flat and IVF-Flat alike);
# measured on faiss 1.15: a 100k x 384 index read this way adds 1-4 MB of anonymous memory, not 150 MB.
MAP_FLAG = getattr(faiss, "IO_FLAG_MMAP_IFC", faiss.IO_FLAG_MMAP)


def ivf_lists_for(rows: int, lists: int) -> int:
    """The number of IVF cells: ``lists`` when set, else about 4 x sqrt(rows) (FAISS's usual rule)."""
    return lists if lists > 0 else max(1, int(round(4 * math.sqrt(rows))))


def search_width(rows: int, at_reference: int) -> int:
    """``at_reference`` (the width at WIDTH_AT_ROWS vectors), doubled for every tenfold growth of ``rows`` (halved for every tenfold fewer)."""
    return max(1, round(at_reference * 2 ** math.log10(max(rows, 1) / WIDTH_AT_ROWS)))


def hnsw_ef_search_for(rows: int, ef_search: int = 0) -> int:
    """HNSW's efSearch for ``rows`` vectors: ``ef_search`` when set (> 0), else by size (:func:`search_width`)."""
    return ef_search if ef_search > 0 else min(MAX_EF_SEARCH, max(16, search_width(rows, HNSW_EF_SEARCH_AT)))


def ivf_probe_for(rows: int, lists: int, probe: int = 0) -> int:
    """IVF's probed cells for ``rows`` vectors in ``lists`` cells: ``probe`` when set (> 0), else by size; at most ``lists``."""
    return min(lists, probe if probe > 0 else search_width(rows, IVF_PROBE_AT))


def structure_of(index: faiss.Index) -> str:
    """``flat``, ``hnsw`` or ``ivf``: what a FAISS index read from disk is."""
    if isinstance(index, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(index, faiss.IndexIVF):
        return "ivf"
    return "flat"


class FaissDenseIndex(FaissIndex):
    """The ``faiss`` dense backend: a flat, HNSW or IVF FAISS index over the docstore's rows."""

    def __init__(self, dimension: int, index: faiss.Index | None = None, *, kind: str = "flat",
                 hnsw_m: int = 32, hnsw_ef_construction: int = 80, hnsw_ef_search: int = 0,
                 ivf_lists: int = 0, ivf_probe: int = 0, auto_flat_below: int = 50_000):
        if kind not in KINDS:
            raise ValueError(f"dense index kind {kind!r} is not one of {', '.join(KINDS)}")
        self.kind = kind
        self.params = {"hnsw_m": hnsw_m, "hnsw_ef_construction": hnsw_ef_construction,
                       "hnsw_ef_search": hnsw_ef_search, "ivf_lists": ivf_lists, "ivf_probe": ivf_probe,
                       "auto_flat_below": auto_flat_below}
        self.note: str | None = None
        self.pending: list[np.ndarray] = []
        flat_now = index is None and kind == "flat"
        super().__init__(dimension, index if index is not None or flat_now else faiss.IndexFlatIP(int(dimension)))
        self.built = index is not None or flat_now

    @classmethod
    def config_settings(cls, cfg: Config) -> dict:
        """The ``dense:`` section as keyword arguments (``index`` is the ``kind``)."""
        settings = asdict(cfg.dense)
        del settings["backend"]
        return {"kind": settings.pop("index"), **settings}

    @property
    def size(self) -> int:
        """Number of vectors (waiting ones included)."""
        return int(self.index.ntotal) + sum(len(block) for block in self.pending)

    @property
    def structure(self) -> str:
        """What the index is (or will be once built): flat, hnsw or ivf."""
        self.build()
        return structure_of(self.index)

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors; an approximate index not built yet keeps them until it is."""
        if not len(vectors):
            return
        if self.built:
            super().add(vectors)
        else:
            self.pending.append(np.ascontiguousarray(vectors, dtype=np.float32))

    def prepare(self, rows: int, sample: Callable[[np.ndarray], np.ndarray]) -> None:
        """Make the empty structure for ``rows`` vectors now, so that each added block goes straight into FAISS.

        ``sample(picks)`` returns the vectors of the given rows (numbered over all ``rows`` to come):
        IVF trains on that bounded sample. Without this call an approximate index keeps added
        vectors until it is built, a second copy of them; with it nothing waits. Only before the
        first add (later calls change nothing).
        """
        if self.built or self.pending:
            return
        self.index = self._new_structure(rows)
        if not self.index.is_trained:
            self.index.train(np.ascontiguousarray(sample(self._training_picks(rows)), dtype=np.float32))
        if isinstance(self.index, faiss.IndexIVF):
            self.index.make_direct_map()  # kept up to date by every add
        self.built = True

    def build(self) -> None:
        """Build the configured structure from the waiting vectors (once)."""
        if self.built:
            return
        rows = sum(len(block) for block in self.pending)
        self.index = self._new_structure(rows)
        if not self.index.is_trained:
            self.index.train(self._training_sample(rows))
        while self.pending:  # hand each block over and let it go: the vectors are never held twice
            self.index.add(self.pending.pop(0))
        if isinstance(self.index, faiss.IndexIVF):
            self.index.make_direct_map()  # for reconstruct: carrying vectors forward, length checks
        self.built = True

    def _new_structure(self, rows: int) -> faiss.Index:
        """The empty FAISS index this kind calls for at ``rows`` vectors (noting any fallback)."""
        p, d = self.params, self.dimension
        kind = self.kind
        if kind == "auto":
            kind = "flat" if rows < p["auto_flat_below"] else "ivf"
        if kind == "ivf":
            lists = ivf_lists_for(rows, p["ivf_lists"])
            if rows < IVF_POINTS_PER_LIST * lists:
                self.note = (f"dense.index ivf: {rows} vectors are too few to train {lists} lists "
                             f"(at least {IVF_POINTS_PER_LIST * lists}); using a flat (exact) index")
                kind = "flat"
            else:
                index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, lists, faiss.METRIC_INNER_PRODUCT)
                index.nprobe = ivf_probe_for(rows, lists, p["ivf_probe"])
                return index
        if kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, p["hnsw_m"], faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = p["hnsw_ef_construction"]
            index.hnsw.efSearch = hnsw_ef_search_for(rows, p["hnsw_ef_search"])
            return index
        return faiss.IndexFlatIP(d)

    def _training_picks(self, rows: int) -> np.ndarray:
        """Evenly spread rows, enough to train the IVF cells (at most IVF_TRAIN_POINTS_PER_LIST per cell)."""
        wanted = min(rows, IVF_TRAIN_POINTS_PER_LIST * self.index.nlist)
        return np.unique(np.linspace(0, rows - 1, wanted).astype(np.int64))

    def _training_sample(self, rows: int) -> np.ndarray:
        """An evenly spread sample of the waiting vectors, enough to train the IVF cells."""
        picks = self._training_picks(rows)
        starts = np.cumsum([0] + [len(block) for block in self.pending])
        return np.concatenate([self.pending[n][picks[(picks >= starts[n]) & (picks < starts[n + 1])] - starts[n]]
                               for n in range(len(self.pending))])

    def vectors(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The stored vectors (all, or the given rows), exact for every kind (IVF-Flat and HNSW-Flat keep them)."""
        self.build()
        if self.size == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if rows is None:
            return self.index.reconstruct_n(0, self.size)
        rows = np.asarray(rows, dtype=np.int64)
        return self.index.reconstruct_batch(rows) if len(rows) else np.zeros((0, self.dimension), np.float32)

    def search(self, queries: np.ndarray, k: int, allowed_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows and scores per query; see the module notes on filters.

        An approximate search may find fewer than ``k`` for some queries of a batch (the cells or
        the graph walk held too few allowed rows): each query keeps what it found, its list ending
        in rows of -1 (score -inf) where another query found more (see :func:`without_empty_columns`).
        """
        self.build()
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if structure_of(self.index) == "flat":
            return super().search(queries, k, allowed_rows)
        if self.size == 0 or k <= 0 or (allowed_rows is not None and len(allowed_rows) == 0):
            return empty_result(len(queries))
        if allowed_rows is not None and len(allowed_rows) <= EXACT_FILTER_FRACTION * self.size:
            return self._exact_among(queries, k, np.unique(np.asarray(allowed_rows, dtype=np.int64)))
        params = self._search_params(allowed_rows, k)
        k = min(k, self.size if allowed_rows is None else len(allowed_rows))
        scores, rows = faiss_search(self.index, queries, k, params)
        check_unit_lengths(self.index, rows)
        return without_empty_columns(rows, scores)

    def _search_params(self, allowed_rows: np.ndarray | None, k: int) -> faiss.SearchParameters | None:
        """The per-search parameters: a selector for a filter, and a search wide enough for ``k``."""
        selector = None
        share = 1.0
        if allowed_rows is not None:
            selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_rows, dtype=np.int64))
            share = len(allowed_rows) / self.size
        if isinstance(self.index, faiss.IndexHNSW):
            # A filter passes over the rows it rejects: widen the walk by the share it rejects.
            ef = min(MAX_EF_SEARCH, int(max(self.index.hnsw.efSearch, k) / share))
            return faiss.SearchParametersHNSW(sel=selector, efSearch=ef)
        probe = min(self.index.nlist, int(math.ceil(self.index.nprobe / share)))
        return faiss.SearchParametersIVF(sel=selector, nprobe=probe)

    def _exact_among(self, queries: np.ndarray, k: int, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact inner-product search over the ``allowed`` rows' vectors only."""
        vectors = self.index.reconstruct_batch(allowed)
        check_unit_lengths(self.index, allowed[None, :])
        scores = queries @ vectors.T
        k = min(k, len(allowed))
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return allowed[top], np.take_along_axis(scores, top, axis=1).astype(np.float32)

    def describe(self) -> dict:
        """What the manifest records: the kind asked for, the structure built, its parameters, any note."""
        self.build()
        built = structure_of(self.index)
        info: dict = {"kind": self.kind, "built": built, "settings": {"kind": self.kind, **self.params}}
        if built == "hnsw":
            info.update(m=int(self.index.hnsw.nb_neighbors(1)), ef_search=int(self.index.hnsw.efSearch))
        elif built == "ivf":
            info.update(lists=int(self.index.nlist), probe=int(self.index.nprobe))
        if self.note:
            info["note"] = self.note
        return info

    def save(self, directory: Path) -> None:
        """Build (if not yet) and write the index file into ``directory``."""
        self.build()
        super().save(directory)

    @classmethod
    def load(cls, directory: Path) -> "FaissDenseIndex":
        """Read an index written by :meth:`save`, whatever its structure."""
        index = faiss.read_index(str(Path(directory) / FILE_NAME))
        return cls(index.d, index, kind=structure_of(index))

    @classmethod
    def load_mapped(cls, directory: Path) -> "FaissDenseIndex":
        """Like :meth:`load`, but the vectors stay in the file, memory-mapped (read-only use).

        For carrying a generation forward: its vectors are then file-backed pages the kernel can
        drop, not a second copy in the process's own memory beside the new index.
        """
        index = faiss.read_index(str(Path(directory) / FILE_NAME), MAP_FLAG)
        return cls(index.d, index, kind=structure_of(index))
