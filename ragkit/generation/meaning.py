"""Closeness in meaning, with the local embedder: is a name the question uses said otherwise in the sources?

A user writes "the Florida crash" where the report says "Tallahassee, FL", "the French funder" where a
paper names "France 2030". Term checks call such a name missing and would refuse. Here each name
of the question that the sources lack is compared, as an embedding, with the names the sources hold
(runs of capitalised words, acronyms, the file's name); one close enough means the sources speak of
it in their own words. "Tesla" next to a page about Apple is not close; "Florida" next to "FL" is.

The thresholds are on the cosine scale of all-MiniLM-L6-v2 (the bundled default embedder), chosen on
the calibration halves of the paraphrase sets (``benchmarks/own_words.py``).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Sequence

import numpy as np

from ragkit.embedders.base import RagkitEmbeddings

NAME_CLOSENESS = 0.6
"""A question's name is said otherwise in the sources when one of their names is at least this close (cosine)."""
MAX_NAMES = 200
"""At most this many names of the sources are compared (the first ones, in source order): bounds the cost."""

_WORD = r"(?:[A-Z](?:[\w&'’-]|\.(?=\w))*|\d(?:[\w-]|\.(?=\w))*[A-Za-z](?:[\w-]|\.(?=\w))*)"   # "U.S.", "10-Q", "H100"
_NAME = re.compile(rf"\b{_WORD}(?:[ \t]+(?:(?:of|and|the|for|de|du|&)[ \t]+)?{_WORD})*")


def source_names(texts: Sequence[str], files: Sequence[str] = ()) -> list[str]:
    """The names in ``texts`` (runs of capitalised words, acronyms) and the stems of ``files``, each once, in order."""
    found: dict[str, None] = {}
    for text in texts:
        for match in _NAME.finditer(text):
            name = match.group().strip(" .,'’-")
            if len(name) > 1:
                found.setdefault(name)
    for file in files:
        found.setdefault(PurePosixPath(file).stem)
    return list(found)[:MAX_NAMES]


def said_otherwise(names: Sequence[str], texts: Sequence[str], files: Sequence[str], embedder: RagkitEmbeddings,
                   closeness: float = NAME_CLOSENESS) -> set[str]:
    """The ``names`` (a question's) that some name of ``texts``/``files`` is close to in meaning."""
    candidates = source_names(texts, files)
    if not names or not candidates:
        return set()
    asked = embedded(list(names), embedder)
    held = embedded(candidates, embedder)
    best = (asked @ held.T).max(axis=1)
    return {name for name, score in zip(names, best.tolist()) if score >= closeness}


def best_similarity(question: str, pieces: Sequence[str], embedder: RagkitEmbeddings) -> np.ndarray:
    """Cosine of ``question`` with each of ``pieces`` (an empty array for no pieces)."""
    if not pieces:
        return np.zeros(0, dtype=np.float32)
    vectors = embedded([question, *pieces], embedder)
    return vectors[1:] @ vectors[0]


def embedded(texts: Sequence[str], embedder: RagkitEmbeddings) -> np.ndarray:
    """``embedder``'s vectors of ``texts``, each text embedded once per process (up to :data:`MEMO_SIZE` kept).

    One answer compares the same sentences with its question twice (is it on topic, which quote), and a chat or an
    eval meets the same chunks again and again: a sentence costs a few milliseconds on two cores.
    """
    key = getattr(embedder, "model_id", "")
    todo = list(dict.fromkeys(t for t in texts if (key, t) not in _MEMO))
    if todo:
        for text, vector in zip(todo, embedder.embed_array(todo)):
            _MEMO[(key, text)] = vector
        while len(_MEMO) > MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
    return np.stack([_MEMO[(key, t)] for t in texts]) if texts else np.zeros((0, embedder.dimension), np.float32)


MEMO_SIZE = 8192
"""Sentences whose vectors :func:`embedded` keeps (8,192 x 384 floats: 12 MB), oldest first out."""
_MEMO: dict[tuple[str, str], np.ndarray] = {}
