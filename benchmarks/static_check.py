"""Are the static vectors of ``scale.py --vectors static`` harder or easier for HNSW than real MiniLM ones?

Takes an index ragkit ingested with the default (MiniLM) embedder, and compares HNSW recall@10
against exact search, per efSearch, on its own MiniLM vectors and on static vectors
(benchmarks/static_vectors.py) of the same chunk texts (context line + text, as indexed), queries
embedded each way. Same sizes, same texts, same HNSW settings (ragkit's defaults): only the
vectors differ, so the gap says how far the 1M static-vector numbers are from what MiniLM would give.

    python benchmarks/static_check.py --index ../main/benchmarks/out/scifact-index --data ../shared/datasets/scifact
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import static_vectors  # noqa: E402
from common import OUT, machine_info  # noqa: E402
from scale import query_texts  # noqa: E402

EF_SEARCH = (16, 32, 64, 128, 256, 512)


def hnsw_recall(vectors: np.ndarray, queries: np.ndarray) -> dict[int, float]:
    """recall@10 of ragkit's HNSW (default M and efConstruction) against exact search, per efSearch."""
    from ragkit.store.backends.faiss.ann import FaissDenseIndex

    flat = FaissDenseIndex(vectors.shape[1])
    flat.add(vectors)
    exact = flat.search(queries, 10)[0]
    hnsw = FaissDenseIndex(vectors.shape[1], kind="hnsw")
    hnsw.add(vectors)
    hnsw.build()
    out = {}
    for ef in EF_SEARCH:
        hnsw.index.hnsw.efSearch = ef
        rows = hnsw.search(queries, 10)[0]
        out[ef] = round(float(np.mean([len(set(r) & set(e)) / 10 for r, e in zip(rows, exact)])), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="an index ingested with the local MiniLM embedder")
    parser.add_argument("--data", type=Path, required=True, help="its BEIR data set (for the queries)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path, default=OUT / "static_check.json")
    args = parser.parse_args()
    from ragkit.config import EmbedderConfig
    from ragkit.embedders import build_embedder
    from ragkit.store.index import open_index

    index = open_index(args.index)
    minilm = index.dense.vectors()
    texts = [f"{c.metadata['context']}\n{c.text}" if c.metadata.get("context") else c.text
             for c in index.docstore.iter_chunks()]
    index.close()
    queries = query_texts(args.data, args.queries)
    table = static_vectors.piece_table(OUT / "static-minilm-pieces.npy")
    row = {"index": str(args.index), "chunks": len(texts), "queries": len(queries),
           "minilm": hnsw_recall(minilm, build_embedder(EmbedderConfig()).embed_array(queries)),
           "static": hnsw_recall(static_vectors.embed(texts, table), static_vectors.embed(queries, table))}
    print(json.dumps(row), flush=True)
    rows = json.loads(args.out.read_text())["rows"] if args.out.exists() else []
    args.out.write_text(json.dumps({"machine": machine_info(), "rows": rows + [row]}, indent=1))


if __name__ == "__main__":
    main()
