"""What kind of value a question asks for, and whether a piece of text holds one.

"How many employees work at the agency?" asks for a count; a page that discusses the agency's
employees at length but gives no number does not answer it, however well its words match. The
support decision (:mod:`ragkit.generation.refusal`) calls an answer *strong* only when the
best-matching text holds the kind of value asked for. English question forms only; a question
of another form asks for ``any`` kind, which every text holds.
"""

from __future__ import annotations

import re
from typing import Collection

from ragkit.text import tokenize

KINDS = ("count", "percent", "date", "person", "any")

_NUMBER_WORDS = (r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|hundreds?|thousands?|"
                 r"millions?|billions?|half|twice|double")
_ASKS = (
    ("percent", re.compile(r"\b(?:percent(?:age)?|proportion|what share|what fraction|what portion)\b|%", re.I)),
    ("count", re.compile(r"\bhow (?:many|much|long|large|old|big|far|often|fast|steeply|high|low|heavy|tall|wide)\b|"
                         r"\bnumber of\b|\bwhat (?:amount|total|value|price|fine|cost|size|count|sum|figure)\b|"
                         r"\bby how much\b|\bwhat (?:was|were|is|are)\b.*\b(?:revenues?|sales|income|profits?|loss(?:es)?|"
                         r"costs?|expenses?|spending|price|headcount|amount)\b", re.I)),
    # Not a bare "when": "when does a cat hunt?" is answered by "at night".
    ("date", re.compile(r"\b(?:what|which) (?:year|date|day|month|quarter)\b|\bby when\b|\bdeadline\b|"
                        r"\bin what year\b|\bon what date\b", re.I)),
    ("person", re.compile(r"^\s*who\b|\bwho (?:is|was|are|were|heads|leads|led|signed|wrote|made|built)\b", re.I)),
)
_HOLDS = {
    "percent": re.compile(r"\d\s?%|\bper\s?cent\b|\bpercent(?:age)? points?\b", re.I),
    "count": re.compile(rf"(?<![\w.])\d[\d,.]*|\b(?:{_NUMBER_WORDS})\b", re.I),
    "date": re.compile(r"\b(?:19|20)\d\d\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d|"
                       r"\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b(?:fy|fiscal(?: year)?|q[1-4])\s?'?\d{2,4}\b", re.I),
    # Two capitalised words in a row ("Robin Carnahan", "Robert J Gretz"), or an initial and a name.
    "person": re.compile(r"\b[A-Z][a-z'’-]+\s+(?:[A-Z]\.?\s+)?[A-Z][a-z'’-]+|\b[A-Z]\.\s?[A-Z][a-z]+"),
}


_COUNTED = re.compile(r"\bhow many\s+((?:[\w'’-]+\s+){0,3}?[\w'’-]+?)(?=\s+(?:did|does|do|is|are|was|were|has|have|had|will|"
                      r"would|can|could|of|in|at|on|for|from|by|with|under|during|to|per)\b|[?,.]|$)", re.I)


def counted_terms(question: str) -> list[str]:
    """The index terms of what "how many …" counts ("How many Presidential Libraries does …" -> the terms of
    "Presidential Libraries"); empty for other questions."""
    match = _COUNTED.search(question)
    return tokenize([match.group(1)])[0] if match else []


def asked_kind(question: str) -> str:
    """The kind of value ``question`` asks for: one of :data:`KINDS` (``any`` when its form does not say)."""
    for kind, pattern in _ASKS:
        if pattern.search(question):
            return kind
    return "any"


REACH = 8
"""A value answers a question about a thing only within this many words of the thing's name."""
_PERCENT_AFTER = re.compile(r"\s?(?:%|per\s?cent)", re.I)
_YEAR = re.compile(r"(?:19|20)\d\d")
_MONTH_BEFORE = re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+$", re.I)   # "July 1": a date


def holds_kind(text: str, kind: str) -> bool:
    """Whether ``text`` holds a value of ``kind`` (a percentage, a number, a date, a person's name; ``any``: always)."""
    pattern = _HOLDS.get(kind)
    return True if pattern is None else bool(pattern.search(text))


def holds_kind_near(text: str, kind: str, terms: Collection[str], reach: int = REACH) -> bool:
    """Whether ``text`` holds a value of ``kind`` within ``reach`` words of one of ``terms`` (index terms).

    "How many employees …" is answered by "about 3,400 employees", not by a page where employees are
    discussed and "50 percent" appears elsewhere: a count is a number that is neither a percentage
    nor a year alone, nor a date's day. ``any`` needs no nearness.
    """
    pattern = _HOLDS.get(kind)
    if pattern is None:
        return holds_kind(text, kind)
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    if not words:
        return False
    tokens = tokenize([text[a:b] for a, b in words])
    near = [i for i, toks in enumerate(tokens) if set(toks) & set(terms)]
    if not near:
        return False
    starts = [a for a, _ in words]
    for match in pattern.finditer(text):
        value = match.group().rstrip(",.")
        if kind == "count" and (_PERCENT_AFTER.match(text, match.end()) or _YEAR.fullmatch(value)
                                or _MONTH_BEFORE.search(text, 0, match.start())):
            continue
        at = max(0, _word_at(starts, match.start()))
        if any(abs(at - i) <= reach for i in near):
            return True
    return False


def _word_at(starts: list[int], offset: int) -> int:
    """The index of the word that holds character ``offset`` (``starts``: each word's first character)."""
    low, high = 0, len(starts) - 1
    while low < high:
        mid = (low + high + 1) // 2
        if starts[mid] <= offset:
            low = mid
        else:
            high = mid - 1
    return low
