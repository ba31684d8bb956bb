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

from ragkit.store import writer
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
    monkeypatch.setattr(writer, "CARRY_BLOCK", BLOCK)
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
    ``finish`` / vectors' bytes was 2.04 before (concatenate, then reorder), 1.04 after (the one
    array the pieces are placed into, plus the chunks' order)."""
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
    assert peak < 1.3 * vectors.nbytes  # the array returned, and nothing as large beside it
    assert [c.page_content for c in ordered[:2]] == ["file 0 chunk 0", "file 0 chunk 1"]
    np.testing.assert_array_equal(vectors[[0, -1]], embedder.embed_array(["file 0 chunk 0", "file 19 chunk 999"]))
