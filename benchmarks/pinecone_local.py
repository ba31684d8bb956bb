"""Pinecone path vs local FAISS, against the local stand-in (tests/pinecone_server.py), side by side.

(a) ingest SciFact's corpus (first N documents with --limit) locally (FAISS + bm25s), with dense on
    the stand-in, and with dense and sparse on the stand-in: write-step time (the ingest's
    ``write_s``: docstore + BM25 + dense; Pinecone adds upserts and the visibility wait), the
    requests sent, by route, with their bytes, and the stand-in's own handling time;
(b) query latency over the test queries, local and Pinecone interleaved per query — dense (FAISS vs
    Pinecone), sparse (bm25s vs the sparse index: one top-10,000 query) and hybrid (local vs both
    on Pinecone) — with the stand-in's own handling time reported apart (client-side overhead =
    total - server time). The stand-in scores by brute force in pure Python: its time is not
    Pinecone's.

The hash embedder is used on both sides: embedding costs the same whichever store follows it, and
this measures the store path. Run: ``PYTHONPATH=. nice python benchmarks/pinecone_local.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import common

sys.path.insert(0, str(common.REPO / "tests"))
from pinecone_server import PineconeStandIn  # noqa: E402

from ragkit.config import config_from_dict  # noqa: E402
from ragkit.ingest.pipeline import ingest  # noqa: E402
from ragkit.retrieval.search import Searcher  # noqa: E402

KEY = "benchmark-key"
BASE = {"embedder": {"kind": "hash"}}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.add_data_arg(parser)
    parser.add_argument("--limit", type=int, default=None, help="first N documents only")
    parser.add_argument("--queries", type=int, default=100, help="test queries timed per side")
    return parser.parse_args()


def configs(server: PineconeStandIn) -> dict:
    """The three set-ups: local, dense on the stand-in, dense and sparse on the stand-in."""
    where = {"host": server.indexes["dense"].host, "sparse_host": server.indexes["sparse"].host}
    return {"local": config_from_dict(BASE),
            "pinecone_dense": config_from_dict({**BASE, "dense": {"backend": "pinecone"},
                                                "pinecone": {**where, "namespace": "scifact-dense"}}),
            "pinecone_both": config_from_dict({**BASE, "dense": {"backend": "pinecone"}, "sparse": {"backend": "pinecone"},
                                               "pinecone": {**where, "namespace": "scifact-both"}})}


def ingest_all(folder: Path, root: Path, server: PineconeStandIn) -> dict:
    """Report numbers of each set-up's ingest, with the requests it sent."""
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


def query_latency(root: Path, server: PineconeStandIn, queries: list[str], mode: str, remote_name: str) -> dict:
    """Search latency in ``mode``, interleaved per query: local and Pinecone (with the stand-in's time apart)."""
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


def main() -> None:
    args = parse_args()
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


if __name__ == "__main__":
    main()
