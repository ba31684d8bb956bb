"""Pinecone path vs local FAISS, against the local stand-in (tests/pinecone_server.py), side by side.

(a) ingest SciFact's corpus (first N documents with --limit) into FAISS and into the stand-in:
    write-step time (the ingest's ``write_s``: docstore + BM25 + dense; Pinecone adds upserts and
    the visibility wait), and the requests sent, by route, with their bytes;
(b) dense query latency over the test queries, local FAISS and Pinecone interleaved, with the
    stand-in's own handling time reported apart (client-side overhead = total - server time).

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


def ingest_both(folder: Path, root: Path, server: PineconeStandIn) -> tuple[dict, dict]:
    """(local report numbers, pinecone report numbers + requests)."""
    local_cfg = config_from_dict(BASE)
    pc_cfg = config_from_dict({**BASE, "dense": {"backend": "pinecone"},
                               "pinecone": {"host": server.indexes["dense"].host, "namespace": "scifact"}})
    local = ingest(folder, root / "local", local_cfg)
    server.log.clear()
    remote = ingest(folder, root / "pinecone", pc_cfg)
    routes = Counter(f"{e['method']} {e['route']}" for e in server.log)
    sent = sum(e["bytes"] for e in server.log)
    return ({"chunks": local.chunks_total, "write_s": local.timings["write_s"], "total_s": local.timings["total_s"]},
            {"chunks": remote.chunks_total, "write_s": remote.timings["write_s"], "total_s": remote.timings["total_s"],
             "requests": dict(routes), "request_mb": round(sent / 1e6, 2),
             "server_s": round(sum(e.get("server_s", 0.0) for e in server.log), 3)})


def query_latency(root: Path, server: PineconeStandIn, queries: list[str]) -> dict:
    """Dense search latency, interleaved per query: local FAISS and Pinecone (with the stand-in's time apart)."""
    local = Searcher(root / "local", config_from_dict(BASE))
    remote = Searcher(root / "pinecone", config_from_dict({**BASE, "dense": {"backend": "pinecone"}}))
    local.search(queries[0], mode="dense"), remote.search(queries[0], mode="dense")   # warm both
    timings: dict[str, list[float]] = {"faiss": [], "pinecone": [], "standin_server": []}  # seconds
    for query in queries:
        started = time.perf_counter()
        local.search(query, mode="dense", k=10)
        timings["faiss"].append(time.perf_counter() - started)
        server.log.clear()
        started = time.perf_counter()
        remote.search(query, mode="dense", k=10)
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
        folder = common.make_corpus_folder(data, root / "corpus", args.limit)
        local, remote = ingest_both(folder, root, server)
        queries = common.load_test_queries(data)[1][: args.queries]
        latency = query_latency(root, server, queries)
    result = {"machine": common.machine_info(), "ingest": {"faiss": local, "pinecone_standin": remote},
              "dense_query_latency": latency, "queries": len(queries), "limit": args.limit}
    path = common.write_json(args.out, "pinecone_local.json", result)
    print(f"ingest faiss: {local}\ningest pinecone (stand-in): {remote}")
    for name, value in latency.items():
        print(f"{name}: {value}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
