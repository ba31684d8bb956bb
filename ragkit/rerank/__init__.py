"""Rerankers: one interface (:class:`Reranker`), backends registered by the name ``search.rerank`` uses.

- ``none`` (default, :class:`NoReranker`): the fused order stands. No cross-encoder ships inside a
  registry package (DESIGN.md, "Model packages checked here"), so nothing reranks offline yet.
- ``http`` (:mod:`ragkit.rerank.http`): the ``/rerank`` endpoint of Cohere, Jina, Voyage, Hugging
  Face TEI, vLLM and llama.cpp's server, set up in the ``rerank:`` config section.

Retrieval (:mod:`ragkit.retrieval.reranking`) hands a reranker the best ``search.rerank_candidates``
fused results after fusion and before expansion; its order decides the top k, and a failure falls
back to the fused order with a note. Another backend (a local ONNX cross-encoder, say) is one module
with a :class:`Reranker` subclass and one :func:`register_reranker` call.
"""

from __future__ import annotations

from typing import Callable

from ragkit.config import RerankConfig, register_backend_name
from ragkit.errors import RerankError
from ragkit.rerank.base import NoReranker, Reranker, check_scores
from ragkit.rerank.http import HttpReranker, build_http

__all__ = ["RERANKERS", "HttpReranker", "NoReranker", "RerankConfig", "RerankError", "Reranker", "build_reranker",
           "check_scores", "register_reranker"]

RerankerBuilder = Callable[[RerankConfig], Reranker]
"""Builds a reranker from the ``rerank:`` section; nothing is loaded or contacted until the first call."""

RERANKERS: dict[str, RerankerBuilder] = {}


def register_reranker(name: str, builder: RerankerBuilder) -> None:
    """Make ``search.rerank: <name>`` (and ``--rerank <name>``) build its reranker with ``builder``."""
    RERANKERS[name] = builder
    register_backend_name("search", "rerank", name)


register_reranker("none", lambda cfg: NoReranker())
register_reranker("http", build_http)


def build_reranker(name: str, cfg: RerankConfig | None = None) -> Reranker:
    """Build the reranker registered as ``name`` with the ``rerank:`` settings ``cfg``."""
    try:
        builder = RERANKERS[name]
    except KeyError:
        raise RerankError(f"unknown search.rerank {name!r}; choose one of {', '.join(sorted(RERANKERS))}") from None
    reranker = builder(cfg or RerankConfig())
    reranker.name = name
    return reranker
