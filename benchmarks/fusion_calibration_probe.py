"""Probe (issue 8): can synthetic queries from a corpus tell which retriever suits it?

    python benchmarks/fusion_calibration_probe.py [--out DIR] [--sets scifact,msmarco] [--n 200]

The idea of an ingest-time calibration: make known-answer queries from the corpus itself and
pick the fusion weights that find their source best. Here, for each data set's index (built by
fusion_datasets.py), ``--n`` chunks are sampled (seed 0) and two kinds of query made from each:
one of its sentences (6-40 words) as is, and 5 of that sentence's content words in random order
(a web-style keyword query). The answer is the chunk's unit (doc_id, page). Reported: MRR@10 of
dense, sparse, and convex fusion (max normalisation) at dense weights 0.3-0.8.

For calibration to work, the dense/sparse ratio it measures must follow the real one: on SciFact
BM25 is the better retriever (test nDCG@10 0.677 vs 0.646), on msmarco dense is (0.797 vs 0.727).
Writes benchmarks/out/fusion_calibration_probe.json.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from fusion_cache import specs  # noqa: E402

STOP = set("a an the of in on for to and or is are was were be by with as at from that this these those it its "
           "into than then which who whom what when where how not no can may also has have had been".split())


def make_queries(chunks: list, n: int, seed: int = 0) -> tuple[list[str], list[str], list[tuple]]:
    """(sentence queries, keyword queries, target units) from ``n`` sampled chunks."""
    rng = random.Random(seed)
    chunks = list(chunks)
    rng.shuffle(chunks)
    sentences, keywords, targets = [], [], []
    for chunk in chunks:
        candidates = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", chunk.text) if 6 <= len(s.split()) <= 40]
        if not candidates:
            continue
        sentence = rng.choice(candidates)
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z0-9-]+", sentence) if w.lower() not in STOP]
        if len(words) < 4:
            continue
        sentences.append(sentence)
        keywords.append(" ".join(rng.sample(words, min(5, len(words)))))
        targets.append((chunk.doc_id, chunk.page))
        if len(sentences) >= n:
            break
    return sentences, keywords, targets


def mrr_at_10(rankings: list[list[int]], targets: list[tuple], units: dict) -> float:
    total = 0.0
    for rows, target in zip(rankings, targets):
        order = list(dict.fromkeys(units[r] for r in rows))[:10]
        total += 1 / (order.index(target) + 1) if target in order else 0.0
    return round(total / max(len(targets), 1), 4)


def probe(index: Path, n: int) -> dict:
    from ragkit.retrieval.fusion import unit_fusion
    from ragkit.retrieval.search import Searcher

    searcher = Searcher(index)
    chunks = list(searcher.index.docstore.iter_chunks())
    units = {c.row: (c.doc_id, c.page) for c in chunks}
    sentences, keywords, targets = make_queries(chunks, n)
    out = {}
    for kind, queries in (("sentence", sentences), ("keywords", keywords)):
        dense = searcher.dense_ranking(searcher.embedder.embed_array(queries), 100, None)
        sparse = [searcher.sparse_ranking(q, 100, None) for q in queries]
        row = {"queries": len(queries), "dense": mrr_at_10([[r for r, _ in d] for d in dense], targets, units),
               "sparse": mrr_at_10([[r for r, _ in s] for s in sparse], targets, units)}
        for weight in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
            fused = [[r for r, _ in unit_fusion([d, s], units, [weight, 1 - weight], "convex", normalization="max")]
                     for d, s in zip(dense, sparse)]
            row[f"convex_max_dense{weight}"] = mrr_at_10(fused, targets, units)
        out[kind] = row
    searcher.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=common.OUT)
    parser.add_argument("--sets", default="scifact,msmarco")
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    machine = common.machine_info()
    results = {name: probe(specs(args.out.resolve())[name].index, args.n) for name in args.sets.split(",")}
    for name, kinds in results.items():
        for kind, row in kinds.items():
            print(name, kind, row)
    print(f"wrote {common.write_json(args.out, 'fusion_calibration_probe.json', {'machine': machine, 'results': results})}")


if __name__ == "__main__":
    main()
