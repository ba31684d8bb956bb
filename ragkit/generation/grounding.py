"""Is a model's answer an answer at all? Detects the ways a tiny model fails, so the chain can fall back.

The bundled 135M model, asked to answer from sources, often writes the prompt back ("Question: …
Answer to question using only sources in context above."), loops on one phrase, or writes
something that shares nothing with the sources. :func:`unusable_reason` names which; the chains
then quote the sources with the model-free extract chain instead of printing it.

Words are compared as BM25 sees them (lowercase, stemmed, stopwords dropped), so "sources" in an
answer matches "source" in the prompt. The checks are conservative: a short answer, a refusal and
an answer that adds even a few words found in the sources pass.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Sequence

from ragkit.generation.citations import NO_ANSWER, Source, is_refusal, strip_citations
from ragkit.generation.prompts import (
    MAP_SYSTEM,
    MAP_TASK,
    REDUCE_SYSTEM,
    REDUCE_TASK,
    REFINE_TASK,
    STUFF_TASK,
    SYSTEM,
)
from ragkit.text import tokenize

LOOP_NGRAM = 4          # words in a phrase that, repeated ...
LOOP_REPEATS = 3        # ... this many times, is a loop
MIN_ECHOED_WORDS = 2    # prompt words (not in the question) an answer made of nothing else must hold to be an echo
MIN_NOVEL_WORDS = 3     # below this many words of its own, an answer is too short to judge by overlap
MIN_GROUNDED_SHARE = 0.2  # of the answer's own words, at least this share must appear in the sources


def unusable_reason(text: str, question: str, sources: Sequence[Source], *, overlap: bool = True) -> str | None:
    """Why ``text`` is not a usable answer to ``question`` from ``sources``, or None when it may be one.

    Reasons: it repeats a phrase (a loop); it only restates the question and the prompt's
    instructions (an echo); or the words it adds appear nowhere in the sources (no overlap; skipped when
    ``overlap`` is False, for a caller that compares meaning instead).
    """
    plain = " ".join(strip_citations(text or "").split())
    if not plain or is_refusal(plain):
        return None
    if _loops(plain):
        return "it repeats itself"
    words = set(terms(plain))
    asked = set(terms(question))
    novel = words - asked - instruction_terms()
    if not novel and len(words & (instruction_terms() - asked)) >= MIN_ECHOED_WORDS:
        return "it only echoes the question and the prompt"
    grounded = novel & set(terms(" ".join(s.text for s in sources)))
    if overlap and len(novel) >= MIN_NOVEL_WORDS and len(grounded) < MIN_GROUNDED_SHARE * len(novel):
        return "it has almost nothing in common with the sources"
    return None


def _loops(text: str) -> bool:
    """A phrase of :data:`LOOP_NGRAM` words occurring :data:`LOOP_REPEATS` times or more."""
    words = re.findall(r"\w+", text.lower())
    grams = Counter(tuple(words[i:i + LOOP_NGRAM]) for i in range(len(words) - LOOP_NGRAM + 1))
    return bool(grams) and max(grams.values()) >= LOOP_REPEATS


def terms(text: str) -> list[str]:
    """``text``'s index terms (lowercase, stemmed, stopwords dropped), as BM25 sees them."""
    return tokenize([text])[0] if text.strip() else []


@lru_cache(maxsize=1)
def instruction_terms() -> frozenset[str]:
    """The words of every chain prompt's instructions, without the refusal sentence they quote."""
    texts = (SYSTEM, STUFF_TASK, REFINE_TASK, MAP_SYSTEM, MAP_TASK, REDUCE_SYSTEM, REDUCE_TASK)
    # "Question:" labels the question in every prompt; a reply that starts with it is echoing.
    joined = " ".join(t.replace(NO_ANSWER, " ") for t in texts) + " question"
    return frozenset(terms(re.sub(r"\{\w+\}", " ", joined)))
