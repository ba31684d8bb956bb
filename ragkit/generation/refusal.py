"""Do the retrieved sources hold the answer? One decision every chain makes before it answers, in three outcomes.

Retrieval always returns something, so "the documents do not contain the answer" has to be decided,
and users ask in their own words: a question that shares few words with the page that answers it
is normal, not a sign that the answer is missing. So the decision has three outcomes
(:attr:`Support.level`):

- ``none`` (refuse) only on evidence of absence: a named thing of the question — a name, acronym,
  number or year — that the corpus never mentions (a name) or the sources do not hold (a number or
  year), and that no name of the sources matches in meaning (:mod:`ragkit.generation.meaning`:
  "Florida" is said as "FL", "Tesla" is not said at all); or a question with no searchable word;
- ``strong``: the best-matching sentence, with its two neighbours and its file's name, covers the
  question's content — its terms weighted by how rare they are among the retrieved sentences — at
  ``threshold`` or more, and holds the kind of value the question asks for
  (:mod:`ragkit.generation.answer_kinds`: a number for "how many", a date for "when");
- ``weak`` otherwise: the sources are quoted, marked as weak support, so the reader can check the
  page rather than be refused an answer the documents may hold in other words.

``score = coverage * MISSING_FACTOR ** missing``. The threshold was chosen on the calibration halves
of the grounded question set (``benchmarks/grounded/``); the closeness of names on the calibration
halves of the paraphrase sets (``benchmarks/paraphrase/``); never on the test halves.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Callable, Sequence

from ragkit.embedders.base import RagkitEmbeddings
from ragkit.generation.answer_kinds import asked_kind, counted_terms, holds_kind_near
from ragkit.generation.citations import Source
from ragkit.generation.meaning import best_similarity, said_otherwise
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
NEAR_TERMS = 2
"""A value must stand near one of the question's this many rarest terms (among the sources) to answer it."""
OFF_TOPIC_SIMILARITY = 0.25
"""With the bundled embedder: sources none of whose sentences is this close to the question (cosine) are about
something else. Below every answerable question of the calibration halves (lowest 0.34)."""
MISSING_FACTOR = 0.3
"""Each named thing of the question that no source mentions multiplies the score by this."""

_NAMED = re.compile(r"(?<![\w'])(?:[A-Z][\w&.'’-]*|\d[\d,.]*\d|\d{2,})")


LEVELS = ("strong", "weak", "none")
"""The outcomes of the support decision: answer, answer marked as weak support, refuse."""
KIND_NAMES = {"count": "number", "percent": "percentage", "date": "date", "person": "name", "any": "answer"}


@dataclass(frozen=True)
class Support:
    """How well the sources support answering: coverage, the named things missing, the score, the outcome.

    ``level`` is one of :data:`LEVELS`; ``answerable`` is ``level != "none"``; ``reason`` says in a
    few words why the level is not ``strong`` (empty when it is).
    """

    coverage: float
    missing: tuple[str, ...]
    score: float
    answerable: bool
    level: str = "strong"
    reason: str = ""


@lru_cache(maxsize=1)
def _question_stems() -> frozenset[str]:
    return frozenset(t for toks in tokenize(QUESTION_WORDS.split()) for t in toks)


def question_terms(question: str) -> list[str]:
    """The question's content terms as the index tokenises them, question words left out, each once."""
    return [t for t in dict.fromkeys(tokenize([question])[0]) if t not in _question_stems()]


def named_spans(question: str) -> list[tuple[str, list[str]]]:
    """The question's names, acronyms, numbers and years (capitalised after its first word): each run of them as
    written ("Super Bowl", "Q3 2022") with its index terms."""
    spans: list[tuple[str, list[str]]] = []
    words, run = question.split(), []
    for i, word in enumerate(words + [""]):
        matches = [m.group() for m in _NAMED.finditer(word)]
        if i == 0 and matches and not matches[0][:1].isdigit() and not matches[0].isupper():
            matches = []   # the question's first word is capitalised anyway
        if matches:
            run += matches
            continue
        if run:
            terms = [t for text in run for t in tokenize([text])[0] if t not in _question_stems()]
            if terms:
                spans.append((" ".join(run).strip(" ?.,;:!'’"), list(dict.fromkeys(terms))))
            run = []
    return spans


def named_terms(question: str) -> list[str]:
    """The question's names, acronyms, numbers and years (capitalised after its first word), as index terms."""
    return list(dict.fromkeys(t for _, terms in named_spans(question) for t in terms))


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
                   in_corpus: Callable[[str], bool] | None = None,
                   embedder: RagkitEmbeddings | None = None) -> Support:
    """Whether ``sources`` hold the answer to ``question``: strong, weak or none (see the module docstring).

    ``in_corpus(term)`` says whether an index term occurs anywhere in the corpus; without it, a
    named term counts as missing when the sources lack it. ``embedder`` (the bundled MiniLM, on
    whose scale the closeness of names is set) lets a name the sources say in other words count as
    present; without it, names are compared as terms only.
    """
    terms = question_terms(question)
    if not terms:
        return Support(0.0, (), 0.0, False, "none", "the question has no searchable words")
    if not sources:
        return Support(0.0, (), 0.0, False, "none", "nothing was retrieved")
    missing, unsourced = _missing(question, sources, in_corpus, embedder)
    windows, texts, pieces = _windows(sources)
    weights = term_weights(terms, [list(w) for w in windows])
    covered = [coverage(terms, w, weights) for w in windows]
    best = max(covered, default=0.0)
    score = best * MISSING_FACTOR ** len(missing + unsourced)
    kind, near = asked_kind(question), _near_terms(question, terms, windows)
    if missing:
        level, reason = "none", "not mentioned: " + ", ".join(missing)
    elif best < threshold and _off_topic(question, best, pieces, embedder):   # shared key words: on topic
        level, reason = "none", "nothing in the sources is about what the question asks"
    elif unsourced:
        level, reason = "weak", "the sources do not mention " + ", ".join(unsourced)
    elif best < threshold:
        level, reason = "weak", f"the best-matching sentence holds {best:.0%} of the question's key words"
    elif not any(c >= threshold and all(holds_kind_near(t, kind, group) for group in near)
                 for c, t in zip(covered, texts)):
        level, reason = "weak", f"no matching sentence gives the {KIND_NAMES[kind]} asked for"
    else:
        level, reason = "strong", ""
    return Support(round(best, 4), missing + unsourced, round(score, 4), level != "none", level, reason)


def _off_topic(question: str, best: float, pieces: list[str], embedder: RagkitEmbeddings | None) -> bool:
    """No sentence of the sources is about the question: none is close in meaning (with ``embedder``), or,
    without one, none shares a term with it."""
    if embedder is None:
        return best == 0
    return float(best_similarity(question, pieces, embedder).max(initial=0.0)) < OFF_TOPIC_SIMILARITY


def _near_terms(question: str, terms: list[str], windows: list[set[str]]) -> list[list[str]]:
    """What a value must stand near to answer the question, as groups (near one term of each): each term of
    what "how many" counts, when it says; else one of the question's terms that at most half of the windows
    hold, the rarest :data:`NEAR_TERMS` ("NARA" in NARA's own plan says nothing about which number is meant)."""
    counted = [t for t in counted_terms(question) if t in terms]
    if counted:
        return [[t] for t in counted]
    held = {t: sum(t in w for w in windows) for t in terms}
    rare = sorted((t for t in terms if 0 < held[t] <= len(windows) / 2), key=held.get)[:NEAR_TERMS]
    return [rare or terms]


def _missing(question: str, sources: Sequence[Source], in_corpus: Callable[[str], bool] | None,
             embedder: RagkitEmbeddings | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The question's named terms that nothing holds, and those only the sources lack.

    Missing (a refusal): a name the corpus lacks (when ``in_corpus`` can tell; else the sources) and that no
    name of the sources is close to in meaning (with ``embedder``); a number or year no source holds and
    the corpus lacks. Unsourced (weak support): a number or year the corpus holds but these sources do
    not — the figure "as of 2012" is not on a page about 2023, yet retrieval may have missed the page.
    """
    everything = set(tokenize([" ".join(f"{s.source} {s.text}" for s in sources)])[0])
    lacking = [(span, [t for t in span_terms if t not in everything and not (in_corpus and in_corpus(t))])
               for span, span_terms in named_spans(question)]
    lacking = [(span, found) for span, found in lacking if found]
    if embedder is not None:
        names = [span for span, found in lacking if not any(t[:1].isdigit() for t in found)]
        close = said_otherwise(names, [s.text for s in sources], [s.source for s in sources], embedder)
        lacking = [(span, found) for span, found in lacking if span not in close]
    missing = tuple(dict.fromkeys(t for _, found in lacking for t in found))
    unsourced = tuple(t for _, terms in named_spans(question) for t in dict.fromkeys(terms)
                      if t[:1].isdigit() and t not in everything and t not in missing)
    return missing, tuple(dict.fromkeys(unsourced))


def _windows(sources: Sequence[Source]) -> tuple[list[set[str]], list[str], list[str]]:
    """Each quotable piece of the sources with its two neighbours, as terms (with its file's name) and as text;
    and each piece alone, as text (its row's period added), as extract quotes it."""
    windows: list[set[str]] = []
    texts: list[str] = []
    alone: list[str] = []
    for source in sources:
        named = set(tokenize([PurePosixPath(source.source).stem])[0])   # "the field notes" names the file
        pieces = quotable_pieces(source.text, source.header)
        terms = [set(toks) | named for toks in tokenize([p.text + " " + p.period for p in pieces])]
        # A sentence with its neighbours: its subject is often named the sentence before ("BM25's length
        # parameter b …. The usual default is b = 0.75."), its qualifier the sentence after.
        edge: list[set[str]] = [set()]
        windows += [a | b | c for a, b, c in zip(edge + terms[:-1], terms, terms[1:] + edge)]
        plain = [f"{p.text} {p.period}" for p in pieces]
        texts += [" ".join(three) for three in zip([""] + plain[:-1], plain, plain[1:] + [""])]
        alone += plain
    return windows, texts, alone
