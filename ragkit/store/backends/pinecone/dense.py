"""Dense index on Pinecone: records keyed by ragkit's stable chunk ids, searched through langchain-pinecone.

The generation keeps ``pinecone.json`` (index host, namespace, metric, dimension, row count, the
rows whose vector is all zeros); the docstore of the same generation maps rows to chunk ids.
Writing upserts only the chunks the namespace does not hold yet (carried chunks are already
there, under the same id), after journaling them (:mod:`ragkit.store.backends.pinecone.sync`), then waits
until they are visible. Searching goes through ``PineconeVectorStore`` (the declared
``langchain-pinecone``) with the filter turned into a Pinecone metadata filter, and drops any
match the docstore does not know. ragkit's vectors are unit length, so Pinecone's cosine (or
dotproduct) equals FAISS's inner product.

A chunk without words has an all-zero vector, which Pinecone refuses; it is not upserted (it can
only ever score 0 in a dense search) and is listed in ``zero_rows``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ragkit.errors import RemoteIndexError
from ragkit.store.backends.pinecone import sync as pinecone_sync
from ragkit.store.backends.pinecone.client import PineconeConnection, PineconeTarget, record_metadata
from ragkit.store.backends.pinecone.rows import MAX_IN_VALUES, chunks_by_row, ids_and_sources, live_manifest, rows_filter
from ragkit.store.base import DenseStore, empty_result

if TYPE_CHECKING:
    from ragkit.config import Config

FILE_NAME = "pinecone.json"


class PineconeDense(DenseStore):
    """A :class:`~ragkit.store.base.DenseStore` whose vectors live in a Pinecone namespace."""

    remote = True
    file_name = FILE_NAME

    def __init__(self, dimension: int, pinecone: dict | None = None):
        self.dimension = int(dimension)
        self.options = dict(pinecone or {})
        self.size = 0
        self._already_remote = 0          # leading rows whose records the namespace holds already
        self._vectors: list[np.ndarray] = []
        self._connection: PineconeConnection | None = None
        self._ids: list[str] = []
        self._sources: list[str] = []
        self._zero_rows: set[int] = set()

    @classmethod
    def config_options(cls, cfg: Config) -> dict:
        """The ``pinecone:`` section."""
        return asdict(cfg.pinecone)

    @classmethod
    def create(cls, dimension: int, settings: dict, options: dict) -> "PineconeDense":
        """An empty store writing into the index and namespace ``options`` name."""
        return cls(dimension, **settings, pinecone=options)

    @property
    def connection(self) -> PineconeConnection:
        """The connection to the index (built on first use)."""
        if self._connection is None:
            self._connection = PineconeConnection(PineconeTarget.from_options(self.options))
        return self._connection

    # ----------------------------------------------------------------- writing

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors (upserted by :meth:`save`, once the docstore names their chunks)."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dimension)
        self._vectors.append(vectors)
        self.size += len(vectors)

    def carry(self, old, rows: np.ndarray) -> None:
        """Carry rows of the previous generation: free when it kept them in this namespace, else upserted."""
        same = (isinstance(old, PineconeDense) and self.size == 0
                and old.options.get("host") == self.options.get("host")
                and old.options.get("namespace") == self.options.get("namespace"))
        if same:
            self.size = self._already_remote = len(rows)
        else:
            self.add(old.vectors(rows))

    def save(self, directory: Path) -> None:
        """Upsert the new rows' records (journaled first), wait until visible, write ``pinecone.json``."""
        directory = Path(directory)
        index_dir = directory.parent
        ids, metadata, texts = chunks_by_row(directory)
        if len(ids) != self.size:
            raise RemoteIndexError(f"{len(ids)} chunks in the docstore but {self.size} vectors")
        owner = (pinecone_sync.read_owner(index_dir) or {}).get("owner", "")
        vectors = np.concatenate(self._vectors) if self._vectors else np.zeros((0, self.dimension), np.float32)
        new_rows = range(self._already_remote, self.size)
        zero = {row for row in new_rows if not np.any(vectors[row - self._already_remote])}
        records = [{"id": ids[row], "values": vectors[row - self._already_remote].astype(float).tolist(),
                    "metadata": record_metadata(metadata[row], texts[row], owner)}
                   for row in new_rows if row not in zero]
        live = live_manifest(index_dir)
        kept = set(ids)
        dropping = sorted(pinecone_sync.live_chunk_ids(live, self.connection.host, self.connection.target.namespace) - kept)
        pinecone_sync.write_journal(index_dir, upserting=[r["id"] for r in records], dropping=dropping)
        self.connection.upsert(records)
        self.connection.wait_visible([r["id"] for r in records])
        self._zero_rows = zero | (self._zero_rows if self._already_remote else set())
        description = {"host": self.connection.host, "namespace": self.connection.target.namespace,
                       "dimension": self.dimension, "size": self.size, "zero_rows": sorted(self._zero_rows),
                       "options": {**self.options, "host": self.connection.host}}
        (directory / FILE_NAME).write_text(json.dumps(description))

    @classmethod
    def load(cls, directory: Path) -> "PineconeDense":
        """The store of a generation: where its records are, and its rows' chunk ids and sources."""
        description = json.loads((Path(directory) / FILE_NAME).read_text(encoding="utf-8"))
        store = cls(description["dimension"], description["options"])
        store.size = store._already_remote = int(description["size"])
        store._zero_rows = set(description.get("zero_rows", []))
        store._ids, store._sources = ids_and_sources(Path(directory))
        return store

    # ----------------------------------------------------------------- reading

    def vectors(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The stored vectors of ``rows`` (all when None), fetched from Pinecone."""
        rows = np.arange(self.size) if rows is None else np.asarray(rows, dtype=np.int64)
        out = np.zeros((len(rows), self.dimension), dtype=np.float32)
        wanted = [self._ids[row] for row in rows if int(row) not in self._zero_rows]
        found = self.connection.fetch(wanted) if wanted else {}
        for position, row in enumerate(rows):
            if int(row) in self._zero_rows:
                continue
            record = found.get(self._ids[row])
            if record is None:
                raise RemoteIndexError(f"chunk {self._ids[row]} is missing from Pinecone "
                                       f"({self.connection.target.where()}); re-ingest with --rebuild")
            out[position] = record.values
        return out

    def search(self, queries: np.ndarray, k: int,
               allowed_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows and scores per query, from Pinecone; ``allowed_rows`` becomes a metadata filter.

        Each query keeps what it found: a query that found fewer than another of its batch (its
        matches were records this generation does not know, or filtered out) ends its list in rows
        of -1 (score -inf), as the FAISS indexes do.
        """
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if self.size == 0 or k <= 0 or (allowed_rows is not None and len(allowed_rows) == 0):
            return empty_result(len(queries))
        flt, local_filter = self.pinecone_filter(allowed_rows)
        allowed = set(np.asarray(allowed_rows).tolist()) if local_filter else None
        lists = [self._search_one(query, min(k, self.size), flt, allowed) for query in queries]
        width = max(len(found) for found in lists)
        rows = np.full((len(queries), width), -1, dtype=np.int64)
        scores = np.full((len(queries), width), -np.inf, dtype=np.float32)
        for n, found in enumerate(lists):
            rows[n, :len(found)] = [row for row, _ in found]
            scores[n, :len(found)] = [score for _, score in found]
        return rows, scores

    def _search_one(self, query: np.ndarray, k: int, flt: dict | None, allowed: set | None) -> list[tuple[int, float]]:
        """(row, score) best first; asks for more when matches the docstore does not know (or filtered out) fell away."""
        store = self.vector_store()
        rows_of = self.row_of_id()
        depth = k if allowed is None else min(MAX_IN_VALUES, max(k * 4, k + 100))
        while True:
            found = self.connection.call("searching", lambda d=depth: store.similarity_search_by_vector_with_score(
                query.astype(float).tolist(), k=d, filter=flt))
            if not found and flt is None and self.size > len(self._zero_rows):
                raise RemoteIndexError(f"the Pinecone namespace ({self.connection.target.where()}) holds none of this "
                                       "index's records: it is empty or gone; re-ingest with --rebuild")
            ranked = [(rows_of[doc.id], float(score)) for doc, score in found if doc.id in rows_of]
            if allowed is not None:
                ranked = [(row, score) for row, score in ranked if row in allowed]
            if len(ranked) >= k or len(found) < depth or depth >= MAX_IN_VALUES:
                return ranked[:k]
            depth = min(MAX_IN_VALUES, depth * 2)

    def pinecone_filter(self, allowed_rows: np.ndarray | None) -> tuple[dict | None, bool]:
        """(Pinecone filter, whether rows must still be checked locally): see :func:`~ragkit.store.backends.pinecone.rows.rows_filter`."""
        return rows_filter(self._ids, self._sources, allowed_rows)

    def row_of_id(self) -> dict[str, int]:
        """chunk id -> row, for the chunks this generation knows."""
        if not hasattr(self, "_row_of_id"):
            self._row_of_id = {chunk_id: row for row, chunk_id in enumerate(self._ids)}
        return self._row_of_id

    def vector_store(self):
        """The ``PineconeVectorStore`` over this namespace (queries only: vectors come from ragkit's embedder)."""
        if not hasattr(self, "_vector_store"):
            from langchain_pinecone import PineconeVectorStore

            self._vector_store = PineconeVectorStore(index=self.connection.index, embedding=_NoEmbeddings(),
                                                     namespace=self.connection.target.namespace)
        return self._vector_store

    def remote_count(self) -> int:
        """How many records the namespace holds now (describe_index_stats)."""
        return self.connection.namespace_count()

    def where(self) -> dict:
        """Index host, namespace and metric, for the manifest (no key: keys never reach a manifest)."""
        return {"pinecone": {key: self.options.get(key) for key in ("host", "namespace", "metric")}}

    def stats(self) -> dict:
        """For ``ragkit info``: how many records the namespace holds now."""
        return {"records": self.remote_count()}

    # ----------------------------------------------------------------- ingest hooks

    @staticmethod
    def prepare_ingest(index_dir: Path, options: dict, dimension: int) -> dict:
        """Check key, index and namespace, finish a killed ingest; the options with the host resolved."""
        connection = PineconeConnection(PineconeTarget.from_options(options))
        pinecone_sync.check_index_shape(connection, dimension)
        pinecone_sync.claim_namespace(index_dir, connection)
        pinecone_sync.settle(index_dir, connection, live_manifest(index_dir))
        return {**options, "host": connection.host}

    @staticmethod
    def finish_ingest(index_dir: Path, options: dict) -> None:
        """After the new generation is live: delete the records it dropped, remove the journal."""
        connection = PineconeConnection(PineconeTarget.from_options(options))
        pinecone_sync.settle(index_dir, connection, live_manifest(index_dir))


class _NoEmbeddings:
    """PineconeVectorStore wants an embedder; ragkit hands it vectors, so this one is never asked."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Never called: ragkit upserts its own vectors."""
        raise RemoteIndexError("internal: the Pinecone store embeds nothing itself")

    def embed_query(self, text: str) -> list[float]:
        """Never called: ragkit searches by vector."""
        raise RemoteIndexError("internal: the Pinecone store embeds nothing itself")
