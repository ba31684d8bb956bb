"""The reranker interface: a query and texts in, one relevance score per text out (higher is more relevant).

A backend is a :class:`Reranker` subclass with :meth:`Reranker.rerank`; the registry in
:mod:`ragkit.rerank` builds it by the name ``search.rerank`` uses. Scores only need to order the
texts of one call: a cross-encoder's logits, a service's relevance in [0, 1] and a scripted fake's
numbers are all fine. :func:`check_scores` is the one check every answer passes before it is used.
"""

from __future__ import annotations

import math
from typing import Sequence

from ragkit.errors import RerankError


class Reranker:
    """Scores texts against a query. Building one loads and contacts nothing; the first :meth:`rerank` may.

    Capability flags: ``active`` False means a no-op (``search.rerank: none``; retrieval skips it and
    shows no rerank step); ``remote`` True means the query and texts leave this machine (the http
    backend), which ``--trace`` says. ``name`` is the registered name, ``model_id`` what ran
    (``http:<model>@<url>``, or a local model's id).
    """

    name: str = "none"
    model_id: str = "none"
    active: bool = True
    remote: bool = False

    def rerank(self, query: str, texts: Sequence[str]) -> list[float]:
        """One score per text, in the order of ``texts``; raises :class:`RerankError` (one line) when it cannot."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, model_id={self.model_id!r})"


class NoReranker(Reranker):
    """``search.rerank: none`` (the default): keeps the fused order; retrieval does not call it."""

    name = model_id = "none"
    active = False

    def rerank(self, query: str, texts: Sequence[str]) -> list[float]:
        """Scores that keep the given order (the first text scores highest)."""
        return [float(len(texts) - i) for i in range(len(texts))]


def check_scores(scores: object, count: int, who: str) -> list[float]:
    """``scores`` as a list of ``count`` finite floats, else :class:`RerankError` naming ``who`` (the reranker)."""
    if not isinstance(scores, (list, tuple)):
        raise RerankError(f"the reranker {who} returned {type(scores).__name__}, not a list of scores")
    if len(scores) != count:
        raise RerankError(f"the reranker {who} returned {len(scores)} scores for {count} texts")
    checked = []
    for position, score in enumerate(scores):
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise RerankError(f"the reranker {who} returned {score!r} as the score of text {position}, not a finite number")
        checked.append(float(score))
    return checked
