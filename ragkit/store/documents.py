"""Document evidence: a second sparse index over whole documents, beside the one over chunks.

A chunk often lacks the words that say what its document is about: a 10-Q page about "net
sales" never says "Apple", a paper's results paragraph never repeats its title. The document
index scores every document (all its chunks' indexed text, joined) for a query, and each chunk
gets its document's score (``document_scores``; ``row_document`` says which is a row's), which
retrieval adds to the chunk's own (:func:`ragkit.retrieval.evidence.matching_with_evidence`).

Stored in the generation's ``documents/`` folder: a local BM25 index over documents (bm25s
arrays, no pickle, with the chunk index's BM25 settings, whichever backend holds the chunks:
documents are few beside chunks) and ``rows.npy``, the document number of every docstore row. A generation written before this existed has no such folder;
search then scores chunks alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ragkit.store.backends import bm25s as sparse_module
from ragkit.store.backends.bm25s import BM25Index

DIR_NAME = "documents"
ROWS_FILE = "rows.npy"


class DocumentIndex:
    """A sparse index over documents, and which document each chunk row belongs to."""

    def __init__(self, sparse: BM25Index, row_document: np.ndarray):
        self.sparse = sparse
        self.row_document = np.asarray(row_document, dtype=np.int64)

    @property
    def size(self) -> int:
        """Number of chunk rows covered (the docstore's row count)."""
        return int(len(self.row_document))

    @property
    def documents(self) -> int:
        """Number of documents."""
        return int(self.sparse.size)

    def document_scores(self, query: str) -> np.ndarray:
        """Each document's score for ``query`` (shape (documents,)); ``row_document`` says whose a row is."""
        return self.sparse.scores(query)

    def save(self, directory: Path) -> None:
        """Write the index into ``directory/documents``."""
        target = Path(directory) / DIR_NAME
        target.mkdir(parents=True, exist_ok=True)
        self.sparse.save(target)
        np.save(target / ROWS_FILE, self.row_document, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> DocumentIndex:
        """Read an index written by :meth:`save` (ValueError when its rows point past its documents)."""
        source = Path(directory) / DIR_NAME
        sparse = BM25Index.load(source)
        sparse.folder = f"{DIR_NAME}/{sparse_module.DIR_NAME}"   # a damaged posting list is named as it is
        row_document = np.load(source / ROWS_FILE, allow_pickle=False)
        if row_document.ndim != 1 or (len(row_document) and (row_document.min() < 0 or row_document.max() >= sparse.size)):
            raise ValueError("document numbers out of range")
        return cls(sparse, row_document)


def build_document_index(texts: Sequence[str], doc_ids: Sequence[str], settings: dict) -> DocumentIndex:
    """Index each document as its chunks' ``texts`` joined in row order; ``doc_ids[i]`` is row i's document.

    ``settings`` are the chunk index's sparse settings (those BM25 knows are used); documents are
    numbered in the order their first chunk appears.
    """
    sparse = BM25Index(**{k: v for k, v in settings.items() if k in BM25Index().settings()})
    numbers: dict[str, int] = {}
    parts: list[list[str]] = []
    row_document = np.empty(len(texts), dtype=np.int64)
    for row, (text, doc_id) in enumerate(zip(texts, doc_ids, strict=True)):
        number = numbers.setdefault(doc_id, len(numbers))
        if number == len(parts):
            parts.append([])
        parts[number].append(text)
        row_document[row] = number
    sparse.build(["\n".join(chunks) for chunks in parts])
    return DocumentIndex(sparse, row_document)

