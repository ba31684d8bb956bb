"""The one typed result every stage after search hands on: a ranked chunk (:class:`Hit`).

Search makes them, fusion, reranking and expansion return new ones (``dataclasses.replace``), and
generation reads them. :mod:`ragkit.retrieval.pipeline` re-exports it: callers import it from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Hit:
    """One ranked chunk."""

    rank: int
    score: float
    chunk_id: str
    doc_id: str
    source: str
    page: int | None
    text: str
    metadata: dict = field(default_factory=dict, compare=False)
    rerank_score: float | None = None   # set by a reranker (ragkit.retrieval.reranking); ``score`` stays the fused one
    fused_rank: int | None = None       # the rank before reranking

    def to_json(self) -> dict:
        """The ``--json`` form: rank, score, chunk_id, doc_id, source, page, context, text.

        ``context`` is the line the chunk was indexed with besides its text (title or file name,
        heading path, page), or None. A reranked result also has ``rerank_score`` and ``fused_rank``
        (its rank before reranking); ``score`` is still its fused score.
        """
        data = {"rank": self.rank, "score": round(float(self.score), 6), "chunk_id": self.chunk_id,
                "doc_id": self.doc_id, "source": self.source, "page": self.page,
                "context": self.metadata.get("context"), "text": self.text}
        if self.rerank_score is not None:
            data.update(rerank_score=round(float(self.rerank_score), 6), fused_rank=self.fused_rank)
        return data
