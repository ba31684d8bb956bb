"""The ``bm25s`` sparse backend: BM25 with bm25s (precomputed sparse score matrix, pure numpy at query time).

Tokens: lowercase word tokens, English stopwords removed, Snowball-stemmed (PyStemmer) —
what makes BM25 strong on real text (LangChain's ``BM25Retriever`` splits on spaces only and
loses ~0.16 nDCG@10 on SciFact for it). Persisted as bm25s arrays (``.npy``, loaded with
``allow_pickle=False``) plus JSON vocabulary and parameters: no pickle.

Scores follow Lucene 8+: the constant ``(k1 + 1)`` factor of the classic numerator is left
out, which changes no ranking (tests check scores x (k1 + 1) against rank-bm25).

The arrays are memory-mapped (``numpy.load(mmap_mode="r")`` through bm25s): a term's posting
list is a slice of them, and a search reads only the slices of its terms (bm25s scores that
way), so opening a million-chunk index reads no posting list at all. Loading checks the
structure that costs O(vocabulary) (pointers in order and in bounds, the document count); each
posting list a search touches is checked before it is scored (document numbers below the
document count, scores finite and not negative), so those checks cost no more than the search.
Damage that keeps the structure (a changed score or document number) is for the sha256 check
(:mod:`ragkit.store.integrity`).
"""

from __future__ import annotations

import json
from pathlib import Path

import bm25s
import numpy as np

from ragkit.errors import IndexDamaged
from ragkit.store.base import SparseStore, top_positive
from ragkit.text import tokenize

DIR_NAME = "sparse"
PARAMS_FILE = "ragkit_sparse.json"
DATA_FILE, INDICES_FILE = "data.csc.index.npy", "indices.csc.index.npy"   # bm25s's names for the posting arrays


class BM25Index(SparseStore):
    """A BM25 index over the docstore's rows."""

    file_name = DIR_NAME

    def __init__(self, method: str = "lucene", k1: float = 1.5, b: float = 0.75,
                 stemmer: str | None = "english", stopwords: str | None = "en"):
        self.method, self.k1, self.b = method, float(k1), float(b)
        self.stemmer, self.stopwords = stemmer, stopwords
        self.model: bm25s.BM25 | None = None
        self.size = 0
        self.folder = DIR_NAME   # how damage found by a search names the arrays' folder (documents/sparse for documents)

    def settings(self) -> dict:
        """The settings that define the scores (recorded in the manifest)."""
        return {"method": self.method, "k1": self.k1, "b": self.b, "stemmer": self.stemmer, "stopwords": self.stopwords}

    def tokenize(self, texts: list[str]) -> list[list[str]]:
        """Tokens as indexed: the same function serves documents and queries."""
        return tokenize(texts, self.stemmer, self.stopwords)

    def build(self, texts: list[str]) -> None:
        """Index ``texts``; row i is texts[i]."""
        self.size = len(texts)
        if not texts:
            self.model = None
            return
        tokens = self.tokenize(texts)
        self.model = bm25s.BM25(method=self.method, k1=self.k1, b=self.b)
        self.model.index(tokens, show_progress=False)

    def term_scores(self, terms: list[str]) -> np.ndarray:
        """BM25 score of every row for already tokenised ``terms`` (unknown terms count for nothing)."""
        if self.model is None:
            return np.zeros(self.size, dtype=np.float32)
        known = [t for t in terms if t in self.model.vocab_dict]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        check_postings(self.model, [self.model.vocab_dict[t] for t in known], self.size, self.folder)
        return np.asarray(self.model.get_scores(known), dtype=np.float32)

    def search(self, query: str, k: int, allowed_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows with a positive score, best first; ``allowed_rows`` restricts them (filters)."""
        return top_positive(self.scores(query), k, allowed_rows)

    def save(self, directory: Path) -> None:
        """Write arrays and JSON into ``directory/sparse``."""
        target = Path(directory) / DIR_NAME
        target.mkdir(parents=True, exist_ok=True)
        if self.model is not None:
            self.model.save(str(target), allow_pickle=False)
        (target / PARAMS_FILE).write_text(json.dumps({**self.settings(), "size": self.size}))

    @classmethod
    def load(cls, directory: Path) -> "BM25Index":
        """Read an index written by :meth:`save`."""
        source = Path(directory) / DIR_NAME
        params = json.loads((source / PARAMS_FILE).read_text())
        size = params.pop("size")
        index = cls(**params)
        index.size = size
        if size:
            index.model = bm25s.BM25.load(str(source), allow_pickle=False, show_progress=False, mmap=True)
            check_structure(index.model, size)
        return index


def check_structure(model: bm25s.BM25, size: int) -> None:
    """ValueError unless the loaded BM25 arrays hang together for ``size`` documents."""
    scores = model.scores
    data, indices, indptr = scores["data"], scores["indices"], scores["indptr"]
    term_ids = np.sort(np.fromiter(model.vocab_dict.values(), dtype=np.int64, count=len(model.vocab_dict)))
    problems = [
        (not np.array_equal(term_ids, np.arange(len(term_ids))), "term numbers not 0..n-1"),
        (int(scores.get("num_docs", -1)) != size, f"{scores.get('num_docs')} documents, not {size}"),
        # bm25s keeps an empty token in the vocabulary with no column of its own: V or V + 1 pointers.
        (indptr.ndim != 1 or len(indptr) - len(model.vocab_dict) not in (0, 1), "pointers do not match the vocabulary"),
        (len(indptr) and (indptr[0] != 0 or indptr[-1] != len(data)), "pointers out of bounds"),
        (len(indptr) and bool(np.any(np.diff(indptr) < 0)), "pointers out of order"),
        (len(indices) != len(data), "documents and scores differ in number"),
    ]
    for broken, what in problems:
        if broken:
            raise ValueError(f"BM25 arrays damaged: {what}")


def check_postings(model: bm25s.BM25, term_ids: list[int], size: int, folder: str = DIR_NAME) -> None:
    """IndexDamaged unless the posting lists of ``term_ids`` name documents below ``size`` with finite, non-negative scores.

    ``folder`` is where the arrays are in the generation (the damage names the file).
    """
    scores = model.scores
    indptr = scores["indptr"]
    for term in term_ids:
        start, end = int(indptr[term]), int(indptr[term + 1])
        docs, weights = scores["indices"][start:end], scores["data"][start:end]
        if len(docs) and (docs.min() < 0 or docs.max() >= size):
            raise IndexDamaged(f"{folder}/{INDICES_FILE}", f"document numbers out of range in the postings of term {term}")
        if not np.all(np.isfinite(weights)) or bool(np.any(weights < 0)):
            raise IndexDamaged(f"{folder}/{DATA_FILE}", f"scores not finite or negative in the postings of term {term}")
