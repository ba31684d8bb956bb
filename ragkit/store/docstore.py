"""The docstore: chunk text and metadata in SQLite (no pickle), addressed by row.

A chunk's ``row`` is its position in the dense and sparse indexes of the same generation, so
one integer joins all three. Metadata is stored as JSON; the common keys (``source``,
``doc_id``, ``page``) also have their own columns for fast filtering. A damaged file makes
SQLite (or the JSON of a row) fail at query time; the reading methods then raise
``IndexDamaged`` naming the file, never a traceback.
"""

from __future__ import annotations

import functools
import inspect
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from langchain_core.documents import Document

from ragkit.errors import FilterError, IndexDamaged

FILE_NAME = "docstore.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    row INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL,
    source TEXT NOT NULL,
    page INTEGER,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS parents (
    parent_id TEXT PRIMARY KEY,
    doc_id TEXT NOT NULL,
    source TEXT NOT NULL,
    page INTEGER,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS parents_source ON parents(source);
"""

_COLUMNS = {"source", "doc_id", "page", "chunk_id"}


def _damage_is_an_error(method: Callable) -> Callable:
    """Make a reading method (or generator) raise IndexDamaged where a damaged file makes SQLite fail."""
    def damaged(exc: Exception) -> IndexDamaged:
        return IndexDamaged(FILE_NAME, f"unreadable: {type(exc).__name__}: {str(exc)[:120]}")

    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def generator(*args, **kwargs):
            try:
                yield from method(*args, **kwargs)
            except (sqlite3.DatabaseError, ValueError) as exc:
                raise damaged(exc) from exc
        return generator

    @functools.wraps(method)
    def function(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except (sqlite3.DatabaseError, ValueError) as exc:
            raise damaged(exc) from exc
    return function


@dataclass(frozen=True)
class Chunk:
    """One stored chunk."""

    row: int
    chunk_id: str
    doc_id: str
    source: str
    page: int | None
    text: str
    metadata: dict

    def to_document(self) -> Document:
        """As a LangChain ``Document`` (metadata includes ``chunk_id``, ``source``, ``page``)."""
        return Document(page_content=self.text, metadata=dict(self.metadata), id=self.chunk_id)


def _columns(doc: Document) -> tuple:
    """doc_id, source, page, text and JSON metadata of a chunk or parent section."""
    meta = doc.metadata
    return (str(meta.get("doc_id", "")), str(meta.get("source", "")), meta.get("page"), doc.page_content,
            json.dumps(meta, ensure_ascii=False, sort_keys=True))


class DocStore:
    """SQLite-backed chunk store of one index generation."""

    def __init__(self, path: Path, readonly: bool = True):
        self.path = Path(path)
        if readonly:
            uri = f"file:{self.path}?mode=ro"
            self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        else:
            self.conn = sqlite3.connect(self.path, check_same_thread=False)
            self.conn.executescript(SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    # ----------------------------------------------------------------- writing

    def add(self, chunks: Iterable[tuple[int, Document]]) -> None:
        """Insert ``(row, chunk)`` pairs; the chunk's metadata must carry ``chunk_id``."""
        self.conn.executemany(
            "INSERT INTO chunks(row, chunk_id, doc_id, source, page, text, metadata) VALUES (?,?,?,?,?,?,?)",
            ((row, doc.metadata["chunk_id"], *_columns(doc)) for row, doc in chunks),
        )

    def add_parents(self, parents: Iterable[Document]) -> None:
        """Insert parent sections (metadata must carry ``parent_id``); repeats are ignored."""
        self.conn.executemany(
            "INSERT OR IGNORE INTO parents(parent_id, doc_id, source, page, text, metadata) VALUES (?,?,?,?,?,?)",
            ((doc.metadata["parent_id"], *_columns(doc)) for doc in parents),
        )

    def commit(self) -> None:
        """Commit and make the file durable."""
        self.conn.commit()

    # ----------------------------------------------------------------- reading

    @_damage_is_an_error
    def count(self) -> int:
        """Number of chunks."""
        return self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def _chunk(self, record) -> Chunk:
        row, chunk_id, doc_id, source, page, text, metadata = record
        return Chunk(row, chunk_id, doc_id, source, page, text, json.loads(metadata))

    @_damage_is_an_error
    def get(self, rows: Iterable[int]) -> dict[int, Chunk]:
        """Chunks by row."""
        rows = [int(r) for r in rows]
        out: dict[int, Chunk] = {}
        for start in range(0, len(rows), 900):  # SQLite's bound-parameter limit
            part = rows[start : start + 900]
            marks = ",".join("?" * len(part))
            for record in self.conn.execute(
                f"SELECT row, chunk_id, doc_id, source, page, text, metadata FROM chunks WHERE row IN ({marks})", part
            ):
                chunk = self._chunk(record)
                out[chunk.row] = chunk
        return out

    @_damage_is_an_error
    def units(self, rows: Iterable[int]) -> dict[int, tuple[str, object]]:
        """(doc_id, page) of each row: the unit hybrid search fuses by."""
        rows = [int(r) for r in rows]
        out: dict[int, tuple[str, object]] = {}
        for start in range(0, len(rows), 900):
            part = rows[start : start + 900]
            marks = ",".join("?" * len(part))
            for row, doc_id, page in self.conn.execute(
                f"SELECT row, doc_id, page FROM chunks WHERE row IN ({marks})", part
            ):
                out[row] = (doc_id, page)
        return out

    @_damage_is_an_error
    def iter_chunks(self, sources: Set[str] | None = None) -> Iterator[Chunk]:
        """All chunks in row order, optionally only those of ``sources``."""
        cursor = self.conn.execute(
            "SELECT row, chunk_id, doc_id, source, page, text, metadata FROM chunks ORDER BY row"
        )
        for record in cursor:
            if sources is None or record[3] in sources:
                yield self._chunk(record)

    @_damage_is_an_error
    def parents(self, parent_ids: Iterable[str]) -> dict[str, Document]:
        """Parent sections by id, as Documents."""
        ids = [i for i in dict.fromkeys(parent_ids) if i]
        out: dict[str, Document] = {}
        for start in range(0, len(ids), 900):
            part = ids[start : start + 900]
            marks = ",".join("?" * len(part))
            for parent_id, text, metadata in self.conn.execute(
                f"SELECT parent_id, text, metadata FROM parents WHERE parent_id IN ({marks})", part
            ):
                out[parent_id] = Document(page_content=text, metadata=json.loads(metadata), id=parent_id)
        return out

    @_damage_is_an_error
    def iter_parents(self, sources: Set[str]) -> Iterator[Document]:
        """The parent sections of ``sources``."""
        for text, metadata in self.conn.execute("SELECT text, metadata FROM parents ORDER BY rowid"):
            meta = json.loads(metadata)
            if meta.get("source") in sources:
                yield Document(page_content=text, metadata=meta)

    @_damage_is_an_error
    def chunk_ids_by_source(self) -> dict[str, list[str]]:
        """Chunk ids of each source file, in row order."""
        out: dict[str, list[str]] = {}
        for source, chunk_id in self.conn.execute("SELECT source, chunk_id FROM chunks ORDER BY row"):
            out.setdefault(source, []).append(chunk_id)
        return out

    @_damage_is_an_error
    def rows_matching(self, filters: Mapping[str, str]) -> np.ndarray:
        """Rows whose metadata matches every ``key=value`` filter (glob patterns allowed).

        Values compare as text, so ``page=3`` matches the integer page 3. A value containing
        ``*``, ``?`` or ``[`` is a glob (``source=notes/*.md``).
        """
        clauses, params = [], []
        for key, value in filters.items():
            if key in _COLUMNS:
                column = f"CAST({key} AS TEXT)"
            else:
                if not key.replace("_", "").replace("-", "").isalnum():
                    raise FilterError(f"filter key {key!r} must be letters, digits, '_' or '-'")
                column = f"CAST(json_extract(metadata, '$.\"{key}\"') AS TEXT)"
            operator = "GLOB" if any(ch in value for ch in "*?[") else "="
            clauses.append(f"{column} {operator} ?")
            params.append(value)
        where = " AND ".join(clauses) or "1"
        rows = [r for (r,) in self.conn.execute(f"SELECT row FROM chunks WHERE {where} ORDER BY row", params)]
        return np.asarray(rows, dtype=np.int64)

    @_damage_is_an_error
    def field_values(self, skip: Set[str] = frozenset()) -> list[tuple[str, str, str, int]]:
        """``(key, JSON type, value as text, chunks)`` for every metadata value of every key but ``skip``.

        What a self-query filter may name (:mod:`ragkit.retrieval.self_query`); keys unique to each chunk
        (ids, offsets) belong in ``skip``, or the answer is as long as the index.
        """
        marks = ",".join("?" * len(skip))
        where = f"WHERE j.key NOT IN ({marks})" if skip else ""
        return [(key, kind, value, count) for key, kind, value, count in self.conn.execute(
            f"SELECT j.key, j.type, CAST(j.value AS TEXT), COUNT(*) FROM chunks, json_each(chunks.metadata) AS j "
            f"{where} GROUP BY 1, 2, 3", sorted(skip)) if value is not None]

    @_damage_is_an_error
    def leading_text(self, chunks: int) -> dict[str, str]:
        """Each source's first ``chunks`` chunks' text, joined: where a document names what it is (its cover page)."""
        out: dict[str, list[str]] = {}
        for source, text in self.conn.execute(
            "SELECT source, text FROM (SELECT source, text, row, ROW_NUMBER() OVER (PARTITION BY source ORDER BY row) "
            "AS n FROM chunks) WHERE n <= ? ORDER BY row", (int(chunks),)
        ):
            out.setdefault(source, []).append(text)
        return {source: "\n".join(texts) for source, texts in out.items()}

    @_damage_is_an_error
    def metadata_keys(self) -> set[str]:
        """Every key a filter can name: the chunk columns and the keys of any chunk's metadata (a filter on
        another key matches nothing; the CLI names the keys there are, see ``ragkit.cli.common.check_filter_keys``)."""
        found = {key for (key,) in self.conn.execute("SELECT DISTINCT j.key FROM chunks, json_each(chunks.metadata) AS j")}
        return set(_COLUMNS) | found
