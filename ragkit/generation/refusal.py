"""Do the retrieved sources hold the answer? One decision every chain can make before it answers.

Retrieval always returns something, so "the documents do not contain the answer" has to be
decided. Two signals, both model-free and cheap:

- **named things the corpus never mentions**: a question about Tesla, 1979 or the Library of
  Congress, when no retrieved chunk has that name, number or year — nor, when the caller can tell
  (``in_corpus``), any chunk of the index — asks for something else. A name the index holds
  elsewhere ("Amazon", where a filing says "we") is a retrieval question, not a refusal; a number
  or year must be in the sources themselves;
- **coverage**: how much of the question's content (its terms weighted by how rare they are
  among the retrieved sentences) the best-matching sentence, its two neighbours and its file's name
  hold.

``score = coverage * MISSING_FACTOR ** missing`` and the question is answerable when
``score >= threshold``. The threshold is chosen on the calibration halves of the grounded
question set (``benchmarks/grounded/``, see ``benchmarks/grounded/calibrate.py``), never on the
test halves.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Callable, Sequence

from ragkit.generation.citations import Source
from ragkit.generation.sentences import quotable_pieces
from ragkit.text import tokenize

# Words that make up the question's form, not its subject (bm25s's English stopword list is short
# and keeps "what", "how", "does", ...).
QUESTION_WORDS = ("what which who whom whose when where why how do does did can could should would "
                  "shall may might must tell me explain describe give please i you we my our your us "
                  "much many it its stand abbreviation acronym")  # "what does HyDE stand for": form, not subject

SUPPORT_THRESHOLD = 0.43
"""Default decision threshold on :attr:`Support.score`: benchmarks/grounded/run.py chose 0.4335 on the 38
calibration questions (best balanced refusal accuracy, the lowest such threshold: the midpoint of the
nearest calibration scores, 0.390 unanswerable below and 0.477 answerable above)."""
MISSING_FACTOR = 0.3
"""Each named thing of the question that no source mentions multiplies the score by this."""

_NAMED = re.compile(r"(?<![\w'])(?:[A-Z][\w&.'’-]*|\d[\d,.]*\d|\d{2,})")


@dataclass(frozen=True)
class Support:
    """How well the sources support answering: coverage, the named things missing, the score and the verdict."""

    coverage: float
    missing: tuple[str, ...]
    score: float
    answerable: bool


@lru_cache(maxsize=1)
def _question_stems() -> frozenset[str]:
    return frozenset(t for toks in tokenize(QUESTION_WORDS.split()) for t in toks)


def question_terms(question: str) -> list[str]:
    """The question's content terms as the index tokenises them, question words left out, each once."""
    return [t for t in dict.fromkeys(tokenize([question])[0]) if t not in _question_stems()]


def named_terms(question: str) -> list[str]:
    """The question's names, acronyms, numbers and years (capitalised after its first word), as index terms."""
    words = question.split()
    found: list[str] = []
    for i, word in enumerate(words):
        for match in _NAMED.finditer(word):
            text = match.group()
            if i == 0 and not text[:1].isdigit() and not text.isupper():
                continue  # the question's first word is capitalised anyway
            found += tokenize([text])[0]
    return [t for t in dict.fromkeys(found) if t not in _question_stems()]


_DOCUMENT_NOUN = r"(?:10-?[qk]s?|reports?|filings?|documents?|papers?|notes|statements?|articles?|files?)"
_LOCATOR = re.compile(r"\b(?:in|from|according to|per|as (?:reported|stated|revealed|disclosed|mentioned|shown) in)\s+"
                      r"(?:(?:the|its|their|this|these|that|a|an|[\w'’-]+'s)\s+)?(?:[\w'’-]+\s+){0,3}?"
                      + _DOCUMENT_NOUN + r"\b(?:\s+report)?", re.I)


def locator_terms(question: str) -> list[str]:
    """Terms of the phrases that say where to look, not what is asked ("in the Q3 2022 10-Q", "in its latest
    report"): retrieval needs them, the answering sentence does not repeat them."""
    found = [t for match in _LOCATOR.finditer(question) for t in tokenize([match.group()])[0]]
    return [t for t in dict.fromkeys(found) if t not in _question_stems()]


def term_weights(terms: Sequence[str], texts: Sequence[Sequence[str]]) -> dict[str, float]:
    """IDF of each term over ``texts`` (token lists), smoothed so an unseen term weighs most."""
    n = len(texts)
    return {t: math.log(1 + (n + 1) / (1 + sum(1 for toks in texts if t in toks))) for t in terms}


def coverage(terms: Sequence[str], tokens: set[str], weights: dict[str, float]) -> float:
    """Weighted share of ``terms`` present in ``tokens`` (0 when there are no terms)."""
    total = sum(weights[t] for t in terms)
    return sum(weights[t] for t in terms if t in tokens) / total if total else 0.0


def assess_support(question: str, sources: Sequence[Source], threshold: float = SUPPORT_THRESHOLD,
                   in_corpus: Callable[[str], bool] | None = None) -> Support:
    """Whether ``sources`` are likely to hold the answer to ``question`` (see the module docstring).

    ``in_corpus(term)`` says whether an index term occurs anywhere in the corpus; without it, a
    named term counts as missing when the sources lack it.
    """
    terms = question_terms(question)
    if not terms or not sources:
        return Support(0.0, (), 0.0, False)
    everything = set(tokenize([" ".join(f"{s.source} {s.text}" for s in sources)])[0])
    # A number or year must be in the sources themselves: a figure "as of 2012" cannot come from a page on 2023.
    missing = tuple(t for t in named_terms(question) if t not in everything
                    and (t[:1].isdigit() or not (in_corpus and in_corpus(t))))
    windows: list[set[str]] = []
    for source in sources:
        named = set(tokenize([PurePosixPath(source.source).stem])[0])   # "the field notes" names the file
        pieces = [set(toks) | named for toks in tokenize([p.text + " " + p.period for p in quotable_pieces(source.text, source.header)])]
        # A sentence with its neighbours: its subject is often named the sentence before ("BM25's length
        # parameter b …. The usual default is b = 0.75."), its qualifier the sentence after.
        edge: list[set[str]] = [set()]
        windows += [a | b | c for a, b, c in zip(edge + pieces[:-1], pieces, pieces[1:] + edge)]
    weights = term_weights(terms, [list(w) for w in windows])
    best = max((coverage(terms, w, weights) for w in windows), default=0.0)
    score = best * MISSING_FACTOR ** len(missing)
    return Support(round(best, 4), missing, round(score, 4), score >= threshold)
