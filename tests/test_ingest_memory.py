"""Ingest never holds a generation's vectors twice (issue 12, "memory limits").

``tracemalloc`` sees numpy's allocations, not FAISS's own C++ storage (the one copy an index
needs). The dense-write tests trace only the writer's dense step, after the input vectors exist:
input (1x) + FAISS (1x, untraced) + what is traced must stay below 1.3x + 1x, so the traced peak
must stay below 0.3x of the vectors' bytes; a writer keeping a second copy shows 1x or more.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from langchain_core.documents import Document

from ragkit.store import base, writer
from ragkit.store.generations import current_generation
from ragkit.store.index import open_index
from ragkit.store.manifest import IndexSettings
from ragkit.store.writer import GenerationContent, write_generation

ROWS, DIMENSION = 80_000, 32
BLOCK = 8_192                  # CARRY_BLOCK for these tests: a tenth of the rows, as 65k is of 1M
EXTRA = 0.3                    # the dense write's traced peak / the vectors' bytes


class _Identity:
    model_id = "memory-test"
    dimension = DIMENSION


def unit_vectors(rows: int, seed: int = 0) -> np.ndarray:
    """``rows`` random unit vectors (the index checks lengths)."""
    vectors = np.random.default_rng(seed).standard_normal((rows, DIMENSION)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def settings(**dense) -> IndexSettings:
    """A FAISS + BM25 generation's settings with the given ``dense`` index settings."""
    return IndexSettings(embedder=_Identity(), splitter={}, sparse={}, dense_backend="faiss",
                         sparse_backend="bm25s", dense=dense)


def content(vectors: np.ndarray, carry_from=None) -> GenerationContent:
    """One file's chunks (none when carrying it forward) and their vectors."""
    chunks = [Document(page_content=f"w{n % 97} w{n % 89}", metadata={"chunk_id": f"c{n}", "source": "a.txt",
                                                                      "doc_id": "a.txt"})
              for n in range(len(vectors))]
    return GenerationContent(carry_from=carry_from, keep_sources=frozenset({"a.txt"}) if carry_from else frozenset(),
                             chunks=chunks, parents=[], vectors=vectors,
                             files={"a.txt": {"size": 1, "mtime": 0.0, "sha256": "0" * 64}})


def dense_write_peak(monkeypatch, index_dir, generation: GenerationContent, index_settings: IndexSettings) -> int:
    """Bytes numpy allocates at most while the writer builds the dense index of ``generation``."""
    peaks = []
    real = writer._write_dense

    def traced(*args, **kwargs):
        tracemalloc.start()
        try:
            return real(*args, **kwargs)
        finally:
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()

    monkeypatch.setattr(writer, "_write_dense", traced)
    monkeypatch.setattr(writer, "CARRY_BLOCK", BLOCK)   # new vectors' blocks
    monkeypatch.setattr(base, "CARRY_BLOCK", BLOCK)     # carried vectors' blocks (DenseStore.carry)
    write_generation(index_dir, generation, index_settings, stats={})
    return peaks[0]


@pytest.mark.parametrize("dense", [{"kind": "ivf", "ivf_lists": 16}, {"kind": "hnsw", "hnsw_m": 8,
                                                                      "hnsw_ef_construction": 16},
                                   {"kind": "flat"}], ids=["ivf", "hnsw", "flat"])
def test_writing_the_dense_index_makes_no_second_copy_of_the_vectors(dense, monkeypatch, tmp_path):
    """Measured at 80k x 32 (10.2 MB of vectors), traced peak / vectors' bytes.

    Before (49ab34f): ivf 1.11, hnsw 1.00 (added blocks waited as a second copy until the build),
    flat 0.10 (one block copy). After: ivf 0.06 (the training sample), hnsw 0.01, flat 0.01 (the
    new rows are consecutive: blocks are views).
    """
    vectors = unit_vectors(ROWS)
    peak = dense_write_peak(monkeypatch, tmp_path / "index", content(vectors), settings(**dense))
    assert peak < EXTRA * vectors.nbytes
    index = open_index(tmp_path / "index")
    np.testing.assert_array_equal(index.dense.vectors(np.array([0, ROWS - 1])), vectors[[0, ROWS - 1]])


def test_carrying_a_generation_forward_copies_its_vectors_in_blocks_from_a_mapped_file(monkeypatch, tmp_path):
    """Measured at 80k x 32 carried from an IVF generation into a new one: 1.11 before (the carried
    blocks waited for the IVF build), 0.11 after (one block at a time). The old index is now
    memory-mapped, which tracemalloc cannot see: benchmarks/ingest_memory.py measures RSS."""
    vectors = unit_vectors(ROWS)
    index_dir = tmp_path / "index"
    write_generation(index_dir, content(vectors), settings(kind="ivf", ivf_lists=16), stats={})
    carried = content(np.zeros((0, DIMENSION), np.float32), carry_from=current_generation(index_dir))
    peak = dense_write_peak(monkeypatch, index_dir, carried, settings(kind="ivf", ivf_lists=16))
    assert peak < EXTRA * vectors.nbytes
    index = open_index(index_dir)
    assert index.dense.size == ROWS
    np.testing.assert_array_equal(index.dense.vectors(np.array([5, ROWS - 5])), vectors[[5, ROWS - 5]])


def test_streaming_finish_places_the_pieces_without_concatenating_them():
    """Measured with 20 pieces of 1k x 384 arriving out of load order (30.7 MB): traced peak of
    ``finish`` / vectors' bytes was 2.04 before 49ab34f (concatenate, then reorder), 1.04 after it (the
    one array the pieces are placed into), 0.08 since the vectors wait on disk (a block read at a time)."""
    from ragkit.embedders import HashEmbeddings
    from ragkit.ingest.report import SilentProgress
    from ragkit.ingest.streaming import StreamingEmbedder

    embedder = HashEmbeddings(384)
    stream = StreamingEmbedder(embedder, SilentProgress(), step=1_000)
    for position in reversed(range(20)):  # the last file arrives first
        stream.add(position, [Document(page_content=f"file {position} chunk {n}", metadata={}) for n in range(1_000)])
        stream.embed_some()
    tracemalloc.start()
    try:
        ordered, vectors = stream.finish()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.3 * vectors.nbytes  # the array returned is a map of a file: no copy of the vectors in memory
    assert [c.page_content for c in ordered[:2]] == ["file 0 chunk 0", "file 0 chunk 1"]
    np.testing.assert_array_equal(vectors[[0, -1]], embedder.embed_array(["file 0 chunk 0", "file 19 chunk 999"]))


def test_a_fresh_ingest_holds_its_new_vectors_once_from_embedding_to_the_written_index(monkeypatch, tmp_path):
    """The streaming embedder and the writer together, as ingest runs them: traced peak + FAISS's
    own copy (untraced: rows x dimension x 4 bytes) must stay below 1.2x the vectors' bytes.

    1536-d vectors (OpenAI's size): the writer's own Python objects (the chunks' indexed texts,
    ~370 bytes a chunk, not vectors) are then a small share of the traced peak. Measured at 40 files
    x 250 chunks (61.4 MB), the last file arriving first: before (main, 8a74e4c) 2.01 traced + 1.0 FAISS
    (the embedded pieces beside the array they are placed in, then that array beside FAISS during
    the write) = 3.01; after 0.08
    + 1.0 (the vectors wait in unnamed files on disk and reach FAISS as slices of a read-only map).
    """
    from ragkit.embedders import HashEmbeddings
    from ragkit.ingest import streaming
    from ragkit.ingest.report import SilentProgress
    from ragkit.ingest.streaming import StreamingEmbedder

    dimension, files, per_file = 1536, 40, 250
    vector_bytes = files * per_file * dimension * 4
    # Blocks a tenth of the vectors, as 64 MB and 65k rows are of a 1M-chunk ingest (raising=False: runs on main too).
    monkeypatch.setattr(streaming, "SPILL_BLOCK_BYTES", vector_bytes // 10, raising=False)
    monkeypatch.setattr(writer, "CARRY_BLOCK", files * per_file // 10)
    monkeypatch.setattr(base, "CARRY_BLOCK", files * per_file // 10)
    embedder = HashEmbeddings(dimension)

    class Identity:
        model_id, dimension = embedder.model_id, embedder.dimension

    file_chunks = {position: [Document(page_content=f"file {position} chunk {n} w{n % 97}",
                                       metadata={"chunk_id": f"f{position}c{n}", "source": f"f{position:02}.txt",
                                                 "doc_id": f"f{position:02}.txt"}) for n in range(per_file)]
                   for position in range(files)}
    record = {f"f{position:02}.txt": {"size": 1, "mtime": 0.0, "sha256": "0" * 64} for position in range(files)}
    tracemalloc.start()
    try:
        stream = StreamingEmbedder(embedder, SilentProgress(), step=per_file)
        for position in reversed(range(files)):  # the last file arrives first
            stream.add(position, file_chunks[position])
            stream.embed_some()
        chunks, vectors = stream.finish()
        content = GenerationContent(carry_from=None, keep_sources=frozenset(), chunks=chunks, parents=[],
                                    vectors=vectors, files=record)
        write_generation(tmp_path / "index", content, IndexSettings(
            embedder=Identity(), splitter={}, sparse={}, dense_backend="faiss", sparse_backend="bm25s",
            dense={"kind": "flat"}), stats={})
        traced_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (traced_peak + vector_bytes) / vector_bytes < 1.2
    index = open_index(tmp_path / "index")
    assert index.dense.size == files * per_file
    expected = embedder.embed_array(["file 0 chunk 0 w0", f"file {files - 1} chunk {per_file - 1} w{(per_file - 1) % 97}"])
    np.testing.assert_array_equal(index.dense.vectors(np.array([0, files * per_file - 1])), expected)
    index.close()


def test_an_ingest_leaves_no_spilled_vectors_behind(docs, tmp_path, fast_cfg, monkeypatch):
    """The spill files are unnamed (or named with the mark garbage collection removes), on success and on failure."""
    from ragkit.ingest.pipeline import ingest
    from ragkit.store.generations import TMP_MARK

    ingest(docs, tmp_path / "idx", fast_cfg)
    assert not [p.name for p in (tmp_path / "idx").iterdir() if TMP_MARK in p.name or "vectors" in p.name]

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(writer, "_write_dense", broken)
    (docs / "new.txt").write_text("A new file to embed and write.", encoding="utf-8")
    with pytest.raises(OSError, match="disk full"):
        ingest(docs, tmp_path / "idx", fast_cfg)
    assert not [p.name for p in (tmp_path / "idx").iterdir() if "vectors" in p.name]
