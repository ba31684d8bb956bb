"""RagkitRetriever passes LangChain's standard retriever tests, and works inside LangChain."""

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from ragkit.config import config_from_dict
from ragkit.ingest.pipeline import ingest
from ragkit.retrieval.retriever import RagkitRetriever

from conftest import BASIC_DOCS, write_docs

CFG = config_from_dict({"embedder": {"kind": "hash"}, "splitter": {"chunk_size": 60, "chunk_overlap": 0}})


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("retriever")
    folder = write_docs(root / "docs", BASIC_DOCS)
    ingest(folder, root / "idx", CFG)
    return str(root / "idx")


class TestRagkitRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _index(self, index_dir):
        type(self).index_path = index_dir

    @property
    def retriever_constructor(self):
        return RagkitRetriever

    @property
    def retriever_constructor_params(self):
        return {"index": self.index_path, "config": CFG, "k": 2}

    @property
    def retriever_query_example(self):
        return "planets and stars in the solar system"


def test_metadata_and_filters(index_dir):
    retriever = RagkitRetriever(index=index_dir, config=CFG, k=3, filters={"source": "space/*"})
    docs = retriever.invoke("Saturn rings")
    assert docs and all(d.metadata["source"].startswith("space/") for d in docs)
    assert docs[0].metadata["rank"] == 1 and docs[0].id == docs[0].metadata["chunk_id"]
    sparse = retriever.invoke("Saturn rings", mode="sparse", k=1)
    assert len(sparse) == 1 and "rings" in sparse[0].page_content


def test_a_configured_reranker_reorders_what_the_retriever_returns(index_dir):
    plain = RagkitRetriever(index=index_dir, config=CFG, k=3).invoke("Saturn rings")
    reranked_cfg = config_from_dict({"embedder": {"kind": "hash"}, "splitter": {"chunk_size": 60, "chunk_overlap": 0},
                                     "search": {"rerank": "fake", "rerank_candidates": 3}, "rerank": {"model": "reverse"}})
    reranked = RagkitRetriever(index=index_dir, config=reranked_cfg, k=3).invoke("Saturn rings")
    assert [d.id for d in reranked] == [d.id for d in reversed(plain)]   # the fake reverses the fused order
    assert [d.metadata["fused_rank"] for d in reranked] == [3, 2, 1] and "rerank_score" in reranked[0].metadata
    assert "rerank_score" not in plain[0].metadata
