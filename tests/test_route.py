"""search.route: documents (issue 23, point 3): documents picked first, then chunks within them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_document_evidence import FILINGS, as_written_before_document_evidence
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.config import config_from_dict
from ragkit.ingest.pipeline import ingest
from ragkit.retrieval.pipeline import Pipeline
from ragkit.retrieval.route import NO_DOCUMENT_INDEX, DocumentRouter, candidates
from ragkit.retrieval.search import Searcher
from ragkit.retrieval.transforms import QueryPlan
from ragkit.store.documents import build_document_index

from conftest import write_docs

QUERY = "Orangefruit total net sales"


def cfg(route: str = "documents", n: int = 1, mode: str = "hybrid"):
    return config_from_dict({"embedder": {"kind": "hash"}, "splitter": {"chunk_size": 60, "chunk_overlap": 0},
                             "search": {"route": route, "route_documents": n, "mode": mode}})


@pytest.fixture
def filings(tmp_path):
    ingest(write_docs(tmp_path / "filings", FILINGS), tmp_path / "idx", cfg())
    return tmp_path / "idx"


def run(index, config, query=QUERY, filters=None, plan=None):
    searcher = Searcher(index, config)
    try:
        pipeline = Pipeline(searcher, filters=filters)
        plan = plan or QueryPlan(strategy="none", question=query, queries=[query])
        return pipeline.retrieve([plan], 10)[0]
    finally:
        searcher.close()


@pytest.mark.parametrize("mode", ["sparse", "dense", "hybrid"])
def test_chunks_come_only_from_the_documents_picked(filings, mode):
    chunks = run(filings, cfg("chunks", mode=mode))
    assert {h.source for h in chunks.hits} == set(FILINGS)   # the chunks route finds both filings' chunks
    routed = run(filings, cfg(n=1, mode=mode))
    step = routed.rankings[0]
    assert step["route"] and step["query"].startswith(f"route ({mode}, 1 documents)")
    picked = [name for name, _ in step["ranking"]]
    assert len(picked) == 1 and {h.source for h in routed.hits} == set(picked)
    if mode != "dense":   # BM25 knows which filing names Orangefruit; the hash embedder need not
        assert picked == ["filing-one.md"]
    assert len(routed.hits) >= sum(h.source == picked[0] for h in chunks.hits)   # its chunks fill the depth


def test_enough_documents_route_to_what_the_chunks_route_finds(filings):
    chunks, routed = run(filings, cfg("chunks")), run(filings, cfg(n=5))
    assert [(h.chunk_id, h.score) for h in routed.hits] == [(h.chunk_id, h.score) for h in chunks.hits]
    assert [name for name, _ in routed.rankings[0]["ranking"]] == ["filing-one.md", "filing-two.md"]


def test_a_filter_restricts_the_documents_that_can_be_picked(filings):
    routed = run(filings, cfg(n=1), filters={"source": "filing-two.md"})
    assert routed.rankings[0]["ranking"][0][0] == "filing-two.md"
    assert routed.hits and {h.source for h in routed.hits} == {"filing-two.md"}


def test_a_hypothetical_passage_is_routed_on_the_dense_side(filings):
    plan = QueryPlan(strategy="hyde", question=QUERY, queries=[QUERY], dense_only=["Orangefruit sales rose"],
                     fusion="rrf")
    routed = run(filings, cfg(n=1), plan=plan)
    steps = [e for e in routed.rankings if e.get("route")]
    assert [s["query"].split(":")[0] for s in steps] == ["route (hybrid, 1 documents)", "route (dense, 1 documents)"]


def test_a_generation_without_a_document_index_searches_every_chunk_and_says_so(filings):
    as_written_before_document_evidence(filings)
    routed, chunks = run(filings, cfg(n=1)), run(filings, cfg("chunks"))
    assert NO_DOCUMENT_INDEX in routed.notes
    assert [h.chunk_id for h in routed.hits] == [h.chunk_id for h in chunks.hits]


def test_a_query_no_document_matches_searches_every_chunk_with_a_note(filings):
    routed = run(filings, cfg(n=1, mode="sparse"), query="zzyzx")
    assert routed.hits == [] and any("no document matched 'zzyzx'" in n for n in routed.notes)


def test_in_a_batch_each_note_goes_to_the_query_it_is_about(filings):
    searcher = Searcher(filings, cfg(n=1, mode="sparse"))
    try:
        found, missed = Pipeline(searcher).search([QUERY, "zzyzx"], 5)
    finally:
        searcher.close()
    assert any("no document matched 'zzyzx'" in n for n in missed.notes) and found.notes == []


def test_a_document_embedding_is_the_mean_of_its_chunks_unit_vectors():
    documents = build_document_index(["cats", "dogs", "mice", "owls"], ["x", "y", "x", "z"], {})
    vectors = np.array([[3, 0], [0, 2], [0, 5], [1, 1]], dtype=np.float32)   # rows 0 and 2 are document x's
    router = DocumentRouter(documents, lambda: vectors)
    expected = np.array([[1, 1], [0, 1], [1, 1]], dtype=np.float32)
    assert np.allclose(router.centroids, expected / np.linalg.norm(expected, axis=1, keepdims=True))
    assert router.rows_of([0]).tolist() == [0, 2] and router.rows_of([2, 1]).tolist() == [1, 3]
    routes = router.route(["q"], np.array([[0, 1]], dtype=np.float32), 1, None)
    assert routes[0].documents == [(1, pytest.approx(1.0))] and routes[0].rows.tolist() == [1]
    assert candidates(1) == 100 and candidates(50) == 500


def test_ask_trace_shows_the_documents_picked(filings, tmp_path):
    config = tmp_path / "route.yaml"
    config.write_text("embedder: {kind: hash}\nsplitter: {chunk_size: 60, chunk_overlap: 0}\n"
                      "search: {route: documents, route_documents: 1}\n")
    shown = CliRunner().invoke(app, ["ask", QUERY, "--index", str(filings), "--config", str(config),
                                     "--chain", "extract", "--trace", "--json"])
    assert shown.exit_code == 0, shown.output
    trace = json.loads(shown.stdout)["trace"]["rankings"]
    assert trace[0]["route"] and trace[0]["ranking"][0][0] == "filing-one.md"
    text = CliRunner().invoke(app, ["ask", QUERY, "--index", str(filings), "--config", str(config),
                                    "--chain", "extract", "--trace"])
    assert text.exit_code == 0 and "filing-one.md:" in text.output


def test_the_setting_is_checked():
    with pytest.raises(Exception, match="route"):
        config_from_dict({"search": {"route": "sections"}})
    with pytest.raises(Exception, match="route_documents"):
        config_from_dict({"search": {"route_documents": 0}})
