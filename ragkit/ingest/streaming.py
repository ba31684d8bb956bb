"""Embed chunks while files are still loading, and hand them back in a fixed order.

The PDF workers parse in their own processes; meanwhile the main process embeds the chunks that
have arrived, a step at a time, looking for finished PDFs between steps (see
:func:`ragkit.ingest.loaders.load_files`'s ``idle``). Two facts keep the index independent of
timing: an embedder's vector for a text does not depend on the other texts of the call (measured
bit-identical for the local embedder whatever the grouping; tests/test_ingest.py checks the whole
index), and :meth:`StreamingEmbedder.finish` puts the chunks back in load-list order, whatever
order the files finished in.
"""

from __future__ import annotations

import time

import numpy as np
from langchain_core.documents import Document

from ragkit.embedders import RagkitEmbeddings
from ragkit.ingest.report import Progress
from ragkit.text.context import indexed_text

EMBED_STEP = 64
"""Chunks embedded between two looks for finished PDFs: about 1-2 s on 2 cores, so a worker that
finished a file waits at most that long for its next one, and the embedder gets batches enough to
sort by length (its batch_size is 16)."""


class StreamingEmbedder:
    """Collects each file's chunks as it loads, embeds them in steps, returns them in file order."""

    def __init__(self, embedder: RagkitEmbeddings, progress: Progress, step: int | None = None) -> None:
        self.embedder, self.progress, self.step = embedder, progress, max(1, step or EMBED_STEP)
        self.arrived: list[Document] = []           # chunks in arrival order
        self.pieces: list[np.ndarray] = []          # the vectors of arrived[:embedded], one array per call
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
        """Embed the rest; return every chunk in load-list order and its vectors (row i for chunk i)."""
        self._embed(len(self.arrived))  # all at once: the embedder sorts what it is given by length
        order = [i for position in sorted(self.spans) for i in self.spans[position]]
        if not self.pieces:  # nothing to embed: don't load a model for it
            return [], np.zeros((0, self.embedder.dimension), dtype=np.float32)
        return [self.arrived[i] for i in order], self._place(order)

    def _place(self, order: list[int]) -> np.ndarray:
        """One array in load-list order: each piece goes straight to its final rows and is let go.

        Concatenating the pieces and then reordering would hold every vector two or three times;
        this holds them once, plus the piece being placed.
        """
        final_row = np.empty(len(self.arrived), dtype=np.int64)
        final_row[np.asarray(order, dtype=np.int64)] = np.arange(len(order))
        first = self.pieces[0]
        vectors = np.empty((len(self.arrived), first.shape[1]), dtype=first.dtype)
        start = 0
        while self.pieces:
            piece = self.pieces.pop(0)
            vectors[final_row[start:start + len(piece)]] = piece
            start += len(piece)
            del piece
        return vectors

    def _embed(self, limit: int) -> bool:
        texts = [indexed_text(chunk.page_content, chunk.metadata) for chunk in self.arrived[self.embedded:self.embedded + limit]]
        if not texts:
            return False
        started = time.perf_counter()
        self.pieces.append(self.embedder.embed_array(texts, progress=lambda n: self.progress.advance("embed", n)))
        self.embed_s += time.perf_counter() - started
        self.embedded += len(texts)
        return True
