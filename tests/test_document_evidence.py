"""Document evidence: sparse scores add the chunk's document's BM25 (search.document_weight)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.config import config_from_dict
from ragkit.ingest.pipeline import ingest
from ragkit.retrieval.evidence import matching_with_evidence
from ragkit.retrieval.search import Searcher
from ragkit.store.base import top_among, top_positive
from ragkit.store.generations import CURRENT, current_generation, write_atomic
from ragkit.store.index import open_index
from ragkit.store.integrity import CHECKSUM_KEY, MANIFEST
from ragkit.store.manifest import read_manifest, write_manifest

from conftest import write_docs

FILLER = " ".join(f"Paragraph {n} of the filing discusses liquidity, leases and legal matters in general terms."
                  for n in range(6))
# Two filings alike but for the company they name, which only their first section says; their
# "net sales" sections never name it (as in a 10-Q, where a page says "the Company").
FILINGS = {
    "filing-one.md": f"# Overview\n\nThis quarterly report is filed by Orangefruit Corporation.\n\n{FILLER}\n\n"
                     "# Results\n\nTotal net sales rose 8 percent in the quarter, led by services.\n",
    "filing-two.md": f"# Overview\n\nThis quarterly report is filed by Bluesky Holdings.\n\n{FILLER}\n\n"
                     "# Results\n\nTotal net sales rose 9 percent in the quarter, led by hardware.\n",
}


def cfg(weight: float):
    return config_from_dict({"embedder": {"kind": "hash"}, "splitter": {"chunk_size": 60, "chunk_overlap": 0},
                             "search": {"document_weight": weight}})


@pytest.fixture
def filings_index(tmp_path):
    ingest(write_docs(tmp_path / "filings", FILINGS), tmp_path / "idx", cfg(1.0))
    return tmp_path / "idx"


def sparse_top(index, weight: float, query: str, k: int = 3, filters=None):
    with_weight = Searcher(index, cfg(weight))
    try:
        return [(r.source, r.text) for r in with_weight.search(query, mode="sparse", k=k, filters=filters)]
    finally:
        with_weight.close()


def evidence(chunk, document, weight):
    """Every row's combined score (0 where the chunk does not match), documents one per row."""
    rows, scores = matching_with_evidence(np.asarray(chunk), np.asarray(document), np.arange(len(chunk)), weight)
    full = np.zeros(len(chunk), dtype=np.float32)
    full[rows] = scores
    return full


def test_weight_zero_is_the_chunk_score_alone():
    chunk = np.array([3.0, 0.0, 1.5], dtype=np.float32)
    assert np.array_equal(evidence(chunk, np.array([0.0, 9.0, 9.0]), 0.0), chunk)


def test_a_chunk_without_a_query_term_stays_out_however_good_its_document():
    rows, combined = matching_with_evidence(np.array([2.0, 0.0]), np.array([1.0, 5.0]), np.array([0, 1]), 1.0)
    assert rows.tolist() == [0] and combined[0] > 0


def test_both_parts_are_scaled_by_their_best_and_weighed():
    combined = evidence(np.array([4.0, 2.0, 2.0]), np.array([1.0, 10.0, 0.0]), 0.5)
    assert np.allclose(combined, [1.0 + 0.05, 0.5 + 0.5, 0.5])


def test_no_document_match_leaves_the_chunk_order():
    chunk = np.array([1.0, 3.0, 2.0], dtype=np.float32)
    combined = evidence(chunk, np.zeros(3), 1.0)
    assert list(np.argsort(-combined)) == list(np.argsort(-chunk))


def test_rows_share_their_documents_score_and_the_best_document_sets_the_scale():
    # rows 0-2 in document 0, rows 3-4 in document 1; document 2 has no matching chunk but the best score
    rows, combined = matching_with_evidence(np.array([2.0, 0.0, 1.0, 4.0, 0.0]), np.array([1.0, 2.0, 4.0]),
                                            np.array([0, 0, 0, 1, 1]), 1.0)
    assert rows.tolist() == [0, 2, 3]
    assert np.allclose(combined, [0.5 + 0.25, 0.25 + 0.25, 1.0 + 0.5])


@pytest.mark.parametrize("seed", range(5))
def test_the_top_of_the_matching_rows_is_the_top_of_all_rows(seed):
    """top_among over the matching rows, and top_positive over every row, rank as a plain sort does (with filters)."""
    rng = np.random.default_rng(seed)
    scores = np.where(rng.random(500) < 0.3, rng.permutation(500) + 1, 0).astype(np.float32)
    allowed = np.sort(rng.choice(500, 200, replace=False)) if seed % 2 else None
    candidates = [row for row in range(500) if scores[row] > 0 and (allowed is None or row in set(allowed.tolist()))]
    for k in (1, 10, 400):
        expected = sorted(candidates, key=lambda row: (-scores[row], row))[:k]
        rows = np.flatnonzero(scores > 0)
        for got_rows, got_scores in (top_among(rows, scores[rows], k, allowed), top_positive(scores, k, allowed)):
            assert got_rows.tolist() == expected and np.array_equal(got_scores, scores[expected])


def sales_scores(index, weight: float) -> dict[str, float]:
    """Each filing's "net sales" chunk's sparse score for a question naming the first company."""
    searcher = Searcher(index, cfg(weight))
    try:
        results = searcher.search("Orangefruit total net sales", mode="sparse", k=20)
        return {r.source: r.score for r in results if "net sales" in r.text}
    finally:
        searcher.close()


def test_the_document_names_what_the_chunk_does_not(filings_index):
    alone, with_document = sales_scores(filings_index, 0.0), sales_scores(filings_index, 1.0)
    # The chunk alone barely tells the two sales sections apart (length only); its document does.
    assert abs(alone["filing-one.md"] - alone["filing-two.md"]) < 0.1 * max(alone.values())
    assert with_document["filing-one.md"] > with_document["filing-two.md"] + 0.5


def test_filters_hold_with_document_evidence(filings_index):
    top = sparse_top(filings_index, 1.0, "Orangefruit total net sales", filters={"source": "filing-two.md"})
    assert top and {source for source, _ in top} == {"filing-two.md"}


def test_every_row_maps_to_its_own_document(filings_index):
    loaded = open_index(filings_index)
    try:
        documents = loaded.documents
        chunks = loaded.docstore.get(range(loaded.docstore.count()))
        by_number: dict[int, set] = {}
        for row, number in enumerate(documents.row_document):
            by_number.setdefault(int(number), set()).add(chunks[row].source)
        assert documents.documents == 2 and all(len(sources) == 1 for sources in by_number.values())
        assert documents.size == loaded.docstore.count()
    finally:
        loaded.close()


def test_two_jsonl_files_reusing_an_id_are_two_documents(tmp_path):
    rows = [{"_id": "1", "text": "Zebras graze on the savanna."}]
    folder = write_docs(tmp_path / "corpus", {"a.jsonl": json.dumps(rows[0]) + "\n",
                                              "b.jsonl": json.dumps({**rows[0], "text": "Penguins swim."}) + "\n"})
    ingest(folder, tmp_path / "idx", cfg(1.0))
    loaded = open_index(tmp_path / "idx")
    try:
        assert loaded.documents.documents == 2
    finally:
        loaded.close()


def test_info_shows_the_document_index(filings_index):
    result = CliRunner().invoke(app, ["info", "--index", str(filings_index), "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["documents"] == 2 and data["sizes"]["documents"] > 0
    assert (current_generation(filings_index) / "documents" / "rows.npy").is_file()
    shown = CliRunner().invoke(app, ["info", "--index", str(filings_index)])
    assert "BM25 over whole documents" in shown.stdout


def test_incremental_ingest_rebuilds_the_document_index(filings_index, tmp_path):
    (tmp_path / "filings" / "filing-two.md").unlink()
    ingest(tmp_path / "filings", filings_index, cfg(1.0))
    loaded = open_index(filings_index)
    try:
        assert loaded.documents.documents == 1 and loaded.documents.size == loaded.docstore.count()
    finally:
        loaded.close()


def as_written_before_document_evidence(index) -> None:
    """Make the live generation look like one from before stop 7: no documents/ folder, no count of it."""
    generation = current_generation(index)
    shutil.rmtree(generation / "documents")
    manifest = read_manifest(generation)
    manifest.pop(CHECKSUM_KEY)
    manifest["integrity"]["counts"].pop("documents")
    manifest["integrity"]["files"] = {k: v for k, v in manifest["integrity"]["files"].items()
                                      if not k.startswith("documents/")}
    (generation / MANIFEST).unlink()
    checksum = write_manifest(generation, manifest)
    write_atomic(index / CURRENT, f"{generation.name} {checksum}\n")


def test_the_next_ingest_adds_a_missing_document_index_without_embedding(filings_index, tmp_path):
    as_written_before_document_evidence(filings_index)
    shown = CliRunner().invoke(app, ["info", "--index", str(filings_index)])
    assert shown.exit_code == 0 and "the next `ragkit ingest` adds one" in " ".join(shown.stdout.split())
    report = ingest(tmp_path / "filings", filings_index, cfg(1.0))   # no file changed
    loaded = open_index(filings_index)
    try:
        assert report.chunks_embedded == 0 and loaded.documents is not None and loaded.documents.documents == 2
    finally:
        loaded.close()


def test_a_one_document_corpus_ranks_as_the_chunks_alone(tmp_path):
    # Nothing to calibrate and nothing to tell apart: every chunk gets the same document score.
    ingest(write_docs(tmp_path / "one", {"only.md": FILINGS["filing-one.md"]}), tmp_path / "idx", cfg(1.0))
    alone = Searcher(tmp_path / "idx", cfg(0.0))
    with_document = Searcher(tmp_path / "idx", cfg(1.0))
    try:
        for query in ("total net sales", "Orangefruit quarterly report", "liquidity leases"):
            assert [r.chunk_id for r in alone.search(query, mode="sparse", k=10)] == \
                [r.chunk_id for r in with_document.search(query, mode="sparse", k=10)]
    finally:
        alone.close()
        with_document.close()
