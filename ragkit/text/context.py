"""The text an index sees for a chunk: its context line (when it has one), then its own text.

The splitter records a chunk's context (document title or file name, heading path, PDF page) in
``metadata["context"]``; the embedder and BM25 index ``context + "\\n" + text`` so a chunk is found
by where it is as well as by what it says, while the docstore keeps the chunk's own text and
results show the context apart from it.
"""

from __future__ import annotations

from collections.abc import Mapping

CONTEXT_KEY = "context"
TABLE_HEADER_KEY = "table_header"
"""A PDF chunk's metadata key for the period header of the table it starts in (its rows' columns)."""


def indexed_text(text: str, metadata: Mapping) -> str:
    """What the dense and sparse indexes see for a chunk: its context line, if any, and its text."""
    context = metadata.get(CONTEXT_KEY)
    return f"{context}\n{text}" if context else text
