"""Sparse index on Pinecone: BM25 as sparse vectors in a sparse-only dotproduct index.

Exactly bm25s' ``method="lucene"`` scores, split between the two sides of a dot product:

- each chunk's record holds, for every term t of its indexed text (ragkit's tokenizer and
  stemmer, :func:`ragkit.text.tokenize`, as :class:`~ragkit.store.backends.bm25s.BM25Index` uses),
  ``tf / (tf + k1 * (1 - b + b * dl / avgdl))``;
- each query sends, for every query term, ``ln(1 + (N - df + 0.5) / (df + 0.5))`` (times the
  term's count in the query, as bm25s counts a repeated query term twice), computed live here
  from the df table, document count N and total length kept in the generation's ``sparse/``
  folder (``vocabulary.json``: term of each index; ``df.npy``; ``written_avgdl.npy``: the avgdl
  each row's record was written under; ``pinecone-sparse.json``: N, total length, where).

Term indices are stable: a generation starts from the live one's vocabulary (same index and
namespace) and appends new terms, so the records already in Pinecone keep meaning the same terms.

avgdl drift: an incremental ingest upserts only new chunks; carried chunks keep the weights
they were written with, under that ingest's avgdl. With rho = avgdl now / avgdl written, a
carried record's term weights, hence its score, are off by a factor between 1 and 1/rho (too
low when documents got longer on average, too high when shorter); two chunks keep their order whenever their exact
BM25 scores differ by more than that factor. ``ragkit info`` shows the range of written avgdl;
``ragkit ingest --rebuild`` re-weights every record (exact again).

Rows are written, journaled and cleaned up like the dense records (:mod:`ragkit.store.backends.pinecone.sync`,
kind ``sparse``: owner and journal files of their own). ``scores(query)`` is one top-K query
(K = min(rows, 10,000): rows beyond the 10,000 best score 0); ``search`` one top-k query with
the filter sent as a Pinecone filter. Matches the docstore does not know are dropped.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ragkit.errors import RemoteIndexError, SettingError
from ragkit.store.backends.pinecone import sync as pinecone_sync
from ragkit.store.backends.pinecone.client import PineconeConnection, PineconeTarget
from ragkit.store.backends.pinecone.rows import MAX_IN_VALUES, ids_and_sources, live_generation, live_manifest, rows_filter
from ragkit.store.base import SparseStore, top_positive
from ragkit.text import tokenize

if TYPE_CHECKING:
    from ragkit.config import Config

SPARSE_HOST_VARIABLE = "PINECONE_SPARSE_HOST"
DIR_NAME = SparseStore.file_name   # the generation's sparse folder, as for bm25s
FILE_NAME = "pinecone-sparse.json"
VOCABULARY_FILE = "vocabulary.json"
DF_FILE = "df.npy"
AVGDL_FILE = "written_avgdl.npy"


def sparse_target_options(options: dict) -> dict:
    """The ``pinecone:`` options aimed at the sparse index: ``sparse_host`` (or ``$PINECONE_SPARSE_HOST``) or ``sparse_index_name``."""
    host = options.get("sparse_host") or os.environ.get(SPARSE_HOST_VARIABLE) or None
    name = options.get("sparse_index_name")
    if not host and not name:
        raise RemoteIndexError(f"sparse.backend: pinecone needs its index: set pinecone.sparse_host (or "
                               f"${SPARSE_HOST_VARIABLE}) or pinecone.sparse_index_name in the config")
    return {**options, "host": host, "index_name": name, "metric": "dotproduct", "sparse_target": True}


class PineconeSparse(SparseStore):
    """A :class:`~ragkit.store.base.SparseStore` whose BM25 term weights live in a sparse Pinecone index."""

    remote = True

    def __init__(self, method: str = "lucene", k1: float = 1.5, b: float = 0.75, stemmer: str | None = "english",
                 stopwords: str | None = "en", pinecone: dict | None = None):
        if method != "lucene":
            raise SettingError(f"sparse.backend: pinecone computes BM25 as Lucene does; set sparse.method: lucene "
                               f"(not {method})", ("sparse", "method"))
        self.k1, self.b, self.stemmer, self.stopwords = float(k1), float(b), stemmer, stopwords
        self.options = dict(pinecone or {})
        self.size = 0
        self.total_length = 0
        self.terms: dict[str, int] = {}             # term -> sparse index (stable across generations)
        self.df = np.zeros(0, dtype=np.int64)       # by sparse index
        self.written_avgdl = np.zeros(0, dtype=np.float64)   # by row
        self._already_remote = 0
        self._carried_avgdl = np.zeros(0, dtype=np.float64)
        self._counts: list[tuple[Counter, int]] = []        # new rows' (term counts, length)
        self._ids: list[str] = []
        self._sources: list[str] = []
        self._connection: PineconeConnection | None = None

    @classmethod
    def config_options(cls, cfg: Config) -> dict:
        """The ``pinecone:`` section."""
        return asdict(cfg.pinecone)

    @classmethod
    def create(cls, settings: dict, options: dict) -> "PineconeSparse":
        """An empty index; ``options`` (the ``pinecone:`` section) win over the ``pinecone`` entry a recorded
        ``settings()`` holds."""
        return cls(**{**settings, **({"pinecone": options} if options else {})})

    @property
    def connection(self) -> PineconeConnection:
        """The connection to the sparse index (built on first use)."""
        if self._connection is None:
            self._connection = PineconeConnection(PineconeTarget.from_options(self._target_options()))
        return self._connection

    def _target_options(self) -> dict:
        return self.options if self.options.get("sparse_target") else sparse_target_options(self.options)

    def settings(self) -> dict:
        """The settings that define the scores, and where the records are (recorded in the manifest)."""
        where = {"host": self._target_options().get("host") if self.options else None,
                 "namespace": self.options.get("namespace")}
        return {"method": "lucene", "k1": self.k1, "b": self.b, "stemmer": self.stemmer,
                "stopwords": self.stopwords, "pinecone": where}

    def tokenize(self, texts: list[str]) -> list[list[str]]:
        """Tokens as indexed: the same function serves documents and queries."""
        return tokenize(texts, self.stemmer, self.stopwords)

    @property
    def avgdl(self) -> float:
        """The average indexed length of this generation's rows."""
        return self.total_length / self.size if self.size else 0.0

    # ----------------------------------------------------------------- writing

    def carry(self, old_generation: Path, old_rows: np.ndarray) -> None:
        """The first ``len(old_rows)`` rows are the old generation's ``old_rows``: kept as written when it is in this namespace."""
        old_where = _where_written(Path(old_generation))
        if old_where is None or old_where["options"].get("host") != self._target_options().get("host") \
                or old_where["options"].get("namespace") != self.options.get("namespace"):
            return
        written = np.load(Path(old_generation) / DIR_NAME / AVGDL_FILE, allow_pickle=False)
        self._carried_avgdl = written[np.asarray(old_rows, dtype=np.int64)]
        self._already_remote = len(old_rows)

    def build(self, texts: list[str]) -> None:
        """Count terms: df, N and total length over every row; term counts of the rows to upsert."""
        tokens = self.tokenize(texts) if texts else []
        self.size = len(texts)
        self.total_length = sum(len(t) for t in tokens)
        self._df_by_term: Counter = Counter()
        self._counts = []
        for row, row_tokens in enumerate(tokens):
            counts = Counter(row_tokens)
            self._df_by_term.update(counts.keys())
            if row >= self._already_remote:
                self._counts.append((counts, len(row_tokens)))

    def save(self, directory: Path) -> None:
        """Upsert the new rows' records (journaled first), wait until visible, write the df table and N."""
        directory = Path(directory)
        index_dir = directory.parent
        self._ids, self._sources = ids_and_sources(directory)
        if len(self._ids) != self.size:
            raise RemoteIndexError(f"{len(self._ids)} chunks in the docstore but {self.size} sparse rows")
        live_dir, live = live_generation(index_dir)
        self._assign_terms(live_dir, live)
        records = self._records(index_dir)
        dropping = sorted(pinecone_sync.live_chunk_ids(live, self.connection.host, self.connection.target.namespace,
                                                       "sparse") - set(self._ids))
        pinecone_sync.write_journal(index_dir, upserting=[r["id"] for r in records], dropping=dropping, kind="sparse")
        self.connection.upsert(records)
        self.connection.wait_visible([r["id"] for r in records])
        self.written_avgdl = np.concatenate([self._carried_avgdl, np.full(self.size - self._already_remote, self.avgdl)])
        self._write(directory / DIR_NAME)

    def _assign_terms(self, live_dir: Path | None, live: dict | None) -> None:
        """Term indices: the live generation's (when its records are in this namespace), then new terms in order."""
        terms: dict[str, int] = {}
        where = (live.get("sparse") or {}).get("pinecone") if live else None
        if where and where.get("host") == self.connection.host and where.get("namespace") == self.connection.target.namespace:
            terms = _read_vocabulary(live_dir / DIR_NAME)
        for term in sorted(self._df_by_term):
            terms.setdefault(term, len(terms))
        self.terms = terms
        self.df = np.zeros(len(terms), dtype=np.int64)
        for term, count in self._df_by_term.items():
            self.df[terms[term]] = count

    def _records(self, index_dir: Path) -> list[dict]:
        """The new rows' records: BM25 document weights by term index; rows without terms are not sent (they score 0)."""
        owner = (pinecone_sync.read_owner(index_dir, "sparse") or {}).get("owner", "")
        avgdl, records = self.avgdl, []
        for offset, (counts, length) in enumerate(self._counts):
            if not counts:
                continue
            row = self._already_remote + offset
            norm = self.k1 * (1 - self.b + self.b * length / avgdl)
            pairs = sorted((self.terms[term], tf / (tf + norm)) for term, tf in counts.items())
            records.append({"id": self._ids[row],
                            "sparse_values": {"indices": [i for i, _ in pairs], "values": [v for _, v in pairs]},
                            "metadata": {"chunk_id": self._ids[row], "source": self._sources[row], "ragkit_owner": owner}})
        return records

    def _write(self, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        vocabulary = sorted(self.terms, key=self.terms.get)
        (target / VOCABULARY_FILE).write_text(json.dumps(vocabulary, ensure_ascii=False))
        np.save(target / DF_FILE, self.df, allow_pickle=False)
        np.save(target / AVGDL_FILE, self.written_avgdl, allow_pickle=False)
        description = {"settings": {k: v for k, v in self.settings().items() if k != "pinecone"},
                       "size": self.size, "total_length": self.total_length,
                       "options": {**self._target_options(), "host": self.connection.host}}
        (target / FILE_NAME).write_text(json.dumps(description))

    @classmethod
    def load(cls, directory: Path) -> "PineconeSparse":
        """The store of a generation: the df table, N, total length, and its rows' chunk ids and sources."""
        source = Path(directory) / DIR_NAME
        description = json.loads((source / FILE_NAME).read_text(encoding="utf-8"))
        store = cls(**description["settings"], pinecone=description["options"])
        store.size, store.total_length = int(description["size"]), int(description["total_length"])
        vocabulary = json.loads((source / VOCABULARY_FILE).read_text(encoding="utf-8"))
        store.terms = {term: index for index, term in enumerate(vocabulary)}
        store.df = np.load(source / DF_FILE, allow_pickle=False)
        store.written_avgdl = np.load(source / AVGDL_FILE, allow_pickle=False)
        if len(store.df) != len(vocabulary) or len(store.written_avgdl) != store.size:
            raise ValueError("sparse df table or written avgdl do not match the vocabulary and rows")
        store._ids, store._sources = ids_and_sources(Path(directory))
        return store

    # ----------------------------------------------------------------- reading

    def query_vector(self, terms: list[str]) -> dict | None:
        """The query's sparse vector: each known term's BM25 IDF, times its count; None without one."""
        counts = Counter(self.terms[t] for t in terms if t in self.terms and self.df[self.terms[t]] > 0)
        if not counts:
            return None
        n = self.size
        pairs = sorted((i, c * math.log(1 + (n - int(self.df[i]) + 0.5) / (int(self.df[i]) + 0.5))) for i, c in counts.items())
        return {"indices": [i for i, _ in pairs], "values": [v for _, v in pairs]}

    def term_scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every row for already tokenised ``terms`` (one top-K query; rows past the 10,000 best score 0)."""
        out = np.zeros(self.size, dtype=np.float32)
        vector = self.query_vector(terms)
        if vector is None:
            return out
        for row, score in self._matches(vector, min(self.size, MAX_IN_VALUES), None):
            out[row] = score
        return out

    def search(self, query: str, k: int, allowed_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows with a positive score, best first; ``allowed_rows`` is sent as a Pinecone filter."""
        vector = self.query_vector(self.tokenize([query])[0])
        if vector is None or k <= 0 or (allowed_rows is not None and len(allowed_rows) == 0):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        flt, check_locally = rows_filter(self._ids, self._sources, allowed_rows)
        depth = min(k, self.size) if not check_locally else MAX_IN_VALUES
        scores = np.zeros(self.size, dtype=np.float32)
        for row, score in self._matches(vector, depth, flt):
            scores[row] = score
        return top_positive(scores, k, allowed_rows if check_locally else None)

    def _matches(self, vector: dict, depth: int, flt: dict | None) -> list[tuple[int, float]]:
        """(row, score) of the known matches, best first; deeper while unknown ids (records in flight) crowd them out."""
        rows_of = self.row_of_id()
        while True:
            answer = self.connection.call("searching the sparse index", lambda d=depth: self.connection.index.query(
                top_k=d, sparse_vector=vector, namespace=self.connection.target.namespace, filter=flt,
                include_values=False, include_metadata=False, _check_return_type=False))
            # Without the return-type check (10,000 matches parse ~10x faster) matches come back as plain dicts.
            found = [(m["id"], m["score"]) if isinstance(m, dict) else (m.id, m.score) for m in answer.matches]
            if not found and flt is None:
                raise RemoteIndexError(f"the Pinecone sparse index ({self.connection.target.where()}) holds no record "
                                       "with terms this index knows: its namespace is empty or gone; "
                                       "re-ingest with --rebuild")
            known = [(rows_of[i], float(score)) for i, score in found if i in rows_of]
            if len(known) == len(found) or len(found) < depth or depth >= MAX_IN_VALUES:
                return known
            depth = min(MAX_IN_VALUES, depth + (len(found) - len(known)) * 2)

    def row_of_id(self) -> dict[str, int]:
        """chunk id -> row, for the chunks this generation knows."""
        if not hasattr(self, "_row_of_id"):
            self._row_of_id = {chunk_id: row for row, chunk_id in enumerate(self._ids)}
        return self._row_of_id

    def stats(self) -> dict:
        """For ``ragkit info``: records in the namespace now, avgdl now and the range records were written under."""
        written = self.written_avgdl
        return {"records": self.connection.namespace_count(), "avgdl": round(self.avgdl, 4),
                "avgdl_written": [round(float(written.min()), 4), round(float(written.max()), 4)] if len(written) else []}

    # ----------------------------------------------------------------- ingest hooks

    @staticmethod
    def prepare_ingest(index_dir: Path, options: dict) -> dict:
        """Check key, index (sparse, dotproduct) and namespace, finish a killed ingest; the options with the host resolved."""
        connection = PineconeConnection(PineconeTarget.from_options(sparse_target_options(options)))
        pinecone_sync.check_sparse_index(connection)
        pinecone_sync.claim_namespace(index_dir, connection, "sparse")
        pinecone_sync.settle(index_dir, connection, live_manifest(index_dir), "sparse")
        return {**options, "sparse_host": connection.host}

    @staticmethod
    def finish_ingest(index_dir: Path, options: dict) -> None:
        """After the new generation is live: delete the sparse records it dropped, remove the journal."""
        connection = PineconeConnection(PineconeTarget.from_options(sparse_target_options(options)))
        pinecone_sync.settle(index_dir, connection, live_manifest(index_dir), "sparse")


def _where_written(generation: Path) -> dict | None:
    """A generation's ``pinecone-sparse.json``, or None when its sparse index is not on Pinecone."""
    try:
        return json.loads((generation / DIR_NAME / FILE_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def _read_vocabulary(source: Path) -> dict[str, int]:
    try:
        vocabulary = json.loads((source / VOCABULARY_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return {term: index for index, term in enumerate(vocabulary)}
