"""Ingest throughput on Ray (1 and 2 embedding actors) against the local engine and the embedder's raw speed.

Side by side in one run, on the same SciFact abstracts (one BEIR ``corpus.jsonl``: a single file,
so parsing is one task and this measures the embedding that bounds ingest): the embedder alone on the chunk texts (the ceiling: no loading, no writing), then a full
``ingest`` with ``ingest.engine: local``, and with ``ingest.engine: ray`` and ``ray.workers`` 1 and 2.
Ray starts once before the Ray runs (its start-up is reported apart). Chunks/s = chunks embedded
/ total ingest seconds.

    nice python benchmarks/ray_ingest.py --docs 400
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DEFAULT_DATA, OUT, machine_info, make_corpus_folder, write_json  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=400)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=OUT / "ray_ingest")
    args = parser.parse_args()
    from ragkit.config import Config
    from ragkit.embedders import build_embedder
    from ragkit.ingest.loaders import load_files
    from ragkit.ingest.pipeline import ingest, scan_sources
    from ragkit.ingest.splitters import make_splitter, split_with_parents
    from ragkit.text.context import indexed_text

    machine = machine_info()
    shutil.rmtree(args.out, ignore_errors=True)
    folder = make_corpus_folder(args.data, args.out / "docs", args.docs)
    cfg = Config()
    embedder = build_embedder(cfg.embedder)
    scan = scan_sources(folder, args.out / "idx")
    splitter = make_splitter(cfg.splitter)
    texts = [indexed_text(c.page_content, c.metadata) for _, docs in load_files(folder, scan.files, cfg.loader)
             for c in split_with_parents(docs, cfg.splitter, splitter)[0]]
    embedder.embed_array(texts[:16])  # model loaded and warm
    started = time.perf_counter()
    embedder.embed_array(texts)
    raw_s = time.perf_counter() - started
    rows = [{"run": "embedder alone (raw)", "chunks": len(texts), "seconds": round(raw_s, 2),
             "chunks_per_s": round(len(texts) / raw_s, 1)}]
    print(rows[-1], flush=True)
    runs = [("local engine", cfg)]
    for workers in (1, 2):
        runs.append((f"ray, {workers} worker{'s' * (workers > 1)}",
                     replace(cfg, ingest=replace(cfg.ingest, engine="ray"), ray=replace(cfg.ray, workers=workers))))
    ray_start_s = None
    for name, run_cfg in runs:
        if run_cfg.ingest.engine == "ray" and ray_start_s is None:
            from ragkit.ingest.ray_engine import start_ray

            started = time.perf_counter()
            start_ray(None)
            ray_start_s = round(time.perf_counter() - started, 2)
        index = args.out / f"idx-{len(rows)}"
        report = ingest(folder, index, run_cfg, embedder=embedder)
        total = report.timings["total_s"]
        rows.append({"run": name, "chunks": report.chunks_embedded, "seconds": total,
                     "chunks_per_s": round(report.chunks_embedded / total, 1)})
        print(rows[-1], flush=True)
    write_json(args.out, "ray_ingest.json", {"machine": machine, "docs": args.docs, "ray_start_s": ray_start_s,
                                             "rows": rows})


if __name__ == "__main__":
    main()
