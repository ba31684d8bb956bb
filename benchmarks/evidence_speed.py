"""The sparse side of the default hybrid search at 1M chunks: document evidence over every row vs over the matching rows.

Before (commit 3946b8a): each document score gathered for every row, the sum and the mask over
every row (``with_document_evidence``), then ``top_positive`` over every row. After: the same
scores computed for the rows whose own BM25 is positive only (``matching_with_evidence``,
``top_among``), as ``Searcher.sparse_ranking`` now does. Both on the same loaded indexes, the
same queries, alternating per query; checks that both give the same rows and scores.

    nice python benchmarks/evidence_speed.py --work benchmarks/out/scale-static/n1000000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, percentiles  # noqa: E402

DEPTH = 300


def before(chunk_scores, documents, query: str, weight: float = 1.0):
    """The code before: per-row document scores, arithmetic over every row, top_positive over every row."""
    from ragkit.store.base import top_positive

    document_scores = documents.sparse.scores(query)[documents.row_document]
    best_chunk = float(chunk_scores.max())
    if best_chunk <= 0:
        return top_positive(chunk_scores, DEPTH)
    best_document = float(document_scores.max())
    combined = chunk_scores / best_chunk
    if best_document > 0:
        combined = combined + weight * document_scores / best_document
    return top_positive(np.where(chunk_scores > 0, combined, 0.0).astype(np.float32), DEPTH)


def after(chunk_scores, documents, query: str, weight: float = 1.0):
    """The code now (Searcher.sparse_ranking's steps)."""
    from ragkit.retrieval.evidence import matching_with_evidence
    from ragkit.store.base import top_among

    rows, combined = matching_with_evidence(chunk_scores, documents.document_scores(query), documents.row_document, weight)
    return top_among(rows, combined, DEPTH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="a scale.py size folder (sparse/, documents/, queries.json)")
    args = parser.parse_args()
    from ragkit.store.backends.bm25s import BM25Index
    from ragkit.store.documents import DocumentIndex

    sparse, documents = BM25Index.load(args.work), DocumentIndex.load(args.work)
    queries = json.loads((args.work / "queries.json").read_text())
    times: dict[str, list[float]] = {"chunk_bm25": [], "before": [], "after": []}
    for query in queries[:2] + queries:   # two warm-up queries, then every query
        started = time.perf_counter()
        chunk_scores = sparse.scores(query)
        times["chunk_bm25"].append(time.perf_counter() - started)
        results = {}
        for name, run in (("before", before), ("after", after)):
            started = time.perf_counter()
            results[name] = run(chunk_scores, documents, query)
            times[name].append(time.perf_counter() - started)
        assert np.array_equal(results["before"][0], results["after"][0])
        assert np.allclose(results["before"][1], results["after"][1])
    report = {"machine": machine_info(), "work": str(args.work), "rows": documents.size,
              "documents": documents.documents, "queries": len(queries),
              **{name: percentiles(values[2:]) for name, values in times.items()}}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
