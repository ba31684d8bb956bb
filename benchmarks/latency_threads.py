"""Diagnostic: single-query search latency vs thread settings (FAISS OpenMP threads, ORT spinning).

    python benchmarks/latency_threads.py [--index DIR] [--rounds 2] [--queries 300]

On a 2-core machine, FAISS's OpenMP pool and onnxruntime's intra-op pool (which spins after
each run by default) compete for the same cores. Each setting runs in a fresh subprocess
against benchmarks/out/scifact-index: ``Searcher.search_many([q], mode, k=10)`` for every test
query, the three modes interleaved per query (as scifact_quality.py does), one warm-up call
per mode. Settings, run round-robin --rounds times:

- ``default``: ragkit as shipped (FAISS uses all cores, ORT spins);
- ``faiss1``: ``faiss.omp_set_num_threads(1)`` before searching;
- ``nospin``: ORT session option ``session.intra_op.allow_spinning = 0``;
- ``faiss1_nospin``: both.

Nothing in ragkit is modified: the settings are applied from outside (a faiss call and a
wrapped ``onnxruntime.SessionOptions``). Writes benchmarks/out/latency_threads.json. ~3 min.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

SETTINGS = ("default", "faiss1", "nospin", "faiss1_nospin")

CHILD = r"""
import json, sys, time
setting, index_dir, data, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
sys.path.insert(0, sys.argv[5])
import onnxruntime as ort
if "nospin" in setting:
    _Options = ort.SessionOptions
    def options():
        o = _Options()
        o.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return o
    ort.SessionOptions = options
import faiss
if "faiss1" in setting:
    faiss.omp_set_num_threads(1)
import common
from ragkit.config import Config
from ragkit.retrieval.search import Searcher
qids, texts, qrels = common.load_test_queries(common.Path(data))
texts = texts[:n]
s = Searcher(common.Path(index_dir), Config())
modes = ("sparse", "dense", "hybrid")
for m in modes:
    s.search_many([texts[0]], mode=m, k=10)
times = {m: [] for m in modes}
for q in texts:
    for m in modes:
        t0 = time.perf_counter()
        s.search_many([q], mode=m, k=10)
        times[m].append(time.perf_counter() - t0)
print(json.dumps({m: common.percentiles(v) for m, v in times.items()}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_data_arg(parser)
    parser.add_argument("--index", type=Path, default=None, help="default <out>/scifact-index")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    common.require_dataset(args.data)
    args.out = args.out.resolve()
    index_dir = args.index or args.out / "scifact-index"
    if not (index_dir / "CURRENT").is_file():
        sys.exit(f"error: no index at {index_dir}; run scifact_quality.py first or pass --index")
    machine = common.machine_info()
    runs: dict[str, list[dict]] = {s: [] for s in SETTINGS}
    for r in range(args.rounds):
        for setting in SETTINGS:
            out = subprocess.run([sys.executable, "-c", CHILD, setting, str(index_dir), str(args.data),
                                  str(args.queries), str(Path(__file__).resolve().parent)],
                                 capture_output=True, text=True, check=True).stdout
            res = json.loads(out.strip().splitlines()[-1])
            runs[setting].append(res)
            print(f"round {r + 1} {setting:14s} " + "  ".join(
                f"{m} p50 {res[m]['p50_ms']:6.2f} p95 {res[m]['p95_ms']:6.2f}" for m in res), flush=True)
    summary = {s: {m: {"p50_ms_median": round(statistics.median(x[m]["p50_ms"] for x in rs), 2),
                       "p95_ms_median": round(statistics.median(x[m]["p95_ms"] for x in rs), 2)}
                   for m in ("sparse", "dense", "hybrid")} for s, rs in runs.items()}
    path = common.write_json(args.out, "latency_threads.json", {"machine": machine, "queries": args.queries,
                                                                 "summary": summary, "runs": runs})
    print()
    print(f"{'setting':14s} " + " ".join(f"{m + ' p50/p95 ms':>22s}" for m in ("sparse", "dense", "hybrid")))
    for s, row in summary.items():
        print(f"{s:14s} " + " ".join(f"{row[m]['p50_ms_median']:>12.2f}/{row[m]['p95_ms_median']:<9.2f}"
                                     for m in ("sparse", "dense", "hybrid")))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
