"""The answer every chain returns, and the numbered sources it is built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ragkit.generation.citations import Source
from ragkit.retrieval.pipeline import Hit
from ragkit.text.context import TABLE_HEADER_KEY


@dataclass
class Answer:
    """A generated answer, its citations and the sources the model was shown."""

    text: str
    citations: list[int]
    sources: list[Source]
    removed_citations: int
    refused: bool
    chain: str
    llm_calls: int
    notes: list[str] = field(default_factory=list)  # what was truncated, dropped or overridden
    # The support decision (ragkit.generation.refusal): "strong", "weak" (quotes the reader should check),
    # "none" (refused for lack of support), or None when no decision was taken (a capable model decides).
    support: str | None = None
    support_reason: str = ""
    # Who wrote the text shown: "model", or "extract" (quotes, or a refusal, decided without the model); with
    # ``fallback_reason`` when a model chain's text failed the reader's checks (ragkit.generation.checks).
    answered_by: str = "model"
    fallback_reason: str | None = None
    model_text: str = field(default="", repr=False)   # what the model wrote before cleaning (for the checks)

    def to_json(self) -> dict:
        """Plain-JSON form (only dicts, lists, str, int, bool and None)."""
        return {"text": self.text, "citations": [int(n) for n in self.citations],
                "sources": [s.to_json() for s in self.sources], "removed_citations": int(self.removed_citations),
                "refused": bool(self.refused), "chain": self.chain, "llm_calls": int(self.llm_calls),
                "notes": list(self.notes), "support": self.support, "support_reason": self.support_reason,
                "answered_by": self.answered_by, "fallback_reason": self.fallback_reason}


def number_sources(chunks: Sequence[Hit]) -> list[Source]:
    """Ranked hits as :class:`Source` items numbered ``[1]``, ``[2]``, … in rank order."""
    return [Source(n=i, chunk_id=c.chunk_id, source=c.source or "", page=_page(c.page), text=c.text or "",
                   header=str(c.metadata.get(TABLE_HEADER_KEY) or ""))
            for i, c in enumerate(chunks, 1)]


def _page(page) -> int | None:
    try:
        return None if page is None else int(page)
    except (TypeError, ValueError):  # a page that is not a number is shown as no page
        return None
