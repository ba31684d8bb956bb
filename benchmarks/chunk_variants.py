"""Issue 8 points 2 and 3: do chunks with a context line, or chunks that fit MiniLM's window, retrieve better?

    python benchmarks/chunk_variants.py --variant context [--sets scifact-train,scifact,msmarco,docugami]
    python benchmarks/chunk_variants.py --compare default,context,...

One variant per run (each builds its own indexes: one embedding job at a time). A variant is a
set of ``splitter`` settings over the default config (VARIANTS below); everything else is the
default. Per data set the index is built with ragkit.ingest.pipeline.ingest under
``<out>/chunks/<variant>/``, each query's dense and sparse top-300 rankings are cached as in
fusion_cache.py, and dense, sparse and hybrid (the default fusion, ``Searcher.fuse``) are scored
as in fusion_datasets.py: SciFact train (the split variants are chosen on) and test, nDCG@10;
msmarco-subset nDCG@10; docugami-sec-10q source hit@5 (and page hit@5). The ``default`` variant
is the baseline: its indexes and rankings are copied from the fusion runs (commit 115837b), so
they are scored by this same code. Also recorded: each index's chunk count and the length of
the indexed texts (context line + text) in MiniLM word pieces, and how many exceed its 256.

Writes <out>/chunk_variants-<variant>.json; --compare prints one table of several variants.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from fusion_cache import SHARED, Spec, load_rankings, specs  # noqa: E402
from fusion_datasets import fused_rows  # noqa: E402
from fusion_score import MAIN_METRIC, score_run  # noqa: E402

VARIANTS = {
    "default": {},
    "context": {"context": True},
    # 254 word pieces + [CLS] and [SEP] = MiniLM's 256; the overlap is ~10 %, as 100 of 1,000 characters.
    "wp254": {"length": "wordpieces", "chunk_size": 254, "chunk_overlap": 25},
    "wp254-context": {"length": "wordpieces", "chunk_size": 254, "chunk_overlap": 25, "context": True},
}

DEFAULT_SETS = "scifact-train,scifact,msmarco,docugami"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=common.OUT, help=f"output folder (default {common.OUT})")
    parser.add_argument("--variant", choices=sorted(VARIANTS), help="the splitter variant to build and score")
    parser.add_argument("--sets", default=DEFAULT_SETS, help=f"comma-separated data sets (default {DEFAULT_SETS}; also sample)")
    parser.add_argument("--compare", help="comma-separated variants already run: print their table")
    return parser.parse_args()


def config_for(variant: str):
    """The default config with the variant's splitter settings."""
    from ragkit.config import Config

    base = Config()
    return dataclasses.replace(base, splitter=dataclasses.replace(base.splitter, **VARIANTS[variant]))


def variant_spec(name: str, out: Path, variant: str) -> Spec:
    """Where ``name`` (scifact, scifact-train, msmarco, docugami) is ingested from and indexed to for ``variant``."""
    base, split = name.split("-")[0], "train" if name.endswith("-train") else "test"
    spec = specs(out, split)[base]
    folder = {"scifact": out / "chunks" / "scifact-corpus", "msmarco": out / "chunks" / "msmarco-corpus"}.get(base, spec.folder)
    return Spec(base, folder, out / "chunks" / variant / f"{base}-index", spec.load)


def ensure_variant_index(spec: Spec, cfg) -> dict:
    """Build the variant's index unless it exists; the chunk statistics of what the indexes saw."""
    from ragkit.ingest.pipeline import ingest

    corpus = {"scifact": SHARED / "scifact" / "corpus.jsonl", "msmarco": SHARED / "msmarco-subset" / "corpus.jsonl"}
    if spec.name in corpus and not (spec.folder / "corpus.jsonl").is_file():
        spec.folder.mkdir(parents=True, exist_ok=True)
        (spec.folder / "corpus.jsonl").write_bytes(corpus[spec.name].read_bytes())
    if not (spec.index / "CURRENT").is_file():
        with common.Timer() as t:
            report = ingest(spec.folder, spec.index, cfg)
        print(f"built {spec.index}: {report.chunks_total} chunks in {t.s:.0f}s", flush=True)
    return chunk_stats(spec.index)


def chunk_stats(index: Path) -> dict:
    """How many chunks, and the word-piece lengths of their indexed texts (p50/p90/p99/max, share over 256)."""
    import numpy as np

    from ragkit.embedders.local import LocalMiniLMEmbeddings
    from ragkit.store.index import open_index
    from ragkit.text.context import indexed_text

    opened = open_index(index)
    texts = [indexed_text(c.text, c.metadata) for c in opened.docstore.iter_chunks()]
    with_context = sum(1 for c in opened.docstore.iter_chunks() if c.metadata.get("context"))
    opened.close()
    embedder = LocalMiniLMEmbeddings()
    lengths = np.asarray(embedder.count_tokens(texts))
    p50, p90, p99 = np.percentile(lengths, [50, 90, 99])
    return {"chunks": len(texts), "with_context": with_context, "pieces_p50": int(p50), "pieces_p90": int(p90),
            "pieces_p99": int(p99), "pieces_max": int(lengths.max()),
            "over_window": round(float((lengths > embedder.max_tokens).mean()), 4),
            "chars_per_piece": round(sum(map(len, texts)) / float(lengths.sum()), 2)}


def run_dataset(name: str, out: Path, variant: str) -> dict:
    """Dense, sparse and hybrid metrics of one data set with the variant's index."""
    from ragkit.retrieval.search import Searcher

    spec = variant_spec(name, out, variant)
    stats = ensure_variant_index(spec, config_for(variant))
    tag = "-train" if name.endswith("-train") else ""
    rankings = load_rankings(spec, out / "chunks" / variant / "cache", tag=tag)
    searcher = Searcher(spec.index)
    runs = {"dense": score_run(rankings, [[r for r, _ in d] for d in rankings.dense]),
            "sparse": score_run(rankings, [[r for r, _ in s] for s in rankings.sparse]),
            "hybrid": score_run(rankings, fused_rows(searcher, rankings, {}))}
    searcher.close()
    return {"queries": len(rankings.dataset.queries), "metric": MAIN_METRIC[spec.name], "runs": runs, "chunks": stats}


def compare(out: Path, variants: list[str]) -> None:
    """One table: rows variant x retriever, columns data sets (main metric; docugami also page hit@5)."""
    tables = {v: json.loads((out / f"chunk_variants-{v}.json").read_text())["table"] for v in variants}
    names = list(tables[variants[0]])
    print(f"\n| variant | run | {' | '.join(names)} | docugami page_hit@5 |")
    print(f"|---|---|{'---|' * (len(names) + 1)}")
    for v in variants:
        for run in ("dense", "sparse", "hybrid"):
            cells = [f"{tables[v][n]['runs'][run][tables[v][n]['metric']]:.4f}" if n in tables[v] else "-" for n in names]
            page = tables[v].get("docugami", {}).get("runs", {}).get(run, {}).get("page_hit@5")
            print(f"| {v} | {run} | {' | '.join(cells)} | {page if page is not None else '-'} |")


def main() -> None:
    args = parse_args()
    out = args.out.resolve()
    if args.compare:
        compare(out, args.compare.split(","))
        return
    if not args.variant:
        sys.exit("error: pass --variant NAME or --compare A,B")
    machine = common.machine_info()
    table = {}
    for name in args.sets.split(","):
        with common.Timer() as t:
            table[name] = run_dataset(name, out, args.variant)
        print(f"{name}: {json.dumps(table[name])} ({t.s:.0f}s)", flush=True)
    suffix = "" if args.sets == DEFAULT_SETS else "-" + args.sets.replace(",", "-")
    path = common.write_json(out, f"chunk_variants-{args.variant}{suffix}.json",
                             {"machine": machine, "variant": args.variant, "splitter": VARIANTS[args.variant],
                              "table": table})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
