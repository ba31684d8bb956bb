"""Golden run: search results (chunk ids and scores) and the stores' manifest sections, recorded once in
tests/golden/search.json and compared to 1e-9 — a refactor of the stores (issue 21) must change none of them.

Scenarios: sample_docs with the bundled MiniLM and with the hash embedder; SciFact's 300 test queries over its
whole corpus (hash embedder, heavy tier; recorded after issue 21's refactor, which was checked equal by hand:
BENCHMARKS.md's SciFact figures to 4 decimals); a small folder of text, markdown,
HTML and JSONL ingested, changed and re-ingested (chunks carried forward); the Pinecone stand-in holding the
vectors and the BM25 weights, also re-ingested. Every mode (dense, sparse, hybrid), and a filtered search.

``RAGKIT_WRITE_GOLDEN=1 pytest tests/test_golden_search.py`` rewrites the file: only for a change of
results that is meant, and said so in the commit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from pinecone_server import serving

from ragkit.config import config_from_dict
from ragkit.ingest.pipeline import ingest
from ragkit.retrieval.search import Searcher
from ragkit.store.generations import current_generation
from ragkit.store.info import index_info
from ragkit.store.manifest import read_manifest

from conftest import BASIC_DOCS, SAMPLE_DOCS, SHARED, needs_data, write_docs

GOLDEN = Path(__file__).parent / "golden" / "search.json"
WRITE = os.environ.get("RAGKIT_WRITE_GOLDEN") == "1"
TOLERANCE = 1e-9
FAST = {"embedder": {"kind": "hash"}, "splitter": {"chunk_size": 300, "chunk_overlap": 30}}
MODES = ("dense", "sparse", "hybrid")
SAMPLE_QUERIES = ["chunk size", "hybrid retrieval with BM25", "how are answers cited", "evaluation metrics",
                  "PDF pages", "reciprocal rank fusion", "what does the field notes document say about tables"]
FOLDER_QUERIES = ["cats sleep during the day", "largest planet", "dog training commands", "red supergiant star",
                  "quantum chromodynamics"]
JSONL = "\n".join(json.dumps(r) for r in [
    {"_id": "n1", "title": "Otters", "text": "Sea otters hold hands while they sleep so they do not drift apart."},
    {"_id": "n2", "title": "Owls", "text": "Owls hunt at night and can turn their heads a long way."}]) + "\n"


def results(searcher: Searcher, queries: list[str], filters: dict | None = None) -> dict:
    """{mode: {query: [[chunk_id, score], ...]}} at k=10."""
    return {mode: {q: [[r.chunk_id, float(r.score)] for r in searcher.search(q, mode=mode, k=10, filters=filters)]
                   for q in queries} for mode in MODES}


def _hostless(value):
    """Loopback hosts carry a port that changes every run: compare them as <host>."""
    return json.loads(re.sub(r"http://127\.0\.0\.1:\d+", "<host>", json.dumps(value)))


def snapshot(index_dir: Path, cfg, queries: list[str], filters: dict | None = None) -> dict:
    """What a refactor of the stores must keep: the searches, and the store sections of manifest and info."""
    manifest = read_manifest(current_generation(index_dir))
    info = index_info(index_dir)
    searcher = Searcher(index_dir, cfg)
    try:
        found = results(searcher, queries)
        if filters:
            found["filtered"] = results(searcher, queries[:3], filters)
    finally:
        searcher.close()
    store = {"dense": manifest["dense"], "sparse": manifest["sparse"], "chunks": manifest["chunks"],
             "counts": manifest["integrity"]["counts"], "generation_files": sorted(manifest["integrity"]["files"]),
             "files": {rel: record["chunk_ids"] for rel, record in manifest["files"].items()},
             "info_dense": info["dense"], "info_sparse": info["sparse"]}
    return _hostless({"store": store, "results": found})


def check(name: str, got: dict) -> None:
    """Compare with (or, with RAGKIT_WRITE_GOLDEN=1, record into) the golden file's entry ``name``."""
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    if WRITE:
        GOLDEN.parent.mkdir(exist_ok=True)
        text = json.dumps({**golden, name: got}, indent=1, sort_keys=True)
        # One line per [chunk_id, score] pair: a diff of the file then reads as a diff of the rankings.
        GOLDEN.write_text(re.sub(r'\[\s+("[0-9a-f]+"),\s+(\S+)\s+\]', r"[\1, \2]", text) + "\n")
        return
    assert name in golden, f"no golden entry {name!r}: run with RAGKIT_WRITE_GOLDEN=1"
    _same(golden[name], got, name)


def _same(want, got, where: str) -> None:
    if isinstance(want, float) or isinstance(got, float):
        assert isinstance(got, (int, float)) and abs(want - got) <= TOLERANCE, f"{where}: {got!r} != {want!r}"
    elif isinstance(want, dict):
        assert isinstance(got, dict) and sorted(want) == sorted(got), f"{where}: keys {sorted(got)} != {sorted(want)}"
        for key in want:
            _same(want[key], got[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(want) == len(got), f"{where}: {got!r} != {want!r}"
        for n, (a, b) in enumerate(zip(want, got)):
            _same(a, b, f"{where}[{n}]")
    else:
        assert want == got, f"{where}: {got!r} != {want!r}"


def test_golden_sample_docs_minilm(tmp_path):
    cfg = config_from_dict({})
    ingest(SAMPLE_DOCS, tmp_path / "idx", cfg)
    check("sample_docs-minilm", snapshot(tmp_path / "idx", cfg, SAMPLE_QUERIES, {"source": "ragkit-guide.txt"}))


def test_golden_sample_docs_hash(tmp_path):
    cfg = config_from_dict(FAST)
    ingest(SAMPLE_DOCS, tmp_path / "idx", cfg)
    check("sample_docs-hash", snapshot(tmp_path / "idx", cfg, SAMPLE_QUERIES, {"source": "*.md"}))


def scifact_test_queries() -> list[str]:
    """SciFact's test queries (those with qrels), in the qrels file's order."""
    ids = []
    for line in (SHARED / "scifact" / "qrels.tsv").read_text().splitlines()[1:]:
        qid = line.split("\t")[0]
        if qid not in ids:
            ids.append(qid)
    texts = {str(r["_id"]): r["text"] for r in map(json.loads, (SHARED / "scifact" / "queries.jsonl").open())}
    return [texts[qid] for qid in ids]


@pytest.mark.integration
@needs_data(SHARED / "scifact" / "corpus.jsonl", "SciFact")
def test_golden_scifact_test_queries(tmp_path):
    folder = tmp_path / "scifact"
    folder.mkdir()
    shutil.copy2(SHARED / "scifact" / "corpus.jsonl", folder)   # the loader refuses a link out of the folder
    cfg = config_from_dict(FAST)
    ingest(folder, tmp_path / "idx", cfg)
    searcher = Searcher(tmp_path / "idx", cfg)
    try:
        check("scifact-hash", results(searcher, scifact_test_queries()))
    finally:
        searcher.close()


def change_folder(folder: Path) -> None:
    """Edit one file, remove one, add one: the next ingest carries the rest forward."""
    (folder / "cats.txt").write_text("Cats are curious felines. A cat sleeps in the sun and chases string.")
    (folder / "space" / "stars.html").unlink()
    write_docs(folder, {"space/moons.md": "# Moons\n\nEuropa hides an ocean under its ice. Titan has lakes of methane."})


def ingest_change_ingest(tmp_path, cfg) -> dict:
    """Ingest the multi-format folder, change it, ingest again: the snapshots before and after and the report."""
    folder = write_docs(tmp_path / "docs", {**BASIC_DOCS, "notes/animals.jsonl": JSONL})
    ingest(folder, tmp_path / "idx", cfg)
    first = snapshot(tmp_path / "idx", cfg, FOLDER_QUERIES, {"source": "space/*"})
    change_folder(folder)
    report = ingest(folder, tmp_path / "idx", cfg)
    second = snapshot(tmp_path / "idx", cfg, FOLDER_QUERIES, {"source": "space/*"})
    return {"first": first, "report": report.counts(), "second": second}


@pytest.mark.parametrize("dense_kind", ["flat", "hnsw"])
def test_golden_folder_incremental(tmp_path, dense_kind):
    cfg = config_from_dict({**FAST, "dense": {"index": dense_kind}})
    check(f"folder-{dense_kind}", ingest_change_ingest(tmp_path, cfg))


@pytest.mark.parametrize("where", ["dense", "sparse", "both"])
def test_golden_pinecone_stand_in_incremental(tmp_path, monkeypatch, where):
    with serving(monkeypatch, sparse=True) as server:
        options = {"host": server.indexes["dense"].host, "sparse_host": server.indexes["sparse"].host,
                   "namespace": "ns", "backoff_s": 0.01}
        backends = {"dense": {"backend": "pinecone"} if where != "sparse" else {},
                    "sparse": {"backend": "pinecone"} if where != "dense" else {}}
        cfg = config_from_dict({**FAST, **backends, "pinecone": options})
        recorded = ingest_change_ingest(tmp_path, cfg)
    check(f"pinecone-{where}", recorded)
