"""Retrieval: a question in, ranked chunks out.

``transforms`` (rewrite the question: multi-query, RAG-Fusion, HyDE, step-back, decompose) ->
``search`` (dense, sparse or hybrid over a loaded index, filters on both sides) -> ``fusion``
(every way rankings are combined: RRF, convex, union, document-unit) -> ``reranking`` -> ``expansion`` (parent
sections, sentence windows). ``pipeline`` runs them in order (``search``, ``ask``, ``chat`` and ``eval``
all retrieve through it) and hands on ``Hit``s (``hit``); ``retriever`` is the LangChain
``BaseRetriever`` over an index.
"""
