"""PDF ingest, old sequential path vs parsing overlapped with embedding, A/B interleaved in one run.

    python benchmarks/pdf_ingest_overlap.py [--filings N] [--repeats R] [--workers 1,2] [--old-ref REF]

Corpus: the 4 PDFs of <datasets>/pdfs plus the first N 10-Q filings of
<datasets>/docugami-sec-10q/docs (copied into benchmarks/out/, as a user's folder). Each run is a
fresh process ingesting into a fresh index with the local embedder (model load included, as for a
user): "old" runs ragkit as of --old-ref (extracted with `git archive`: load and split everything,
then embed), "new" runs this checkout with loader.workers = each of --workers. Runs are
interleaved, the order rotating each repeat, so drift in the machine's load hits every variant.

Per run: wall seconds of the child's ingest() call, ragkit's own timings and ratio total_s / embed_s,
the child's CPU seconds (its own plus its PDF workers'). Summary: the new total against the old
total and against the old embed_s (the embedder's own time with nothing else running), and how
embed_s itself changed (contention from the PDF workers on 2 cores).
Writes benchmarks/out/pdf_ingest_overlap[-filingsN].json after every run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

DATASETS = common.REPO.parent / "shared" / "datasets"
DEFAULT_OLD_REF = "262926a"  # the commit before overlapping (issue 8, point 4)

_CHILD = """
import json, resource, sys, time
from ragkit.config import config_from_dict
from ragkit.ingest.pipeline import ingest
folder, index_dir, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
cfg = config_from_dict({"embedder": {"kind": "local"}, "loader": {"workers": workers}})
started = time.perf_counter()
report = ingest(folder, index_dir, cfg, rebuild=True)
wall = time.perf_counter() - started
cpu = sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                            resource.getrusage(resource.RUSAGE_CHILDREN)))
print(json.dumps({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "timings": report.timings,
                  "counts": report.counts(), "chunks": report.chunks_total,
                  "failed": [f["source"] for f in report.failed]}))
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--filings", type=int, default=5, help="how many 10-Q filings besides the 4 PDFs (max 20)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workers", default="1,2", help="loader.workers values for the new path")
    parser.add_argument("--old-ref", default=DEFAULT_OLD_REF, help="git commit of the sequential path")
    parser.add_argument("--out", type=Path, default=common.OUT)
    args = parser.parse_args()
    args.out = args.out.resolve()
    return args


def make_corpus(out: Path, filings: int) -> Path:
    """The 4 PDFs plus the first ``filings`` 10-Qs, copied into one folder."""
    folder = out / f"pdf_overlap_corpus-{filings}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    pdfs = sorted((DATASETS / "pdfs").glob("*.pdf"))
    tenqs = sorted((DATASETS / "docugami-sec-10q" / "docs").glob("*.pdf"))[:filings]
    if len(pdfs) < 4 or len(tenqs) < filings:
        sys.exit(f"error: datasets missing under {DATASETS} (pdfs/, docugami-sec-10q/docs/)")
    for path in pdfs + tenqs:
        shutil.copy2(path, folder / path.name)
    return folder


def old_source(out: Path, ref: str) -> Path:
    """ragkit as of ``ref``, extracted (no worktree, no change to the repository)."""
    target = out / f"old-src-{ref}"
    if not (target / "ragkit").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(common.REPO), "archive", ref, "ragkit"],
                                 check=True, capture_output=True).stdout
        tar_path = target / "src.tar"
        tar_path.write_bytes(archive)
        with tarfile.open(tar_path) as tar:
            tar.extractall(target, filter="data")
        tar_path.unlink()
    return target


def run_one(src: Path, folder: Path, index_dir: Path, workers: int) -> dict:
    """One ingest in a fresh process with ragkit from ``src``, into a fresh index."""
    shutil.rmtree(index_dir, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, "-c", _CHILD, str(folder), str(index_dir), str(workers)],
                          env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    t = result["timings"]
    result["ratio_total_over_embed_s"] = round(t["total_s"] / t["embed_s"], 3)
    result["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    shutil.rmtree(index_dir, ignore_errors=True)
    return result


def summarise(runs: list[dict]) -> dict:
    """Medians per variant, and new against old."""
    by: dict[str, list[dict]] = {}
    for run in runs:
        by.setdefault(run["variant"], []).append(run)

    def med(items: list[dict], key) -> float:
        return round(statistics.median(key(r) for r in items), 2)

    out = {name: {"n": len(items), "wall_s": med(items, lambda r: r["wall_s"]),
                  "total_s": med(items, lambda r: r["timings"]["total_s"]),
                  "embed_s": med(items, lambda r: r["timings"]["embed_s"]),
                  "load_split_s": med(items, lambda r: r["timings"]["load_split_s"]),
                  "cpu_s": med(items, lambda r: r["cpu_s"]),
                  "ratio_total_over_own_embed_s": med(items, lambda r: r["ratio_total_over_embed_s"])}
           for name, items in by.items()}
    old = out.get("old-w2")
    if old:
        for name, entry in out.items():
            entry["total_vs_old_total"] = round(entry["total_s"] / old["total_s"], 3)
            entry["total_over_old_embed_s"] = round(entry["total_s"] / old["embed_s"], 3)
            entry["embed_s_vs_old_embed_s"] = round(entry["embed_s"] / old["embed_s"], 3)
    return out


def main() -> None:
    args = parse_args()
    folder = make_corpus(args.out, args.filings)
    variants = [("old-w2", old_source(args.out, args.old_ref), 2)]
    variants += [(f"new-w{w}", common.REPO, int(w)) for w in args.workers.split(",")]
    name = f"pdf_ingest_overlap-filings{args.filings}.json"
    data = {"machine": common.machine_info(), "old_ref": args.old_ref,
            "corpus": {"folder": str(folder), "files": sorted(p.name for p in folder.iterdir()),
                       "mb": round(sum(p.stat().st_size for p in folder.iterdir()) / 1024 / 1024, 1)},
            "runs": []}
    for repeat in range(args.repeats):
        shift = repeat % len(variants)
        for variant, src, workers in variants[shift:] + variants[:shift]:
            print(f"[{repeat + 1}/{args.repeats}] {variant} ...", flush=True)
            result = run_one(src, folder, args.out / f"pdf_overlap_index-{variant}", workers)
            result.update(variant=variant, repeat=repeat, workers=workers)
            print(f"    wall {result['wall_s']} s  {result['timings']}  ratio {result['ratio_total_over_embed_s']}",
                  flush=True)
            data["runs"].append(result)
            data["summary"] = summarise(data["runs"])
            common.write_json(args.out, name, data)
    print(json.dumps(data["summary"], indent=2))


if __name__ == "__main__":
    main()
