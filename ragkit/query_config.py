"""The query-time sections of the config: ``search:``, ``rerank:`` and ``ask:``, and what ``auto`` means for them.

:mod:`ragkit.config` assembles them with the other sections into :class:`~ragkit.config.Config`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ragkit.choices import CHAINS, EXPANSIONS, FUSIONS, MODES, NORMALIZATIONS, REFUSALS, ROUTES, SELF_QUERY, STRATEGIES
from ragkit.sections import Float, Int, Weight
from ragkit.sections import section as _section

__all__ = ["SearchConfig", "RerankConfig", "AskConfig", "DEFAULT_FUSION_WEIGHTS", "DENSE_WEIGHT_BY_LENGTH",
           "effective_chain", "checks_support"]

DEFAULT_FUSION_WEIGHTS = {"dense": 0.6, "sparse": 0.4}   # fixed weights: a side search.weights does not give
DENSE_WEIGHT_BY_LENGTH = ((8, 0.7), (20, 0.2))
"""Default weighting (``search.weights`` empty): the dense weight by the query's distinct terms (stemmed, stopwords
out), 0.7 up to 8, linearly down to 0.2 at 20+; sparse gets the rest. Short queries (names) give BM25 too few words;
long ones carry their page's exact terms, which one embedding blurs. Chosen on the calibration halves of ten sets
(``benchmarks/own_words.py --choose-weights``: least lost to the better single retriever on the worst set)."""


@_section("search")
class SearchConfig:
    """Query-time defaults: mode, k, fusion (method, weights, normalisation, unit), candidate depth, route.

    The hybrid default — convex fusion of max-normalised scores, by document unit, sparse scores with
    document evidence, weights by query length (:data:`DENSE_WEIGHT_BY_LENGTH`) — was chosen on the calibration
    halves of nine data sets (BENCHMARKS.md). ``weights`` given (``{dense: 0.6, sparse: 0.4}``) fixes them.
    """

    mode: Literal[tuple(MODES)] = "hybrid"
    k: Int = Field(10, ge=1)
    rrf_k: Int = Field(60, ge=0)
    weights: dict[Literal["dense", "sparse"], Weight] = Field(   # empty: by query length (DENSE_WEIGHT_BY_LENGTH)
        default_factory=dict, description="a mapping of weights, e.g. {dense: 0.6, sparse: 0.4}")
    candidates: Int = Field(300, ge=1)
    fusion_unit: Literal["document", "chunk"] = "document"   # document (doc_id + page) | chunk
    fusion: Literal[tuple(FUSIONS)] = "convex"              # ragkit.choices.FUSIONS says what each does
    normalization: Literal[tuple(NORMALIZATIONS)] = "max"   # how convex puts both sides' scores on one scale
    # Sparse scores add the chunk's document's BM25 (each part scaled by its best): 1 counts both alike, 0 = chunk alone.
    document_weight: Float = Field(1.0, ge=0, le=10)
    # A reranker (ragkit.rerank; none | http | a registered name) re-scores the best rerank_candidates fused
    # results; its order decides the top k. 20 is a common default, not measured here: no reranker runs locally.
    rerank: str = "none"
    rerank_candidates: Int = Field(20, ge=1)
    route: Literal[tuple(ROUTES)] = "chunks"   # documents: route_documents documents first (ragkit.retrieval.route)
    route_documents: Int = Field(20, ge=1)


@_section("rerank")
class RerankConfig:
    """The ``rerank:`` section: the endpoint ``search.rerank: http`` calls (the ``/rerank`` API of Cohere, Jina,
    Voyage, Hugging Face TEI, vLLM and llama.cpp's server). ``api`` is the request's shape: ``cohere``
    ``{model, query, documents, top_n}`` (Cohere, Jina, vLLM, llama.cpp), ``voyage`` (``top_k``), ``tei``
    ``{query, texts}``; every response shape is read. The key is read from the variable ``api_key_env``
    names (none: no key sent); 429 and 5xx are retried ``retries`` times, doubling from ``backoff_s``."""

    url: str | None = None
    model: str | None = None
    api: Literal["cohere", "voyage", "tei"] = "cohere"
    api_key_env: str | None = None
    timeout_s: Float = Field(30.0, gt=0)
    retries: Int = Field(2, ge=0)
    backoff_s: Float = Field(0.5, ge=0)


@_section("ask")
class AskConfig:
    """The ``ask:`` section: how questions are answered (--strategy, --chain, --expand, -k override it)."""

    strategy: Literal[tuple(STRATEGIES)] = "none"
    self_query: Literal[tuple(SELF_QUERY)] = "model"   # rules: no model (ragkit.retrieval.self_query)
    chain: Literal[tuple(CHAINS)] = "auto"   # auto: see effective_chain
    expand: Literal[tuple(EXPANSIONS)] = "none"
    k: Int = Field(5, ge=1)                 # chunks handed to the generation chain
    depth: Int = Field(50, ge=1)            # chunks retrieved per query before fusion
    n_queries: Int = Field(3, ge=1, le=10)  # rewrites / sub-questions asked of the model
    ircot_steps: Int = Field(3, ge=1, le=10)  # reasoning sentences, each searched (ragkit.generation.ircot)
    window: Int = Field(2, ge=0)            # sentences either side for --expand window
    # Model chains refuse before the model when the sources do not hold the answer (ragkit.choices.REFUSALS).
    refuse: Literal[tuple(REFUSALS)] = "auto"
    # Token caps on the answer and on each step before it (a map, a refine step, a sub-answer), and a wall-clock
    # budget for the whole ask, past which the answer is extract's quotes with a note (0: none; issue 20).
    answer_tokens: Int = Field(256, ge=1)
    step_tokens: Int = Field(128, ge=1)
    budget_seconds: Float = Field(90.0, ge=0)


def effective_chain(chain: str, follows_instructions: bool) -> str:
    """``auto`` is ``stuff`` with a model that follows instructions and ``extract`` with any other (or none).

    The shipped local models' stuff answers trail extract's quotes (BENCHMARKS.md, "Models"); a capable
    model should write the answer.
    """
    if chain != "auto":
        return chain
    return "stuff" if follows_instructions else "extract"


def checks_support(refuse: str, follows_instructions: bool) -> bool:
    """Whether a model chain checks that the sources support an answer before calling the model (``ask.refuse``)."""
    return refuse == "always" or (refuse == "auto" and not follows_instructions)
