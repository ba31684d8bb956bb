"""Write a new generation: docstore, dense and sparse indexes and manifest, then make it live.

Unchanged files' chunks are carried forward from the live generation (their text, parents and
vectors: nothing is embedded twice); new chunks follow them. Rows are assigned in that order
and are the same in all three indexes. The generation is built in a temporary directory and
published by :func:`ragkit.store.generations.publish_generation`, so a failure at any point
leaves the live generation as it was. Before anything is carried forward, every file of the
generation carried from is checked against its sha256 (damaged vectors or text are never
copied into a new generation); the new manifest records the new files' sizes, hashes and counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from langchain_core.documents import Document

from ragkit.store import docstore, extra_vectors
from ragkit.store.base import CARRY_BLOCK, DenseStore, SparseStore
from ragkit.store.docstore import DocStore
from ragkit.store.documents import build_document_index
from ragkit.store.extra_vectors import ExtraVectors, build_extra_vectors
from ragkit.store.generations import new_generation_dir, publish_generation
from ragkit.store.integrity import reading, record_files, verify_counts, verify_files
from ragkit.store.manifest import IndexSettings, check_format, make_manifest, read_manifest, write_manifest
from ragkit.store.registry import dense_store_class, new_dense_store, new_sparse_store
from ragkit.text.context import indexed_text


@dataclass(frozen=True)
class GenerationContent:
    """What goes into a new generation.

    ``carry_from`` is the generation whose chunks of ``keep_sources`` are carried forward
    (None writes everything from scratch); ``chunks`` are the new chunks, ``vectors`` their
    embeddings (row i of ``vectors`` is chunks[i]; from ingest a read-only memory-mapped file,
    read here in slices), ``parents`` their parent sections.
    ``files`` holds size, mtime and sha256 of every file to record.
    """

    carry_from: Path | None
    keep_sources: frozenset[str]
    chunks: list[Document]
    parents: list[Document]
    vectors: np.ndarray
    files: dict[str, dict]
    # Multi-vector indexing (ragkit.ingest.multi_vector): the recipe the manifest records, and every chunk's extra
    # vectors and their kind codes by chunk id (carried chunks' too). None: the generation has no extra vectors.
    multi_vector: dict | None = None
    extras: dict[str, tuple[np.ndarray, np.ndarray]] | None = None


@dataclass(frozen=True)
class WrittenGeneration:
    """The generation made live: its name, how many chunks and files it holds."""

    name: str
    chunks: int
    files: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Rows:
    """The docstore as written: row i's chunk is indexed as texts[i] (its context line and text)."""

    texts: list[str]
    documents: list[str]    # row i's document: its source and doc_id (two JSONL files may reuse an _id)
    carried: np.ndarray     # rows, in the generation carried from, of the chunks carried forward
    fresh: np.ndarray       # positions in GenerationContent.chunks of the new chunks written
    chunk_ids: dict[str, list[str]]  # source -> chunk ids, in row order
    ids: list[str]          # row i's chunk id


def write_generation(index_dir: Path, content: GenerationContent, settings: IndexSettings, *,
                     stats: dict) -> WrittenGeneration:
    """Build a new generation beside the live one and switch to it; ``stats`` go in the manifest."""
    old_manifest = _verified_manifest(content.carry_from) if content.carry_from is not None else None
    tmp, final = new_generation_dir(index_dir)
    rows = _write_docstore(tmp, content)
    dense = _write_dense(tmp, content, rows, settings, old_manifest)
    dense_index = dense.describe()
    sparse = _new_sparse(content, rows, settings)
    sparse.build(rows.texts)
    sparse.save(tmp)
    documents = build_document_index(rows.texts, rows.documents, settings.sparse)
    documents.save(tmp)
    extra = _write_extra(tmp, content, rows, settings.embedder.dimension)
    files = {rel: {**meta, "chunks": len(rows.chunk_ids[rel]), "chunk_ids": rows.chunk_ids[rel]}
             for rel, meta in sorted(content.files.items()) if rel in rows.chunk_ids}
    integrity = {"files": record_files(tmp),
                 "counts": {"docstore": len(rows.texts), "dense": dense.size, "sparse": sparse.size,
                            "documents": documents.size, **({extra_vectors.DIR_NAME: extra.size} if extra else {})}}
    multi_vector = {**content.multi_vector, "vectors": extra.counts()} if extra else None
    checksum = write_manifest(tmp, make_manifest(generation=final.name, settings=settings, files=files,
                                                 chunks=len(rows.texts), stats=stats, integrity=integrity,
                                                 dense_index=dense_index, dense_where=dense.where(),
                                                 multi_vector=multi_vector))
    publish_generation(index_dir, tmp, final, checksum)
    notes = (dense_index["note"],) if dense_index and dense_index.get("note") else ()
    return WrittenGeneration(name=final.name, chunks=len(rows.texts), files=len(files), notes=notes)


def _write_extra(directory: Path, content: GenerationContent, rows: _Rows, dimension: int) -> ExtraVectors | None:
    """The extra vectors of the chunks as written (by row), when the content has a multi-vector recipe."""
    if content.multi_vector is None:
        return None
    extras = content.extras or {}
    present = [(row, extras[chunk_id]) for row, chunk_id in enumerate(rows.ids) if chunk_id in extras]
    extra = build_extra_vectors([row for row, _ in present], [v for _, (v, _) in present],
                                [k for _, (_, k) in present], dimension)
    extra.save(directory)
    return extra


def _new_sparse(content: GenerationContent, rows: _Rows, settings: IndexSettings) -> SparseStore:
    """An empty sparse index; a remote one learns which leading rows it holds already (carried chunks)."""
    sparse = new_sparse_store(settings.sparse_backend, settings.sparse, settings.sparse_options)
    if content.carry_from is not None:
        sparse.carry(content.carry_from, rows.carried)
    return sparse


def _verified_manifest(generation: Path) -> dict:
    """The manifest of the generation chunks are carried from, once all its files pass their sha256."""
    manifest = read_manifest(generation)
    check_format(manifest)
    verify_files(generation, manifest, full=True)
    return manifest


def _write_docstore(directory: Path, content: GenerationContent) -> _Rows:
    """Carried chunks first, then new ones; a new chunk whose id is already written is left out."""
    store = DocStore(directory / docstore.FILE_NAME, readonly=False)
    texts: list[str] = []
    documents: list[str] = []
    carried: list[int] = []
    seen: set[str] = set()
    ids: list[str] = []
    if content.carry_from is not None:
        with reading(content.carry_from, docstore.FILE_NAME):
            old = DocStore(content.carry_from / docstore.FILE_NAME)
            kept = []
            for chunk in old.iter_chunks(content.keep_sources):
                carried.append(chunk.row)
                kept.append((len(texts), chunk.to_document()))
                texts.append(indexed_text(chunk.text, chunk.metadata))
                documents.append(_document_key(chunk.source, chunk.doc_id))
                seen.add(chunk.chunk_id)
                ids.append(chunk.chunk_id)
            store.add(kept)
            store.add_parents(old.iter_parents(content.keep_sources))
            old.close()
    fresh, positions = [], []
    for position, chunk in enumerate(content.chunks):
        if chunk.metadata["chunk_id"] in seen:  # the same text at the same place: one copy
            continue
        seen.add(chunk.metadata["chunk_id"])
        ids.append(chunk.metadata["chunk_id"])
        fresh.append((len(texts), chunk))
        positions.append(position)
        texts.append(indexed_text(chunk.page_content, chunk.metadata))
        documents.append(_document_key(chunk.metadata.get("source", ""), chunk.metadata.get("doc_id", "")))
    store.add(fresh)
    store.add_parents(content.parents)
    store.commit()
    chunk_ids = store.chunk_ids_by_source()
    store.close()
    return _Rows(texts, documents, np.asarray(carried, dtype=np.int64), np.asarray(positions, dtype=np.int64),
                 chunk_ids, ids)


def _document_key(source: str, doc_id: str) -> str:
    """A chunk's document: its source and doc_id (two JSONL files may reuse an _id)."""
    return f"{source}\0{doc_id}"


def _write_dense(directory: Path, content: GenerationContent, rows: _Rows, settings: IndexSettings,
                 old_manifest: dict | None) -> DenseStore:
    """The carried chunks' vectors (read from the old generation), then the new chunks'; returns the index written.

    The store is built with the backend's structure settings and options (``IndexSettings.dense``,
    ``dense_options``). Memory: the old index is memory-mapped where the backend can (``load_mapped``),
    an approximate index is made and trained before the first block (``prepare``: so no vectors wait
    beside it), carried vectors go in blocks (``carry``; a remote store may hold them already) and
    new ones too (slices of ``content.vectors``, which ingest maps from disk), so only the new index holds all of them.
    """
    dense = new_dense_store(settings.dense_backend, settings.embedder.dimension, settings.dense, settings.dense_options)
    old = _old_dense(content.carry_from, old_manifest) if content.carry_from is not None else None
    dense.prepare(len(rows.carried) + len(rows.fresh), lambda picks: _sample(old, content, rows, picks))
    if old is not None:
        dense.carry(old, rows.carried)
        del old
    for start in range(0, len(rows.fresh), CARRY_BLOCK):
        dense.add(_fresh_block(content.vectors, rows.fresh, start, start + CARRY_BLOCK))
    dense.save(directory)
    return dense


def _old_dense(generation: Path, manifest: dict) -> DenseStore:
    """The dense index carried from, memory-mapped when its backend can (its vectors stay file pages)."""
    backend = dense_store_class(manifest["dense"]["backend"])
    with reading(generation, backend.file_name):
        old = backend.load_mapped(generation)
    verify_counts(generation, manifest, {backend.file_name: old.size})
    return old


def _fresh_block(vectors: np.ndarray, fresh: np.ndarray, start: int, stop: int) -> np.ndarray:
    """The vectors of new rows ``fresh[start:stop]``: a view when those rows are consecutive (no copy)."""
    block = fresh[start:stop]
    if len(block) and np.all(np.diff(block) == 1):
        return vectors[block[0]:block[-1] + 1]
    return vectors[block]


def _sample(old: DenseStore | None, content: GenerationContent, rows: _Rows, picks: np.ndarray) -> np.ndarray:
    """The vectors of generation rows ``picks`` (sorted): carried ones read from ``old``, then new ones."""
    carried = picks[picks < len(rows.carried)]
    fresh = rows.fresh[picks[picks >= len(rows.carried)] - len(rows.carried)]
    parts = [content.vectors[fresh]]
    if len(carried):
        parts.insert(0, old.vectors(rows.carried[carried]))
    return np.concatenate(parts) if len(parts) > 1 else parts[0]
