"""llama-cpp-python with and without ``OMP_WAIT_POLICY=passive``, side by side in one run (issue 19).

    python benchmarks/omp_wait.py [--rounds 4] [--model FILE.gguf] [--tokens 64]

The variable is read once, when the OpenMP runtime loads with ``llama_cpp``, so each measurement is
its own subprocess: rounds alternate (default, passive, passive, default, …) so that both see the
same load from other jobs. Each subprocess imports faiss first (as ``ragkit ask`` does), builds
ragkit's local chat model (the shipped SmolLM2 unless ``--model``; 2 threads, no cache) and streams
the same prompts; "default" turns off ragkit's :func:`~ragkit.llm.local.quiet_openmp` (ragkit before
it), "passive" keeps it. Reports streamed pieces (llama.cpp tokens) per second and the time to the
first piece. Prints one JSON line per subprocess and a summary with the median ratio; writes
``benchmarks/out/omp_wait.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out" / "omp_wait.json"
PROMPTS = [
    "Rewrite into 3 search queries: how do rerankers improve retrieval?",
    "In one sentence, what is reciprocal rank fusion?",
    "Summarise: BM25 is a sparse retrieval function introduced in 1994 at City University London.",
    "List three uses of a vector index.",
    "What does a chunk overlap do when splitting documents?",
]

CHILD = r"""
import json, sys, time
import faiss  # noqa: F401  loaded first, as in `ragkit ask` (it bundles its own OpenMP copy)
import ragkit.llm.local as local
from ragkit.config import LLMConfig
from ragkit.llm import build_llm
path, tokens, prompts, passive = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4] == "passive"
if not passive:
    local.quiet_openmp = lambda: None  # ragkit before this change: the OpenMP default
llm = build_llm(LLMConfig(model=path, max_tokens=tokens, threads=2, cache=False))
t = time.perf_counter(); llm.complete("warm up", max_tokens=4); load = time.perf_counter() - t
n = secs = first = 0.0
for p in prompts:
    t = time.perf_counter(); got = None
    for piece in llm.stream(p):
        got = got or time.perf_counter() - t
        n += 1
    secs += time.perf_counter() - t; first += got or 0.0
print(json.dumps({"load_s": round(load, 2), "pieces": int(n), "tok_per_s": round(n / secs, 1),
                  "first_token_ms": round(1000 * first / len(prompts))}))
"""


def one(model: str, tokens: int, passive: bool) -> dict:
    """One subprocess: load ``model`` and time the prompts, with or without the passive policy."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    load_avg = os.getloadavg()[0]
    done = subprocess.run([sys.executable, "-c", CHILD, model, str(tokens), json.dumps(PROMPTS),
                           "passive" if passive else "default"], env=env,
                          capture_output=True, text=True, check=True)
    row = json.loads(done.stdout.strip().splitlines()[-1])
    return {"policy": "passive" if passive else "default", "load_avg_1m": round(load_avg, 2), **row}


def main() -> None:
    """Alternate the two policies for ``--rounds`` rounds and print the ratio of medians."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--model", default=None, help="a .gguf file (default: the shipped SmolLM2)")
    args = ap.parse_args()
    if args.model is None:
        sys.path.insert(0, str(REPO))
        from ragkit.llm.local import shipped_gguf
        args.model = str(shipped_gguf())
    rows = []
    for r in range(args.rounds):
        for passive in ((False, True) if r % 2 == 0 else (True, False)):
            rows.append({"round": r, **one(args.model, args.tokens, passive)})
            print(json.dumps(rows[-1]), flush=True)
    med = {p: {k: statistics.median(x[k] for x in rows if x["policy"] == p) for k in ("tok_per_s", "first_token_ms")}
           for p in ("default", "passive")}
    summary = {"model": Path(args.model).name, "rounds": args.rounds, "prompts": len(PROMPTS), "max_tokens": args.tokens,
               "median": med, "tok_per_s_ratio": round(med["passive"]["tok_per_s"] / med["default"]["tok_per_s"], 2),
               "first_token_ratio": round(med["default"]["first_token_ms"] / med["passive"]["first_token_ms"], 2)}
    print(json.dumps(summary), flush=True)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"runs": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
