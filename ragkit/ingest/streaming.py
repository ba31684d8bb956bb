"""Embed chunks while files are still loading, and hand them back in a fixed order.

The PDF workers parse in their own processes; meanwhile the main process embeds the chunks that
have arrived, a step at a time, looking for finished PDFs between steps (see
:func:`ragkit.ingest.loaders.load_files`'s ``idle``). Two facts keep the index independent of
timing: an embedder's vector for a text does not depend on the other texts of the call (measured
bit-identical for the local embedder whatever the grouping; tests/test_ingest.py checks the whole
index), and :meth:`StreamingEmbedder.finish` puts the chunks back in load-list order, whatever
order the files finished in.

Memory: the vectors are never all in memory here. Each embedded step is appended to an unnamed
temporary file (arrival order); :meth:`StreamingEmbedder.finish` copies it, a bounded block at a
time, into a second unnamed file in load-list order and returns that file memory-mapped read-only.
The writer then adds those rows to FAISS in slices, so during a write the new vectors are in RAM
once, in FAISS (the mapped pages are file-backed: the kernel can drop them). Unnamed files vanish
when closed or when the process dies: a killed ingest leaves nothing behind (where the file system
cannot make a file without a name, the name carries the temporary mark the next ingest collects).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from langchain_core.documents import Document

from ragkit.embedders import RagkitEmbeddings
from ragkit.ingest.report import Progress
from ragkit.store.generations import TMP_MARK
from ragkit.text.context import indexed_text

EMBED_STEP = 64
"""Chunks embedded between two looks for finished PDFs: about 1-2 s on 2 cores, so a worker that
finished a file waits at most that long for its next one, and the embedder gets batches enough to
sort by length (its batch_size is 16)."""

SPILL_BLOCK_BYTES = 64 * 2**20
"""Vectors in memory at a time while :meth:`StreamingEmbedder.finish` embeds the rest and reorders the
spilled ones: ~44k rows at 384-d, large enough that the embedder still sorts big batches by length,
and 4% of a 1M-chunk ingest's 1.5 GB."""


class StreamingEmbedder:
    """Collects each file's chunks as it loads, embeds them in steps, returns them in file order.

    ``spill_dir`` is where the unnamed files holding the vectors go (the index's directory, so
    on its disk); the system's temporary directory when not given.
    """

    def __init__(self, embedder: RagkitEmbeddings, progress: Progress, step: int | None = None,
                 spill_dir: Path | None = None) -> None:
        self.embedder, self.progress, self.step = embedder, progress, max(1, step or EMBED_STEP)
        self.spill_dir = spill_dir
        self.arrived: list[Document] = []           # chunks in arrival order
        self.spill = None                           # the vectors of arrived[:embedded], in that order (raw float32)
        self.embedded = 0
        self.spans: dict[int, range] = {}           # a file's place in the load list -> its chunks in `arrived`
        self.embed_s = 0.0                          # seconds spent inside the embedder

    def add(self, position: int, chunks: list[Document]) -> None:
        """The chunks of the file at ``position`` in the load list (each file once)."""
        self.spans[position] = range(len(self.arrived), len(self.arrived) + len(chunks))
        self.arrived.extend(chunks)
        self.progress.grow("embed", len(chunks))

    def embed_some(self) -> bool:
        """Embed the next step of waiting chunks; False when none were waiting."""
        return self._embed(self.step)

    def finish(self) -> tuple[list[Document], np.ndarray]:
        """Embed the rest; return every chunk in load-list order and its vectors (row i for chunk i).

        The vectors are a read-only memory-mapped array (see the module notes).
        """
        block = self._block_rows()
        while self._embed(block):  # large steps: the embedder sorts what it is given by length
            pass
        if self.spill is None:  # nothing to embed: don't load a model for it
            return [], np.zeros((0, self.embedder.dimension), dtype=np.float32)
        order = [i for position in sorted(self.spans) for i in self.spans[position]]
        return [self.arrived[i] for i in order], self._place(block)

    def _block_rows(self) -> int:
        """Rows of :data:`SPILL_BLOCK_BYTES` (at least one step)."""
        return max(self.step, SPILL_BLOCK_BYTES // (4 * max(1, self.embedder.dimension)))

    def _place(self, block: int) -> np.ndarray:
        """Copy the spilled vectors into a new unnamed file in load-list order, ``block`` rows at a time; map it."""
        row_bytes = 4 * self.embedder.dimension
        placed = _unnamed_file(self.spill_dir)
        with self.spill, placed:
            for position in sorted(self.spans):  # each file's chunks are consecutive in arrival order
                span = self.spans[position]
                for start in range(span.start, span.stop, block):
                    self.spill.seek(start * row_bytes)
                    placed.write(self.spill.read((min(start + block, span.stop) - start) * row_bytes))
            placed.flush()
            # The map keeps the file (and its disk space) until the array is let go.
            return np.memmap(placed, dtype=np.float32, mode="r", shape=(self.embedded, self.embedder.dimension))

    def _embed(self, limit: int) -> bool:
        texts = [indexed_text(chunk.page_content, chunk.metadata) for chunk in self.arrived[self.embedded:self.embedded + limit]]
        if not texts:
            return False
        started = time.perf_counter()
        vectors = self.embedder.embed_array(texts, progress=lambda n: self.progress.advance("embed", n))
        self.embed_s += time.perf_counter() - started
        if self.spill is None:
            self.spill = _unnamed_file(self.spill_dir)
        self.spill.write(np.ascontiguousarray(vectors, dtype=np.float32).data)
        self.embedded += len(texts)
        return True


def _unnamed_file(directory: Path | None):
    """A read-write temporary file in ``directory`` that no one can open and that is gone once closed."""
    return tempfile.TemporaryFile(dir=directory, prefix=f"vectors{TMP_MARK}")
