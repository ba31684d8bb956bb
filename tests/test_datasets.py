"""Real data from ../shared/datasets: real PDFs load, and BM25 quality on SciFact holds.

These skip with a reason where the shared data sets are absent; CI has them.
"""

import logging
import sys

import pytest

from ragkit.config import LoaderLimits, config_from_dict
from ragkit.evaluation.metrics import dedupe_ranked, evaluate
from ragkit.ingest.loaders import load_files
from ragkit.ingest.pipeline import ingest
from ragkit.ingest.scan import SourceFile
from ragkit.retrieval.search import Searcher

from conftest import REPO, SHARED, needs_data

DOCUGAMI = SHARED / "docugami-sec-10q" / "docs"
PDFS = SHARED / "pdfs"
SCIFACT = SHARED / "scifact"

needs = needs_data


@pytest.mark.integration
@needs(DOCUGAMI / "2023 Q1 MSFT.pdf")
def test_a_real_filing_that_pypdf_defaults_refuse_loads_with_ragkit_limits():
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError

    path = DOCUGAMI / "2023 Q1 MSFT.pdf"
    logging.disable(logging.WARNING)
    try:
        with pytest.raises(LimitReachedError):
            PdfReader(path).pages[0].extract_text()
    finally:
        logging.disable(logging.NOTSET)
    source = SourceFile(rel=path.name, path=path, size=path.stat().st_size)
    [(got, docs)] = list(load_files(DOCUGAMI, [source], LoaderLimits()))
    assert isinstance(docs, list), docs
    assert len(docs) > 20 and docs[0].metadata["page"] == 1
    assert any("Microsoft" in d.page_content for d in docs)


@pytest.mark.integration
@needs(PDFS)
def test_real_pdfs_ingest_with_pages(tmp_path):
    cfg = config_from_dict({"embedder": {"kind": "hash"}})
    report = ingest(PDFS, tmp_path / "idx", cfg)
    assert report.failed == [] and report.counts()["added"] == 5  # four PDFs and SOURCE.md
    searcher = Searcher(tmp_path / "idx", cfg)
    hits = searcher.search("National Transportation Safety Board probable cause", mode="sparse", k=3)
    assert hits[0].source.startswith("ntsb") and hits[0].page >= 1
    searcher.close()


@pytest.mark.integration
@needs(SCIFACT / "qrels.tsv")
def test_scifact_bm25_quality_holds(tmp_path):
    """Sparse nDCG@10 on SciFact's 300 test queries stays at the level BENCHMARKS.md reports."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from common import load_test_queries, make_corpus_folder

    folder = make_corpus_folder(SCIFACT, tmp_path / "corpus")
    cfg = config_from_dict({"embedder": {"kind": "hash"}})
    ingest(folder, tmp_path / "idx", cfg)
    qids, texts, qrels = load_test_queries(SCIFACT)
    searcher = Searcher(tmp_path / "idx", cfg)
    results = searcher.search_many(texts, mode="sparse", k=300)
    run = {qid: dedupe_ranked([r.doc_id for r in hits])[:100] for qid, hits in zip(qids, results)}
    scores = evaluate(qrels, run, ["ndcg@10", "recall@100"])
    assert scores["ndcg@10"] >= 0.67, scores
    assert scores["recall@100"] >= 0.89, scores
    searcher.close()
