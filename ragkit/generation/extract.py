"""The model-free ``extract`` chain: quote the sentences of the retrieved chunks that best match the question."""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from ragkit.generation.answer import Answer, number_sources
from ragkit.generation.citations import NO_ANSWER
from ragkit.store.sparse import BM25Index
from ragkit.text import split_sentences, tokenize

# Words that make up the question's form, not its subject; the extract chain ignores them
# (bm25s's English stopword list is short and keeps "what", "how", "does", ...).
_QUESTION_WORDS = ("what which who whom whose when where why how do does did can could should would "
                   "shall may might must tell me explain describe give please i you we my our your us")


def extract_answer(question: str, chunks: Sequence, max_sentences: int = 3) -> Answer:
    """The model-free chain: quote the sentences that best match ``question``, each with its ``[n]``.

    Sentences are scored by BM25 over the chunks' sentences with the index's tokens (lowercase,
    stemmed, stopwords and question words removed); the top ``max_sentences`` with a positive score
    are quoted best first, duplicates (from overlapping chunks) once. No match -> :data:`NO_ANSWER`.
    """
    sources = number_sources(chunks)
    sentences = [(s.n, sentence) for s in sources for sentence in split_sentences(s.text, min_words=3)]
    query = {t for t in tokenize([question])[0] if t not in _question_stems()}
    picked: list[tuple[int, str]] = []
    if sentences and query:
        scores = sentence_scores(query, [text for _, text in sentences])
        seen: set[str] = set()
        for i in sorted(range(len(sentences)), key=lambda i: (-scores[i], i)):
            key = " ".join(sentences[i][1].lower().split())
            if scores[i] <= 0 or len(picked) >= max_sentences:
                break
            if key not in seen:
                seen.add(key)
                picked.append(sentences[i])
    if not picked:
        return Answer(NO_ANSWER, [], sources, 0, True, "extract", 0)
    # A quote is the document's text, brackets and all (a paper's own "[12]", code's options[1]): ours
    # stand outside the quotes, and Answer.citations lists them, so nothing downstream parses the quote.
    text = "\n".join(f'"{" ".join(sentence.split())}" [{n}]' for n, sentence in picked)
    return Answer(text, list(dict.fromkeys(n for n, _ in picked)), sources, 0, False, "extract", 0)


def sentence_scores(terms: set[str], sentences: list[str]) -> np.ndarray:
    """BM25 (Lucene, k1 1.2, b 0.75) of each sentence for the query ``terms``, each term counted once.

    The sentences are indexed with the sparse store's BM25, so they are tokenised as the index
    is. A sentence with none of the terms scores zero.
    """
    index = BM25Index(method="lucene", k1=1.2, b=0.75)
    index.build(sentences)
    # Sorted: the float32 sum over terms must not depend on set order (string hashing varies by run).
    return index.term_scores(sorted(terms))


@lru_cache(maxsize=1)
def _question_stems() -> frozenset[str]:
    return frozenset(t for toks in tokenize(_QUESTION_WORDS.split()) for t in toks)
