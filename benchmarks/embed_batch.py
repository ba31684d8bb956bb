"""Diagnostic: local embedder speed and peak memory by batch size and ORT memory arena.

    python benchmarks/embed_batch.py [--index DIR] [--n 256] [--rounds 2]

Takes --n chunk texts (fixed-seed sample) from benchmarks/out/scifact-index and embeds them
with ``LocalMiniLMEmbeddings(batch_size=B)`` in a fresh subprocess per measurement (so that
each peak RSS is its own), for B in 8, 16, 32, with onnxruntime's CPU memory arena on
(ragkit's default) or off, and with intra-op thread spinning off (one setting). Configurations run round-robin, --rounds times, so machine noise
spreads over all of them; reported: median texts/s, CPU seconds, peak RSS. Writes
benchmarks/out/embed_batch.json. ~6-7 min.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

CONFIGS = [(8, True, True), (16, True, True), (32, True, True), (8, False, True), (32, False, True), (32, True, False)]

CHILD = r"""
import json, resource, sys, time
import onnxruntime as ort
batch, arena, spin, path = int(sys.argv[1]), sys.argv[2] == "1", sys.argv[3] == "1", sys.argv[4]
if not arena or not spin:
    _Options = ort.SessionOptions
    def options():
        o = _Options()
        if not arena:
            o.enable_cpu_mem_arena = False
        if not spin:
            o.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return o
    ort.SessionOptions = options
from ragkit.embedders import LocalMiniLMEmbeddings
texts = json.load(open(path))
emb = LocalMiniLMEmbeddings(batch_size=batch)
emb._load()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
emb.embed_array(texts[:batch])  # warm-up
u0 = resource.getrusage(resource.RUSAGE_SELF); t0 = time.perf_counter()
emb.embed_array(texts)
t = time.perf_counter() - t0; u1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall_s": t, "cpu_s": (u1.ru_utime + u1.ru_stime) - (u0.ru_utime + u0.ru_stime),
                  "peak_rss_mb": u1.ru_maxrss / 1024, "rss_after_load_mb": base}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, default=common.OUT / "scifact-index")
    parser.add_argument("--out", type=Path, default=common.OUT)
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from ragkit.errors import StoreError
    from ragkit.store.generations import open_index

    try:
        index = open_index(args.index)
    except (StoreError, OSError) as exc:
        sys.exit(f"error: {exc} (run scifact_quality.py first, or pass --index)")
    texts = [c.text for c in index.docstore.iter_chunks()]
    index.close()
    texts = random.Random(13).sample(texts, min(args.n, len(texts)))
    args.out.mkdir(parents=True, exist_ok=True)
    sample = args.out / "embed_batch_texts.json"
    sample.write_text(json.dumps(texts))
    machine = common.machine_info()
    def label(b, a, s):
        return f"batch{b}_arena{'On' if a else 'Off'}{'' if s else '_nospin'}"

    runs: dict[str, list[dict]] = {label(*c): [] for c in CONFIGS}
    for r in range(args.rounds):
        for batch, arena, spin in CONFIGS:
            name = label(batch, arena, spin)
            out = subprocess.run([sys.executable, "-c", CHILD, str(batch), "1" if arena else "0", "1" if spin else "0",
                                  str(sample)],
                                 capture_output=True, text=True, check=True).stdout
            m = json.loads(out.strip().splitlines()[-1])
            runs[name].append(m)
            print(f"round {r + 1} {name:26s} {len(texts) / m['wall_s']:6.1f} texts/s  cpu {m['cpu_s']:.1f}s  "
                  f"peak {m['peak_rss_mb']:.0f} MB", flush=True)
    summary = {}
    for name, ms in runs.items():
        summary[name] = {"texts_per_s_median": round(statistics.median(len(texts) / m["wall_s"] for m in ms), 1),
                         "cpu_s_median": round(statistics.median(m["cpu_s"] for m in ms), 1),
                         "peak_rss_mb_max": round(max(m["peak_rss_mb"] for m in ms)),
                         "rss_after_load_mb": round(ms[0]["rss_after_load_mb"])}
    path = common.write_json(args.out, "embed_batch.json", {"machine": machine, "texts": len(texts),
                                                             "summary": summary, "runs": runs})
    print()
    for name, s in summary.items():
        print(f"{name:26s} {s['texts_per_s_median']:6.1f} texts/s  cpu {s['cpu_s_median']:5.1f}s  "
              f"peak {s['peak_rss_mb_max']} MB (after model load {s['rss_after_load_mb']} MB)")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
