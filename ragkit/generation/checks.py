"""The reader's checks: is a model's text an answer that may be shown? One reason when it is not.

A reader handed an answer with numbered sources would reject it when it: holds markup or tags
from the prompt (``<source id="5" ref=…>``, ``</pre>``, ``‹textarea``); leaves a placeholder where
a claim or a citation should be (``[n]``, "… was [1]."); loops; only echoes the question or the
prompt; cites no source it was given; or cites a source that does not say what the sentence says.
:func:`answer_problem` applies them in that order. The last check compares each cited sentence with
the chunks it cites: in meaning, with the bundled MiniLM embedder (its cosine scale is where
:data:`CITED_CLOSENESS` was chosen), otherwise by words (it must share content words with them).
Numbers are checked by text in both cases: a figure the answer states must be in its sources.

A refusal passes (it claims nothing); the chains turn a refusal of supported sources into a
fallback themselves.
"""

from __future__ import annotations

import re
from typing import Sequence

from ragkit.embedders.base import RagkitEmbeddings
from ragkit.generation.citations import Source, has_content, is_refusal, strip_citations
from ragkit.generation.grounding import MIN_NOVEL_WORDS, instruction_terms, terms, unusable_reason
from ragkit.generation.meaning import best_similarity
from ragkit.generation.sentences import quotable_pieces

CITED_CLOSENESS = 0.4
"""A cited sentence and the closest piece of the chunks it cites must be at least this close (MiniLM cosine). Right
citations, copied or paraphrased, scored 0.6-0.85 on the test sentences and the recorded SmolLM2 answers
(tests/data/smollm2_answers.json); a sentence citing an unrelated chunk 0.2-0.35."""
PARAPHRASE_CLOSENESS = 0.5
"""The closeness asked of a cited sentence that shares no word with the chunks it cites (all in other words)."""
WRONG_SOURCE_MARGIN = 0.15
"""A cited sentence this much closer to a source it does not cite than to the ones it cites cites the wrong one."""
CITED_SHARE = 0.2
"""Without the embedder: of a cited sentence's own words (not the question's), at least this share must be in the
chunks it cites (the same share :mod:`ragkit.generation.grounding` asks of a whole answer against all sources)."""

_TAGS = ("context", "sources?", "notes?", "current_answer", "question", "pre", "code", "textarea", "div", "span",
         "html", "body", "script", "style", "table", "tr", "td", "th", "ul", "ol", "li", "h[1-6]", "img", "input",
         "form", "iframe", "em", "strong", "br", "hr", "p", "a", "b", "i")
# "<" as typed, the "‹" a model writes for it, and "&lt;", the escaped form the prompt holds. Single letters only
# with ">" or an attribute after them: "a<b" in a formula is no tag.
_MARKUP = re.compile(r"(?:<|‹|&lt;)\s*/?\s*(?:(?:%s)(?=[\s>/=])|(?:%s)\b)"
                     % ("|".join(t for t in _TAGS if len(t) == 1), "|".join(t for t in _TAGS if len(t) > 1)), re.I)
_PLACEHOLDER = re.compile(r"\[\s*(?:n|x|k|i|j|m|id|num|number|no\.?|#|source(?:\s*(?:id|n|number))?|citation|cite|"
                          r"ref|\.\.\.|…|\?)\s*\]", re.I)
# A citation standing where the claim should be: "The probable cause was [1]."
_DANGLING = re.compile(r"\b(?:is|was|are|were|be|been|being|of|the|a|an|to|by|in|on|at|for|with|and|or|from|as|"
                       r"than|that|about|into|per|include|includes|including)\s*$", re.I)
_CITATION = re.compile(r"\[\s*\d+(?:\s*[,;\-–]\s*\d+)*\s*\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<!\b\d\.)(?<!\b\d\d\.)\s+|\n+")   # not after a list's "1."
_LETTER_RUN = re.compile(r"([A-Za-z]{2,12})\1{3,}")   # "RAMRAMRAMRAM"
_NUMBER = re.compile(r"(?<![\w.\[])\d[\d,]*(?:\.\d+)?(?![\w\]])")
_ENUMERATOR = re.compile(r"^\s*\d{1,2}[.)]\s+")   # "1. The first step …": a list's number, not a figure
REPEATED_SENTENCE_WORDS = 5
"""A sentence of at least this many words written twice is a loop."""


def answer_problem(text: str, question: str, sources: Sequence[Source], citations: Sequence[int], *,
                   model_text: str = "", embedder: RagkitEmbeddings | None = None) -> str | None:
    """Why ``text`` (a chain's cleaned answer citing ``citations`` of ``sources``) must not be shown, or None.

    ``model_text`` is what the model wrote before cleaning (markup and citation-only replies are seen there);
    ``embedder`` is the bundled MiniLM (meaning checks) or None (word checks).
    """
    raw = model_text or text
    markup = _MARKUP.search(raw) or _MARKUP.search(text)
    if markup:
        return f"it holds markup from the prompt ({markup.group().strip()!r})"
    if raw.strip() and not has_content(raw) and _CITATION.search(raw):
        return "it is a citation with no answer"
    if is_refusal(text):
        return None
    placeholder = _placeholder(text)
    if placeholder:
        return placeholder
    if _LETTER_RUN.search(text) or _repeated_sentence(text):
        return "it repeats itself"
    figure = _unheld_figure(text, question, sources)
    if figure is not None:
        return f"it states {figure}, which its sources do not hold"
    reason = unusable_reason(text, question, sources, overlap=embedder is None)
    if reason is not None:
        return reason
    if embedder is not None and sources and _closest(strip_citations(text), list(sources), embedder) < CITED_CLOSENESS:
        return "it has almost nothing in common with the sources"
    plain = set(terms(strip_citations(text)))
    if plain and not plain - set(terms(question)) - instruction_terms():
        return "it only repeats the question"
    if not citations:
        return "it cites no source"
    return _unsupported(text, question, sources, embedder)


def _placeholder(text: str) -> str | None:
    found = _PLACEHOLDER.search(text)
    if found:
        return f"it holds a placeholder ({found.group()}) instead of a citation"
    for sentence in split_answer(text):
        if _CITATION.search(sentence) and _DANGLING.search(strip_citations(sentence).strip().rstrip(".!?:;,")):
            return "a citation stands where the claim should be"
    return None


def split_answer(text: str) -> list[str]:
    """The sentences of an answer, each with the citations that follow it ("Claim. [1] Next [2]." -> two)."""
    parts = [p.strip() for p in _SENTENCE_END.split(text) if p.strip()]
    out: list[str] = []
    for part in parts:
        lead = re.match(r"^(?:\s*\[\s*\d[^\]]*\])+", part)
        if lead and out:   # citations that open a part belong to the sentence before it
            out[-1] = f"{out[-1]} {lead.group().strip()}"
            part = part[lead.end():].strip()
        if part:
            out.append(part)
    return out


def _repeated_sentence(text: str) -> bool:
    seen: set[str] = set()
    for sentence in split_answer(text):
        key = " ".join(re.findall(r"\w+", strip_citations(sentence).lower()))
        if len(key.split()) >= REPEATED_SENTENCE_WORDS:
            if key in seen:
                return True
            seen.add(key)
    return False


def _cited(sentence: str) -> list[int]:
    return [int(n) for group in _CITATION.findall(sentence) for n in re.findall(r"\d+", group)]


def _unsupported(text: str, question: str, sources: Sequence[Source], embedder: RagkitEmbeddings | None) -> str | None:
    """The first sentence whose cited chunks do not say what it says (or whose figures no source holds)."""
    by_number = {s.n: s for s in sources}
    asked = set(terms(question))
    for sentence in split_answer(text):
        plain = " ".join(strip_citations(sentence).split())
        cited = [by_number[n] for n in _cited(sentence) if n in by_number]
        if not cited:
            continue
        held = " ".join(s.text for s in cited)
        own = set(terms(plain)) - instruction_terms()
        if not own:
            continue
        label = "".join(f"[{s.n}]" for s in cited)
        chunk = set(terms(held))
        if len(own) >= 2 and not own & chunk and embedder is None:
            return f"a sentence citing {label} shares no words with {label}"
        if embedder is not None:
            reason = _meaning_problem(plain, cited, [s for s in sources if s not in cited], embedder, bool(own & chunk))
            if reason:
                return reason.format(label=label)
            continue
        novel = own - asked
        if len(novel) >= MIN_NOVEL_WORDS and len(novel & chunk) < CITED_SHARE * len(novel):
            return f"a sentence citing {label} shares almost no words with {label}"
    return None


def _meaning_problem(sentence: str, cited: list[Source], others: list[Source], embedder: RagkitEmbeddings,
                     shares_words: bool) -> str | None:
    """With the bundled embedder: the sentence must be close in meaning to a piece of the chunks it cites
    (:data:`CITED_CLOSENESS`; :data:`PARAPHRASE_CLOSENESS` when it shares no word with them), and not clearly
    closer to a source it does not cite (:data:`WRONG_SOURCE_MARGIN`)."""
    near = _closest(sentence, cited, embedder)
    if near < (CITED_CLOSENESS if shares_words else PARAPHRASE_CLOSENESS):
        return "a sentence citing {label} does not say what {label} says"
    if others and _closest(sentence, others, embedder) - near >= WRONG_SOURCE_MARGIN:
        return "a sentence citing {label} says what another source says"
    return None


def _closest(sentence: str, sources: list[Source], embedder: RagkitEmbeddings) -> float:
    pieces = [p.text for s in sources for p in quotable_pieces(s.text, s.header)] or [s.text for s in sources]
    return float(best_similarity(sentence, pieces, embedder).max())


def _unheld_figure(text: str, question: str, sources: Sequence[Source]) -> str | None:
    """The first number of ``text`` that is neither in the chunks its sentence cites (all sources, for a sentence
    citing none) nor in the question."""
    by_number = {s.n: s for s in sources}
    asked = {_digits(n) for n in _NUMBER.findall(question)}
    for sentence in split_answer(text):
        cited = [by_number[n] for n in _cited(sentence) if n in by_number] or list(sources)
        figures = asked | {_digits(n) for s in cited for n in _NUMBER.findall(s.text)}
        for number in _NUMBER.findall(_ENUMERATOR.sub("", strip_citations(sentence))):
            if _digits(number) not in figures:
                return number
    return None


def _digits(text: str) -> str:
    """Numbers compared without thousands separators: "2,319" and "2319" are one figure."""
    return re.sub(r"(?<=\d),(?=\d)", "", text)
