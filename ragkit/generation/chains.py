"""Generation: answer a question from retrieved chunks, citing them as ``[n]``.

Chains: ``stuff`` (every chunk that fits, one call), ``map-reduce`` (one call per chunk, then one
to combine), ``refine`` (an answer improved chunk by chunk) and ``extract`` (no model: the
sentences that best match the question, quoted; see :mod:`ragkit.generation.extract`). Retrieved
text is always presented as data in delimited blocks (see :mod:`ragkit.generation.prompts`), and
whatever the model writes is cleaned (:mod:`ragkit.generation.citations`): invalid citation
numbers are removed, empty or junk output becomes :data:`NO_ANSWER`, and text that is no answer
(an echo of the prompt, a loop, nothing in common with the sources; see
:mod:`ragkit.generation.grounding`) is replaced by the extract chain's quotes, with a note. The default local model is
tiny and often wrong, so nothing here trusts its output's shape.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Callable, Sequence

from ragkit import choices
from ragkit.embedders.base import RagkitEmbeddings
from ragkit.errors import GenerationError, OutOfTime
from ragkit.generation.answer import Answer, number_sources
from ragkit.generation.budget import ModelRun
from ragkit.generation.checks import answer_problem
from ragkit.generation.citations import (
    NO_ANSWER,
    Source,
    clean_citations,
    format_note,
    format_source,
    has_content,
    is_none_reply,
    is_refusal,
    replace_citations,
    tidy_output,
)
from ragkit.generation.extract import extract_answer, refusal, with_support
from ragkit.generation.prompts import (
    MAP_SYSTEM,
    MAP_TASK,
    REDUCE_SYSTEM,
    REFINE_TASK,
    STUFF_TASK,
    SYSTEM,
    context_prompt,
    current_answer_block,
    notes_prompt,
    source_blocks,
)
from ragkit.generation.refusal import assess_support
from ragkit.llm.base import ChatModel
from ragkit.retrieval.pipeline import Hit

CHAINS = tuple(name for name in choices.CHAINS if name != "auto")   # auto is resolved before a chain runs


def answer_question(question: str, chunks: Sequence[Hit], chain: str = "stuff", llm: ChatModel | None = None, *,
                    on_token: Callable[[str], None] | None = None, max_context_tokens: int | None = None,
                    answer_tokens: int = 384, in_corpus: Callable[[str], bool] | None = None,
                    check_support: bool = False, embedder: RagkitEmbeddings | None = None,
                    step_tokens: int | None = None, deadline: float | None = None,
                    asked: str | None = None) -> Answer:
    """Answer ``question`` from ``chunks`` (ranked hits, best first) with ``chain``.

    ``on_token`` receives the final step's raw output piece by piece as the model streams it; when
    no model produces the final text (extract chain, nothing retrieved, every map said NONE) it
    receives the whole text once. The returned ``Answer.text`` is the cleaned text and can differ
    from what was streamed (invalid citations removed, or a refine/reduce step overridden; see
    ``Answer.notes``). ``max_context_tokens`` caps the tokens of document text per call.
    ``in_corpus`` (index term -> whether the corpus holds it) and ``embedder`` (names said in other
    words) sharpen extract's support decision. ``check_support`` makes a model chain take that decision
    first: sources that do not hold the answer get extract's refusal, and the model is not called; a
    weakly supported answer is marked so (``Answer.support``).

    ``asked`` is the question as the user typed it, when ``question`` carries more for the model (a
    decomposition's findings): the support decision, the extract fallback and the checks read ``asked``, so
    nothing they say names a term the user did not type. ``answer_tokens`` caps the final call,
    ``step_tokens`` the others; past ``deadline`` (a :func:`ragkit.generation.budget.clock` time) the
    model is stopped and the answer is extract's quotes, with a note.
    """
    if chain not in CHAINS:
        raise GenerationError(f"unknown chain {chain!r}: choose one of {', '.join(CHAINS)}")
    if not question or not question.strip():
        raise GenerationError("the question is empty")
    asked = (asked or question).strip()
    if chain == "extract":
        return _emit(extract_answer(asked, chunks, in_corpus=in_corpus, embedder=embedder), on_token)
    if llm is None:
        raise GenerationError(f"the {chain} chain needs a chat model; configure one, or use --chain extract, "
                              "which answers without a model")
    if answer_tokens < 1 or (max_context_tokens is not None and max_context_tokens < 1):
        raise GenerationError("answer_tokens and max_context_tokens must be positive")
    sources = number_sources(chunks)
    run = ModelRun(llm, answer_tokens, max_context_tokens, on_token, step_tokens=step_tokens, deadline=deadline)
    if not sources:
        run.notes.append("nothing was retrieved")
        return _emit(_finish(NO_ANSWER, [], set(), chain, run), on_token)
    support = assess_support(asked, sources, in_corpus=in_corpus, embedder=embedder) if check_support else None
    if support is not None and not support.answerable:
        # The same decision as extract's: a model handed sources that do not hold the answer writes
        # one anyway (the small local model always does), so it is not asked.
        return _emit(refusal(support, chain=chain), on_token)
    run_chain = {"stuff": _stuff, "map-reduce": _map_reduce, "refine": _refine}[chain]
    try:
        written = run_chain(question, sources, run)
    except OutOfTime:
        written = Answer("", [], sources, 0, False, chain, run.calls, run.notes)
        return _fallback(written, "the model did not finish within the ask's time budget (ask.budget_seconds)",
                         asked, chunks, in_corpus, embedder)
    answer = _checked(written, asked, chunks, in_corpus, supported=support is not None, embedder=embedder)
    return answer if support is None or answer.support else with_support(answer, support)


def _checked(answer: Answer, question: str, chunks: Sequence[Hit], in_corpus: Callable[[str], bool] | None = None,
             supported: bool = False, embedder: RagkitEmbeddings | None = None) -> Answer:
    """``answer``, or the extract chain's quotes when the model's text is no answer (an echo, a loop, unrelated),
    or when the model refused what the support check (``supported``: it ran and passed) says the sources hold.

    With the check on, refusing is its decision: the small local model also refuses sources that hold
    the answer, and its refusal is a failure to answer, not evidence. The fallback is visible:
    ``chain`` becomes "extract" and a note names the model chain and the reason; the model calls
    already made stay counted. What was streamed is not repeated: the caller sees that the returned
    text differs from it.
    """
    reason = answer_problem(answer.text, question, answer.sources, answer.citations, model_text=answer.model_text,
                            embedder=embedder)
    if not has_content(tidy_output(answer.model_text)):
        # Nothing written (an empty reply, bare wrappers, only a <think> block) is a model failure, not the model
        # saying the documents lack the answer: shown as its refusal, it would pass for one (and score as one).
        reason = "the model's reply is empty"
    if reason is None and supported and answer.refused:
        reason = "the model refused, but the sources hold what the question asks about"
    if reason is None:
        return answer
    return _fallback(answer, reason, question, chunks, in_corpus, embedder)


def _fallback(answer: Answer, reason: str, question: str, chunks: Sequence[Hit],
              in_corpus: Callable[[str], bool] | None, embedder: RagkitEmbeddings | None) -> Answer:
    """Extract's answer (its own support decision) in place of the model's, saying so and why."""
    quoted = extract_answer(question, chunks, in_corpus=in_corpus, embedder=embedder)   # extract's own decision
    quoted.llm_calls = answer.llm_calls
    quoted.answered_by, quoted.fallback_reason = "extract", reason
    quoted.notes = [*answer.notes, f"the {answer.chain} chain's answer was not used ({reason}); "
                                   "quoting the best-matching sentences instead (extract chain)"]
    return quoted


def _stuff(question: str, sources: list[Source], run: ModelRun) -> Answer:
    room = run.room(SYSTEM, context_prompt(question, [], STUFF_TASK), question)
    seen = run.pack(sources, room, format_source)
    raw = run.call(SYSTEM, context_prompt(question, source_blocks(seen), STUFF_TASK), final=True)
    return _finish(raw, seen, {s.n for s in seen}, "stuff", run)


def _map_reduce(question: str, sources: list[Source], run: ModelRun) -> Answer:
    seen: list[Source] = []
    notes: list[Source] = []  # partial answers, as Source-shaped items so they pack the same way
    for source in sources:
        task = MAP_TASK.format(n=source.n)
        fitted = run.pack([source], run.room(MAP_SYSTEM, context_prompt(question, [], task), question), format_source)
        if not fitted:
            continue
        seen.append(fitted[0])
        raw = tidy_output(run.call(MAP_SYSTEM, context_prompt(question, source_blocks(fitted), task)))
        if is_none_reply(raw):
            continue
        # The map saw only source n, so whatever it cites, it can only mean [n].
        note = replace_citations(raw, source.n)
        if f"[{source.n}]" not in note:
            note = f"{note} [{source.n}]"
        notes.append(replace(source, text=note))
    if not notes:
        run.notes.append("no source held anything that answers the question")
        return _emit(_finish(NO_ANSWER, seen, set(), "map-reduce", run), run.on_token)
    kept = run.pack(notes, run.room(REDUCE_SYSTEM, notes_prompt(question, []), question), format_note)
    raw = run.call(REDUCE_SYSTEM, notes_prompt(question, kept), final=True)
    if not has_content(clean_citations(tidy_output(raw), {n.n for n in kept})[0]):
        # An empty or citation-only reduce is a model failure, not a refusal: the notes stand.
        run.notes.append("the combining step returned nothing usable; the notes are shown as they are")
        raw = "\n".join(n.text for n in kept)
    # Only notes given to the combining step can be cited: a number whose map said NONE is invented.
    return _finish(raw, seen, {n.n for n in kept}, "map-reduce", run)


def _refine(question: str, sources: list[Source], run: ModelRun) -> Answer:
    seen: list[Source] = []
    current: str | None = None
    current_raw = ""
    removed = 0
    for i, source in enumerate(sources):
        final = i == len(sources) - 1
        if current is None:
            task, answer_part = STUFF_TASK, ""
        else:
            task, answer_part = REFINE_TASK.format(n=source.n), current_answer_block(current)
        room = run.room(SYSTEM, answer_part + context_prompt(question, [], task), question)
        fitted = run.pack([source], room, format_source)
        if not fitted:
            continue
        seen.append(fitted[0])
        raw = run.call(SYSTEM, answer_part + context_prompt(question, source_blocks(fitted), task), final=final)
        text, _, dropped = clean_citations(tidy_output(raw), {s.n for s in seen})
        if current is None:
            current, removed, current_raw = (text if has_content(text) else NO_ANSWER), dropped, raw
        elif not has_content(text) or (is_refusal(text) and not is_refusal(current)):
            # A source that adds nothing must not erase an answer the earlier sources gave.
            run.notes.append(f"the step with source [{source.n}] gave no usable answer; the previous one was kept")
        else:
            current, removed, current_raw = text, removed + dropped, raw
    answer = _finish(current or NO_ANSWER, seen, {s.n for s in seen}, "refine", run)
    # The text of the step that set the answer ("" when that step wrote nothing, which the checks refuse).
    answer.model_text = current_raw if current is not None else answer.model_text
    answer.removed_citations += removed
    return answer


def _finish(raw: str, sources: list[Source], valid: set[int], chain: str, run: ModelRun) -> Answer:
    """Clean the model's text into an :class:`Answer`."""
    text, used, removed = clean_citations(tidy_output(raw), valid)
    # Nothing but a (possibly cited, oddly spaced) refusal, or nothing at all: the canonical refusal.
    if not has_content(re.sub(re.escape(NO_ANSWER.rstrip(".")), "", " ".join(text.split()), flags=re.I)):
        text, used = NO_ANSWER, []
    return Answer(text, used, sources, removed, is_refusal(text), chain, run.calls, run.notes, model_text=raw)


def _emit(answer: Answer, on_token: Callable[[str], None] | None) -> Answer:
    """Hand a text no model streamed to ``on_token`` in one piece, so callers always see it."""
    if on_token is not None:
        on_token(answer.text)
    return answer
