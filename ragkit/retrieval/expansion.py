"""Expansion: widen retrieved chunks before generation (the stage after fusion).

- ``parent``: parent-document retrieval. Small chunks were searched; the model gets the larger
  parent section each one belongs to (stored in the docstore at ingest). Children of the same
  parent collapse into one entry, at the best child's rank.
- ``window``: sentence-window expansion. Within each chunk's parent section, the sentence
  that best matches the question is found and returned with ``window`` sentences either side.
- ``none``: chunks as retrieved.

Expanded results keep the child's ``chunk_id``, ``source`` and ``page``, so citations still
point at what was retrieved; ``metadata["expanded"]`` says what happened.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

from ragkit import choices
from ragkit.errors import SearchError
from ragkit.retrieval.hit import Hit
from ragkit.store.docstore import DocStore
from ragkit.text import split_sentences, tokenize

EXPANSIONS = tuple(choices.EXPANSIONS)


def expand(results: Sequence[Hit], how: str, docstore: DocStore, question: str = "",
           window: int = 2) -> tuple[list[Hit], list[str]]:
    """Expanded results and notes for the trace (for example when an index has no parents)."""
    if how not in EXPANSIONS:
        raise SearchError(f"expansion {how!r} is not one of {', '.join(EXPANSIONS)}")
    if how == "none" or not results:
        return list(results), []
    parents = docstore.parents(r.metadata.get("parent_id", "") for r in results)
    notes = []
    if not parents:
        notes.append("this index has no parent sections (splitter.parent_size: 0); "
                      f"--expand {how} falls back to the chunks themselves")
    if how == "parent":
        return _parents(results, parents), notes
    return [_window(r, parents.get(r.metadata.get("parent_id", "")), question, window) for r in results], notes


def _parents(results: Sequence[Hit], parents: dict) -> list[Hit]:
    expanded, seen = [], set()
    for result in results:
        parent_id = result.metadata.get("parent_id")
        parent = parents.get(parent_id)
        if parent is None:
            expanded.append(result)
            continue
        if parent_id in seen:
            continue
        seen.add(parent_id)
        meta = {**result.metadata, "expanded": "parent", "child_text": result.text}
        expanded.append(dataclasses.replace(result, rank=len(expanded) + 1, text=parent.page_content, metadata=meta))
    return [dataclasses.replace(r, rank=i) for i, r in enumerate(expanded, start=1)]


def _window(result: Hit, parent, question: str, window: int) -> Hit:
    sentences = split_sentences(parent.page_content if parent is not None else result.text)
    if not sentences:
        return result
    wanted = set(tokenize([question])[0]) if question else set()
    child = set(tokenize([result.text])[0])

    def score(sentence: str) -> tuple[int, int]:
        tokens = set(tokenize([sentence])[0])
        # Prefer sentences that match the question and lie inside the retrieved chunk.
        return len(tokens & wanted), len(tokens & child)

    best = max(range(len(sentences)), key=lambda i: score(sentences[i]))
    lo, hi = max(0, best - window), min(len(sentences), best + window + 1)
    text = " ".join(sentences[lo:hi])
    meta = {**result.metadata, "expanded": "window", "window": [lo, hi], "child_text": result.text}
    return dataclasses.replace(result, text=text, metadata=meta)
