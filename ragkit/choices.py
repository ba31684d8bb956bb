"""The fixed choices of ragkit's settings, each written once, with what it does.

The config validates against these names (``Literal[tuple(MODES)]``), the stages check them, the
CLI's ``--help`` lists them with these descriptions (:func:`help_list`), and a test checks that
the README names every one. Adding a strategy or a chain starts here.
"""

from __future__ import annotations

from typing import Mapping

MODES = {
    "dense": "embeddings",
    "sparse": "BM25",
    "hybrid": "both, fused by a weighted sum of their normalised scores; search.fusion: rrf for reciprocal rank "
              "fusion",
}
STRATEGIES = {
    "none": "the question as asked",
    "multi-query": "N rewrites",
    "rag-fusion": "their fused rankings",
    "hyde": "a hypothetical answer",
    "step-back": "a broader question",
    "decompose": "sub-questions",
    "self-query": "a metadata filter: file names, years, quarters, tickers, then the model; ask.self_query: rules "
                  "needs no model",
    "ircot": "retrieval and reasoning in turns: one model sentence a step, searched and fused by RRF, up to "
             "ask.ircot_steps",
}
SELF_QUERY = {"model": "the rules, then the model's filter over the index's fields", "rules": "the rules alone"}
CHAINS = {
    "auto": "extract when the model does not follow instructions, as the shipped local ones do not; else stuff",
    "stuff": "one prompt",
    "map-reduce": "a note per source, then one answer",
    "refine": "one source at a time",
    "extract": "no model: quotes the best sentences",
}
EXPANSIONS = {
    "none": "each chunk as retrieved",
    "parent": "its section",
    "window": "the sentences around the best match",
}
FUSIONS = {
    "rrf": "a sum of 1/(k + rank)",
    "convex": "a weighted sum of normalised scores",
}
ROUTES = {
    "chunks": "every chunk of the index searched at once",
    "documents": "the best search.route_documents documents picked first (their BM25 and mean embedding, fused), "
                 "then chunks within them",
}
NORMALIZATIONS = {"minmax": "min to max onto 0 to 1", "max": "divided by the best", "zscore": "standard scores"}
REFUSALS = {
    "auto": "check support before the model when the model does not follow instructions",
    "always": "check support before every model chain",
    "never": "let the model decide",
}


def help_list(choices: Mapping[str, str], *, described: bool = True) -> str:
    """``a (what a does), b (…) or c (…)``: the choices as ``--help`` shows them."""
    items = [f"{name} ({what})" if described and what else name for name, what in choices.items()]
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else "".join(items)
