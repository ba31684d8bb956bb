"""The optional backends against ragkit's local path, side by side in one run: ingest on Ray, Pinecone's store path.

    nice python benchmarks/backends.py ray --docs 100                            # BENCHMARKS.md, "Ray"
    PYTHONPATH=. nice python benchmarks/backends.py pinecone --queries 30        # BENCHMARKS.md, "Pinecone"

``ray``: ingest throughput on the same SciFact abstracts (one BEIR ``corpus.jsonl``: a single file, so parsing is
one task and this measures the embedding that bounds ingest): the embedder alone on the chunk texts (the
ceiling: no loading, no writing), then a full ``ingest`` with ``ingest.engine: local``, and with
``ingest.engine: ray`` and ``ray.workers`` 1 and 2. Ray starts once before the Ray runs (its start-up reported
apart). Chunks/s = chunks embedded / total ingest seconds. Writes ``benchmarks/out/ray_ingest/ray_ingest.json``.

``pinecone``: against the local stand-in (``tests/pinecone_server.py``; nothing leaves the machine).
(a) ingest SciFact's corpus (first N documents with --limit) locally (FAISS + bm25s), with dense on the
    stand-in, and with dense and sparse on it: the write step's time (``write_s``: docstore + BM25 + dense;
    Pinecone adds upserts and the visibility wait), the requests by route with their bytes, and the
    stand-in's own handling time;
(b) query latency over the test queries, local and Pinecone interleaved per query (dense, sparse, hybrid),
    with the stand-in's own time subtracted (client side = total - server time). The stand-in scores by
    brute force in Python: its time is not Pinecone's, and the network round trip is not measured.
The hash embedder on both sides: embedding costs the same whichever store follows. Writes
``benchmarks/out/pinecone_local.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

KEY = "benchmark-key"
BASE = {"embedder": {"kind": "hash"}}


def configs(server) -> dict:
    """The three set-ups: local, dense on the stand-in, dense and sparse on the stand-in."""
    from ragkit.config import config_from_dict

    where = {"host": server.indexes["dense"].host, "sparse_host": server.indexes["sparse"].host}
    return {"local": config_from_dict(BASE),
            "pinecone_dense": config_from_dict({**BASE, "dense": {"backend": "pinecone"},
                                                "pinecone": {**where, "namespace": "scifact-dense"}}),
            "pinecone_both": config_from_dict({**BASE, "dense": {"backend": "pinecone"}, "sparse": {"backend": "pinecone"},
                                               "pinecone": {**where, "namespace": "scifact-both"}})}


def ingest_all(folder: Path, root: Path, server) -> dict:
    """Report numbers of each set-up's ingest, with the requests it sent."""
    from ragkit.ingest.pipeline import ingest

    out = {}
    for name, cfg in configs(server).items():
        server.log.clear()
        report = ingest(folder, root / name, cfg)
        out[name] = {"chunks": report.chunks_total, "write_s": report.timings["write_s"],
                     "total_s": report.timings["total_s"]}
        if server.log:
            out[name].update({"requests": dict(Counter(f"{e['method']} {e['route']}" for e in server.log)),
                              "request_mb": round(sum(e["bytes"] for e in server.log) / 1e6, 2),
                              "server_s": round(sum(e.get("server_s", 0.0) for e in server.log), 3)})
    return out


def query_latency(root: Path, server, queries: list[str], mode: str, remote_name: str) -> dict:
    """Search latency in ``mode``, interleaved per query: local and Pinecone (with the stand-in's time apart)."""
    from ragkit.retrieval.search import Searcher

    cfgs = configs(server)
    local, remote = Searcher(root / "local", cfgs["local"]), Searcher(root / remote_name, cfgs[remote_name])
    local.search(queries[0], mode=mode), remote.search(queries[0], mode=mode)   # warm both
    timings: dict[str, list[float]] = {"local": [], "pinecone": [], "standin_server": []}  # seconds
    for query in queries:
        started = time.perf_counter()
        local.search(query, mode=mode, k=10)
        timings["local"].append(time.perf_counter() - started)
        server.log.clear()
        started = time.perf_counter()
        remote.search(query, mode=mode, k=10)
        timings["pinecone"].append(time.perf_counter() - started)
        timings["standin_server"].append(sum(e.get("server_s", 0.0) for e in server.log))
    local.close(), remote.close()
    client = [p - s for p, s in zip(timings["pinecone"], timings["standin_server"])]
    return {**{name: common.percentiles(values) for name, values in timings.items()},
            "pinecone_client_side": common.percentiles(client)}


def pinecone_main(args: argparse.Namespace) -> None:
    """``pinecone``: ingest and query latency, local against the Pinecone path on the stand-in."""
    sys.path.insert(0, str(common.REPO / "tests"))
    from pinecone_server import PineconeStandIn

    data = common.require_dataset(args.data)
    os.environ["PINECONE_API_KEY"] = KEY
    with tempfile.TemporaryDirectory() as tmp, PineconeStandIn(api_key=KEY) as server:
        root = Path(tmp)
        server.create_index("dense", 256)
        server.create_index("sparse", None, metric="dotproduct", vector_type="sparse")
        folder = common.make_corpus_folder(data, root / "corpus", args.limit)
        ingested = ingest_all(folder, root, server)
        queries = common.load_test_queries(data)[1][: args.queries]
        latency = {"dense": query_latency(root, server, queries, "dense", "pinecone_dense"),
                   "sparse": query_latency(root, server, queries, "sparse", "pinecone_both"),
                   "hybrid": query_latency(root, server, queries, "hybrid", "pinecone_both")}
    result = {"machine": common.machine_info(), "ingest": ingested, "query_latency": latency,
              "queries": len(queries), "limit": args.limit}
    path = common.write_json(args.out, "pinecone_local.json", result)
    for name, value in ingested.items():
        print(f"ingest {name}: {value}")
    for mode, values in latency.items():
        for name, value in values.items():
            print(f"{mode} {name}: {value}")
    print(f"wrote {path}")


def ray_main(args: argparse.Namespace) -> None:
    """``ray``: chunks/s of the raw embedder, the local engine and Ray with 1 and 2 workers."""
    from ragkit.config import Config
    from ragkit.embedders import build_embedder
    from ragkit.ingest.loaders import load_files
    from ragkit.ingest.pipeline import ingest, scan_sources
    from ragkit.ingest.splitters import make_splitter, split_with_parents
    from ragkit.text.context import indexed_text

    machine = common.machine_info()
    shutil.rmtree(args.out, ignore_errors=True)
    folder = common.make_corpus_folder(args.data, args.out / "docs", args.docs)
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
    common.write_json(args.out, "ray_ingest.json", {"machine": machine, "docs": args.docs, "ray_start_s": ray_start_s,
                                             "rows": rows})


def parse_args() -> argparse.Namespace:
    parser = common.parser(__doc__)
    sub = parser.add_subparsers(dest="backend", required=True, metavar="{ray,pinecone}")
    ray = sub.add_parser("ray", help="ingest on Ray (1 and 2 workers) vs the local engine and the raw embedder")
    ray.add_argument("--docs", type=int, default=400, help="first N SciFact documents (default 400)")
    pine = sub.add_parser("pinecone", help="the Pinecone path on the local stand-in vs local FAISS + bm25s")
    pine.add_argument("--limit", type=int, default=None, help="first N documents only")
    pine.add_argument("--queries", type=int, default=100, help="test queries timed per side")
    for each in (ray, pine):
        common.add_data_arg(each)
    args = parser.parse_args()
    if args.backend == "ray" and args.out == common.OUT:
        args.out = common.OUT / "ray_ingest"
    return args


def main() -> None:
    args = parse_args()
    (ray_main if args.backend == "ray" else pinecone_main)(args)


if __name__ == "__main__":
    main()
