"""A LangChain ``BaseRetriever`` over a ragkit index, so ragkit plugs into any LangChain chain.

    from ragkit.retrieval.retriever import RagkitRetriever
    retriever = RagkitRetriever(index=".ragkit", mode="hybrid", k=5)
    docs = retriever.invoke("what is reciprocal rank fusion?")

Returned documents carry ``chunk_id``, ``source``, ``page`` and the retrieval ``score`` and
``rank`` in their metadata. It searches as ``ragkit search`` does, through the one retrieval pipeline, so a
config's ``search.rerank`` reranks here too (metadata then also holds ``rerank_score`` and ``fused_rank``).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr

from ragkit.config import Config, load_config
from ragkit.retrieval.pipeline import Pipeline
from ragkit.retrieval.search import Searcher


class RagkitRetriever(BaseRetriever):
    """Dense, sparse or hybrid retrieval from a ragkit index (loaded once, on first use)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: str
    config: Config | str | None = None
    mode: str = "hybrid"
    k: int = 4
    filters: dict[str, str] = {}
    _searcher: Searcher | None = PrivateAttr(default=None)

    def _get_searcher(self) -> Searcher:
        if self._searcher is None:
            cfg = self.config if isinstance(self.config, Config) else load_config(self.config)
            self._searcher = Searcher(self.index, cfg)
        return self._searcher

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                **kwargs: Any) -> list[Document]:
        k = int(kwargs.get("k", self.k))
        filters = {**self.filters, **kwargs.get("filters", {})}
        pipeline = Pipeline(self._get_searcher(), mode=kwargs.get("mode", self.mode), filters=filters)
        documents = []
        for hit in pipeline.search([query], k)[0].hits[:k]:
            metadata = {**hit.metadata, "score": hit.score, "rank": hit.rank}
            if hit.rerank_score is not None:
                metadata.update(rerank_score=hit.rerank_score, fused_rank=hit.fused_rank)
            documents.append(Document(page_content=hit.text, metadata=metadata, id=hit.chunk_id))
        return documents
