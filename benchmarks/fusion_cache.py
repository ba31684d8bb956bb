"""Per data set: the index (built once with the default config) and each query's cached rankings.

Used by fusion_datasets.py. A data set's rankings are computed once with the functions ragkit's
hybrid search uses (``Searcher.dense_ranking`` / ``sparse_ranking``, ``depth`` candidates a side)
and stored as ``<out>/fusion/cache/<name>.npz`` (numeric arrays only, read without pickle) plus
``<name>-units.json`` (row -> [doc_id, page, source]), so fusion strategies are compared offline
in seconds.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ragkit.evaluation.datasets import Dataset, load_beir, load_qa

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Rankings:
    """One data set's queries with their dense and sparse chunk rankings, and every row's unit."""

    dataset: Dataset
    dense: list[list[tuple[int, float]]]
    sparse: list[list[tuple[int, float]]]
    units: dict[int, tuple[str, object, str]] = field(default_factory=dict)   # row -> (doc_id, page, source)
    sparse_chunk: list[list[tuple[int, float]]] = field(default_factory=list)  # BM25 of the chunk alone (document_weight 0)


@dataclass(frozen=True)
class Spec:
    """Where a data set lives and how its index is built."""

    name: str
    folder: Path          # what is ingested
    index: Path
    load: object          # () -> Dataset


def specs(out: Path, scifact_split: str = "test") -> dict[str, Spec]:
    """The four data sets of issue 8, each with its index location under ``out``."""
    scifact, msmarco, docugami = SHARED / "scifact", SHARED / "msmarco-subset", SHARED / "docugami-sec-10q"
    fusion = out / "fusion"
    queries = {"test": ("queries.jsonl", "qrels.tsv"), "train": ("queries_train.jsonl", "qrels_train.tsv")}[scifact_split]
    return {
        "scifact": Spec("scifact", out / "scifact-corpus", out / "scifact-index",
                        lambda: load_beir("scifact", scifact / "corpus.jsonl", scifact / queries[0], scifact / queries[1])),
        "msmarco": Spec("msmarco", fusion / "msmarco-corpus", fusion / "msmarco-index",
                        lambda: load_beir("msmarco", msmarco / "corpus.jsonl", msmarco / "queries.jsonl", msmarco / "qrels.tsv")),
        "docugami": Spec("docugami", docugami / "docs", fusion / "docugami-index",
                         lambda: load_qa("docugami", docugami / "docs", docugami / "qa.jsonl", fields={"answers": "answer"})),
        "sample": Spec("sample", REPO / "sample_docs", fusion / "sample-index",
                       lambda: load_qa("sample", REPO / "sample_docs", REPO / "benchmarks" / "sample_docs_qa.jsonl")),
    }


def ensure_index(spec: Spec, corpus_file: Path | None = None) -> None:
    """Build ``spec.index`` with the default config unless it exists (BEIR sets: a folder holding corpus.jsonl)."""
    if (spec.index / "CURRENT").is_file():
        return
    from ragkit.config import Config
    from ragkit.ingest.pipeline import ingest

    if corpus_file is not None and not (spec.folder / "corpus.jsonl").is_file():
        spec.folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(corpus_file, spec.folder / "corpus.jsonl")
    report = ingest(spec.folder, spec.index, Config())
    print(f"built {spec.index}: {report.chunks_total} chunks, {report.timings}", flush=True)


def _pairs(rows: np.ndarray, scores: np.ndarray) -> list[list[tuple[int, float]]]:
    return [[(int(r), float(s)) for r, s in zip(rr, ss) if r >= 0] for rr, ss in zip(rows, scores)]


def _pad(lists: list[list[tuple[int, float]]], depth: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.full((len(lists), depth), -1, dtype=np.int64)
    scores = np.zeros((len(lists), depth), dtype=np.float32)
    for i, items in enumerate(lists):
        for j, (row, score) in enumerate(items[:depth]):
            rows[i, j], scores[i, j] = row, score
    return rows, scores


def load_rankings(spec: Spec, cache_dir: Path, depth: int = 300, tag: str = "") -> Rankings:
    """The cached rankings of ``spec``'s queries, computed (and cached) on first use."""
    dataset = spec.load()
    cache_dir.mkdir(parents=True, exist_ok=True)
    npz, units_file = cache_dir / f"{spec.name}{tag}.npz", cache_dir / f"{spec.name}-units.json"
    if npz.is_file() and units_file.is_file():
        data = np.load(npz, allow_pickle=False)
        units = {int(k): tuple(v) for k, v in json.loads(units_file.read_text()).items()}
        return Rankings(dataset, _pairs(data["dense_rows"], data["dense_scores"]),
                        _pairs(data["sparse_rows"], data["sparse_scores"]), units,
                        _pairs(data["chunk_rows"], data["chunk_scores"]) if "chunk_rows" in data else [])
    import dataclasses

    from ragkit.retrieval.search import Searcher

    searcher = Searcher(spec.index)
    texts = [text for _, text in dataset.queries]
    dense = searcher.dense_ranking(searcher.embedder.embed_array(texts), depth, None)
    sparse = [searcher.sparse_ranking(text, depth, None) for text in texts]
    cfg = searcher.cfg
    searcher.cfg = dataclasses.replace(cfg, search=dataclasses.replace(cfg.search, document_weight=0.0))
    chunk = [searcher.sparse_ranking(text, depth, None) for text in texts]
    units = {c.row: (c.doc_id, c.page, c.source) for c in searcher.index.docstore.iter_chunks()}
    searcher.close()
    (dr, ds), (sr, ss), (cr, cs) = _pad(dense, depth), _pad(sparse, depth), _pad(chunk, depth)
    np.savez(npz, dense_rows=dr, dense_scores=ds, sparse_rows=sr, sparse_scores=ss, chunk_rows=cr, chunk_scores=cs)
    units_file.write_text(json.dumps({str(k): list(v) for k, v in units.items()}))
    return Rankings(dataset, _pairs(dr, ds), _pairs(sr, ss), units, _pairs(cr, cs))
