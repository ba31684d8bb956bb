"""The model-free ``extract`` chain: quote the sentences of the retrieved chunks that answer the question.

First the refusal decision (:func:`ragkit.generation.refusal.assess_support`): when the sources do
not hold the answer, the chain says so and lists no sources. Otherwise the quotable pieces of the
chunks (sentences and table rows, never a heading alone; :mod:`ragkit.generation.sentences`) are
ranked by how well they answer: the weighted share of the question's terms they hold, a bonus when
they hold the kind of thing asked for (a number for "how much", a percentage for "by what
percentage", a year for "when") that the question does not already give, a damping when they are
about another year than the one asked (their text, their row's period and their file's name name
years, none of them the question's), and BM25 to break ties. The best piece comes first; a table row
is quoted with the period header of its column, so a figure keeps its period.
"""

from __future__ import annotations

import re
from itertools import zip_longest
from typing import Callable, Sequence

import numpy as np

from ragkit.embedders.base import RagkitEmbeddings
from ragkit.generation.answer import Answer, number_sources
from ragkit.generation.citations import NO_ANSWER
from ragkit.generation.meaning import best_similarity
from ragkit.generation.refusal import (
    SUPPORT_THRESHOLD,
    Support,
    assess_support,
    coverage,
    locator_terms,
    question_terms,
    term_weights,
)
from ragkit.generation.sentences import Piece, is_heading, quotable_pieces
from ragkit.retrieval.pipeline import Hit
from ragkit.retrieval.search import sentence_scores
from ragkit.text import tokenize

WINDOW_SHARE = 0.85
"""Coverage counted with the previous sentence's terms is discounted by this (the piece itself says less)."""
WEAK_QUOTES = 4
"""With weak support, up to this many pieces are quoted, in turn the best by the question's words and the closest in
meaning (benchmarks/own_words.py, calibration halves: paraphrased PDF questions found 0.40 -> 0.52 against 3 by words
alone; the strongly supported answers of the grounded sets unchanged)."""
FOLLOW_SHARE = 0.6
"""A piece after the first is quoted only when its rank is at least this share of the best one's."""
_WANTS_NUMBER = re.compile(r"\bhow (?:much|many|long|large|old|big|far|often)\b|\bwhat (?:percentage|share|amount|"
                           r"number|rate|total|fine|value)\b|\bby (?:how much|what)\b|\bat least how\b|"
                           r"\b(?:sales|revenues?|income|earnings|expenses?|costs?|margin|cash|price|value|score|size|count)\b", re.I)
_WANTS_YEAR = re.compile(r"\bwhen\b|\b(?:what|which) year\b|\bby when\b", re.I)
_WANTS_PERCENT = re.compile(r"\bpercent(?:age)?\b|%", re.I)
_PERCENT = re.compile(r"\d%|\bpercent\b", re.I)
LOCATOR_WEIGHT = 0.25
"""Weight kept by the terms of a phrase that says where to look ("in the Q3 2022 10-Q"): not what is asked."""
OTHER_PERIOD = 0.6
"""A piece that names years, none of them a year the question asks about, is about another period: damped by this."""
_NUMBER = re.compile(r"\d[\d,.]*")
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


def extract_answer(question: str, chunks: Sequence[Hit], max_sentences: int = 3,
                   threshold: float = SUPPORT_THRESHOLD, in_corpus: Callable[[str], bool] | None = None,
                   embedder: RagkitEmbeddings | None = None) -> Answer:
    """The model-free chain: quote the pieces that best answer ``question``, each with its ``[n]``.

    :func:`assess_support` decides first (``in_corpus``, term -> whether the index holds it, and
    ``embedder``, for names said in other words, are handed to it): ``none`` refuses
    (:data:`NO_ANSWER`, no sources listed); ``strong`` quotes the best pieces by the question's words;
    ``weak`` quotes up to :data:`WEAK_QUOTES` pieces, in turn the best by words and the closest in meaning
    (with ``embedder``; without one, the top source's first pieces), and the answer says its support is weak.
    """
    sources = number_sources(chunks)
    support = assess_support(question, sources, threshold, in_corpus, embedder)
    candidates = [(s.n, piece) for s in sources for piece in quotable_pieces(s.text, s.header)]
    names = {s.n: s.source for s in sources}
    if support.level == "weak":
        # Unsure: more evidence, chosen two ways — by the question's words and by meaning (other words).
        picked = _interleaved(_best_pieces(question, candidates, WEAK_QUOTES, names),
                              closest_pieces(question, candidates, WEAK_QUOTES, embedder), WEAK_QUOTES)
    else:
        picked = _best_pieces(question, candidates, max_sentences, names) if support.answerable else []
    if not picked:
        return refusal(support, threshold)
    # A quote is the document's text, brackets and all (a paper's own "[12]", code's options[1]): ours
    # stand outside the quotes, and Answer.citations lists them, so nothing downstream parses the quote.
    text = "\n".join(_quote(piece, n) for n, piece in picked)
    answer = Answer(text, list(dict.fromkeys(n for n, _ in picked)), sources, 0, False, "extract", 0,
                    answered_by="extract")
    return with_support(answer, support)


def _interleaved(first: list[tuple[int, Piece]], second: list[tuple[int, Piece]], limit: int) -> list[tuple[int, Piece]]:
    """Pieces taken in turn from ``first`` and ``second``, each text once, at most ``limit``."""
    picked, seen = [], set()
    for pair in (p for pair in zip_longest(first, second) for p in pair if p is not None):
        key = " ".join(pair[1].text.lower().split())
        if key not in seen and len(picked) < limit:
            seen.add(key)
            picked.append(pair)
    return picked


def with_support(answer: Answer, support: Support) -> Answer:
    """``answer`` carrying the support decision: its level, and for weak support the reason, also as a note."""
    answer.support, answer.support_reason = support.level, support.reason
    if support.level == "weak":
        answer.notes.append(f"weak support: {support.reason}; check the quoted sources")
    return answer


def refusal(support: Support, threshold: float = SUPPORT_THRESHOLD, chain: str = "extract") -> Answer:
    """The answer that says the sources do not hold one: no sources listed, a note giving the reason."""
    reason = support.reason or f"support {support.score:.2f} < {threshold:.2f}"
    answer = Answer(NO_ANSWER, [], [], 0, True, chain, 0, [f"the sources do not hold the answer ({reason})"],
                    answered_by="extract")
    answer.support, answer.support_reason = "none", reason
    return answer


def closest_pieces(question: str, candidates: list[tuple[int, Piece]], limit: int,
                   embedder: RagkitEmbeddings | None) -> list[tuple[int, Piece]]:
    """The ``limit`` quotable pieces closest in meaning to ``question`` (with ``embedder``), best first, headings
    and duplicates left out; without an embedder, the first such pieces of the best-ranked source."""
    usable = [(n, p) for n, p in candidates if p.row or not is_heading(p.text)]
    if embedder is None or not usable:
        first = min((n for n, _ in usable), default=None)
        return [(n, p) for n, p in usable if n == first][:limit]
    similarity = best_similarity(question, [f"{p.text} {p.period}" for _, p in usable], embedder)
    picked, seen = [], set()
    for i in np.argsort(-similarity, kind="stable"):
        key = " ".join(usable[i][1].text.lower().split())
        if key not in seen:
            seen.add(key)
            picked.append(usable[i])
        if len(picked) == limit:
            break
    return picked


def _quote(piece: Piece, n: int) -> str:
    period = f" ({piece.period})" if piece.row and piece.period else ""
    return f'"{" ".join(piece.text.split())}"{period} [{n}]'


def _best_pieces(question: str, candidates: list[tuple[int, Piece]], limit: int,
                 names: dict[int, str] | None = None) -> list[tuple[int, Piece]]:
    """The top ``limit`` candidates by answer rank, duplicates (overlapping chunks) once, best first."""
    terms = question_terms(question)
    if not candidates or not terms:
        return []
    ranks = answer_ranks(question, terms, [piece for _, piece in candidates], [n for n, _ in candidates],
                         [(names or {}).get(n, "") for n, _ in candidates])
    picked: list[tuple[int, Piece]] = []
    seen: set[str] = set()
    order = sorted(range(len(candidates)), key=lambda i: (-ranks[i], i))
    best = ranks[order[0]]
    for i in order:
        if ranks[i] <= 0 or len(picked) >= limit or ranks[i] < FOLLOW_SHARE * best:
            break
        key = " ".join(candidates[i][1].text.lower().split())
        if key not in seen:
            seen.add(key)
            picked.append(candidates[i])
    return picked


def answer_ranks(question: str, terms: list[str], pieces: list[Piece], groups: Sequence[int] | None = None,
                 names: Sequence[str] | None = None) -> np.ndarray:
    """How well each piece answers: term coverage, the asked-for kind of value, the asked-for year, BM25 as
    tie-break; 0 = no match.

    Coverage also counts, slightly discounted, the terms of the two pieces before it in the same source
    (``groups``: each piece's source number), so "The usual default is b = 0.75." is found by a
    question whose subject the previous sentence names. ``names`` (each piece's file name) count as the
    piece's years: a filing's sentences leave its own period implicit ("up $95 million from Q3 2022").
    """
    tokens = tokenize([f"{p.text} {p.period}" for p in pieces])
    weights = term_weights(terms, tokens)
    for term in set(locator_terms(question)) & set(weights):
        weights[term] *= LOCATOR_WEIGHT
    bm25 = sentence_scores(set(terms), [p.text for p in pieces])
    top = float(bm25.max()) if len(bm25) else 0.0
    wants_number, wants_year = bool(_WANTS_NUMBER.search(question)), bool(_WANTS_YEAR.search(question))
    given = set(_NUMBER.findall(question))
    asked_years = set(_YEAR.findall(question))
    wants_percent = bool(_WANTS_PERCENT.search(question))
    ranks = np.zeros(len(pieces))
    groups = list(groups) if groups is not None else [0] * len(pieces)
    for i, (piece, toks) in enumerate(zip(pieces, tokens)):
        present = set(toks)
        # A row's context is its label and period header, which it carries, not the rows above it.
        before = set() if piece.row else {t for j in (i - 2, i - 1) if j >= 0 and groups[j] == groups[i] for t in tokens[j]}
        cov = max(coverage(terms, present, weights), WINDOW_SHARE * coverage(terms, present | before, weights))
        if not present & set(terms):
            continue
        years = set(_YEAR.findall(piece.text)) - given
        values = set(_NUMBER.findall(piece.text)) - given - years   # a year is a period, not the figure asked for
        wanted_value = values and (not wants_percent or _PERCENT.search(piece.text))   # "by what percentage": a %
        bonus = 0.15 if (wants_number and wanted_value) or (wants_year and years) else 0.0
        piece_years = set(_YEAR.findall(f"{piece.text} {piece.period} {names[i] if names else ''}"))
        other_period = bool(asked_years and piece_years) and not piece_years & asked_years
        echo = len(present - set(terms)) < 2 and not values   # only the question's own words: says nothing new
        lead_in = piece.text.rstrip().endswith(":")   # "… were as follows (in millions):" introduces the answer
        damp = (0.5 if echo else 1.0) * (0.7 if lead_in else 1.0) * (OTHER_PERIOD if other_period else 1.0)
        ranks[i] = (0.7 * cov + 0.15 * (bm25[i] / top if top > 0 else 0.0) + bonus) * damp
    return ranks

