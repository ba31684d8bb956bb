"""Shared helpers for the benchmark scripts: dataset loading, machine facts, peak memory, output."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "scifact"
DATA_FILES = ("corpus.jsonl", "queries.jsonl", "qrels.tsv")

# langchain-community announces its sunset on import; the benchmarks use it on purpose.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"langchain_community.*")
warnings.filterwarnings("ignore", message=r".*langchain-community.*")


def parser(doc: str) -> argparse.ArgumentParser:
    """A script's argument parser whose ``--help`` prints its whole docstring: what it measures, against what
    baseline, and the command lines BENCHMARKS.md shows."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def add_data_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help=f"SciFact in BEIR layout ({', '.join(DATA_FILES)}); default {DEFAULT_DATA}")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")


def add_strategy_args(parser: argparse.ArgumentParser, limit: int) -> None:
    """The options of the query-strategy benchmarks (transform_quality.py): data, index, how many
    test queries, retrieval depth, rewrites asked for, and the model answer cache."""
    add_data_arg(parser)
    parser.add_argument("--index", type=Path, default=None, help="index folder (default <out>/scifact-index)")
    parser.add_argument("--limit", type=int, default=limit, help=f"first N test queries (default {limit})")
    parser.add_argument("--depth", type=int, default=300, help="chunks retrieved per query (300)")
    parser.add_argument("--n-queries", type=int, default=3, help="rewrites / sub-questions asked of the model (3)")
    parser.add_argument("--no-cache", action="store_true", help="no model answer cache: every call runs the model")


def require_dataset(data: Path) -> Path:
    """Exit with a clear message unless ``data`` holds the SciFact BEIR files."""
    missing = [name for name in DATA_FILES if not (Path(data) / name).is_file()]
    if missing:
        sys.exit(f"error: SciFact dataset not found at {data} (missing {', '.join(missing)}).\n"
                 f"Pass --data DIR, where DIR holds the BEIR files {', '.join(DATA_FILES)} "
                 f"(default: <repo>/../shared/datasets/scifact).")
    return Path(data)


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_corpus(data: Path, limit: int | None = None) -> list[dict]:
    """Corpus records in file order (the first ``limit`` when given)."""
    docs = read_jsonl(Path(data) / "corpus.jsonl")
    return docs[:limit] if limit else docs


def load_qrels(data: Path) -> dict[str, dict[str, int]]:
    """Test qrels ``{qid: {docid: rel}}`` from qrels.tsv (header line skipped)."""
    qrels: dict[str, dict[str, int]] = {}
    with open(Path(data) / "qrels.tsv", encoding="utf-8") as handle:
        for n, line in enumerate(handle):
            parts = line.rstrip("\n").split("\t")
            if n == 0 and parts[0] == "query-id":
                continue
            if len(parts) < 3:
                continue
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return qrels


def load_test_queries(data: Path) -> tuple[list[str], list[str], dict[str, dict[str, int]]]:
    """(query ids, query texts, qrels) for the queries that appear in qrels.tsv, in qrels order."""
    qrels = load_qrels(data)
    texts = {str(q["_id"]): q["text"] for q in read_jsonl(Path(data) / "queries.jsonl")}
    missing = [q for q in qrels if q not in texts]
    if missing:
        sys.exit(f"error: {len(missing)} qrels query ids are not in queries.jsonl (first: {missing[0]})")
    qids = list(qrels)
    return qids, [texts[q] for q in qids], qrels


def doc_text(doc: dict) -> str:
    """Whole-document text as ragkit's jsonl loader builds it: title + blank line + text."""
    title = doc.get("title") or ""
    return f"{title}\n\n{doc['text']}" if title.strip() else doc["text"]


def make_corpus_folder(data: Path, folder: Path, limit: int | None = None) -> Path:
    """A folder holding only corpus.jsonl (a real copy: ingest skips symlinks leaving the folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "corpus.jsonl"
    if limit:
        with open(Path(data) / "corpus.jsonl", encoding="utf-8") as src, open(target, "w", encoding="utf-8") as dst:
            for n, line in enumerate(src):
                if n >= limit:
                    break
                dst.write(line)
    else:
        shutil.copy2(Path(data) / "corpus.jsonl", target)
    return folder


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss is KiB on Linux)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentiles(values: list[float]) -> dict:
    """p50 / p95 / mean / max of a list of seconds, reported in milliseconds."""
    ordered = sorted(values)

    def pct(p: float) -> float:  # nearest-rank-with-interpolation, as numpy's default
        if not ordered:
            return float("nan")
        pos = (len(ordered) - 1) * p
        lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    return {"n": len(values), "p50_ms": round(pct(0.50) * 1000, 2), "p95_ms": round(pct(0.95) * 1000, 2),
            "mean_ms": round(statistics.fmean(values) * 1000, 2) if values else None,
            "max_ms": round(max(values) * 1000, 2) if values else None}


def _versions() -> dict:
    out = {}
    for name in ("ragkit", "bm25s", "faiss-cpu", "onnxruntime", "numpy", "rank-bm25", "langchain-core",
                 "langchain-community", "langchain-classic", "ranx"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def machine_info() -> dict:
    """The facts a timing needs next to it: CPUs, model, RAM, load, versions, date, commit."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu,
        "ram_gib": mem_gib,
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "git_commit": commit,
        "versions": _versions(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }


def write_json(out_dir: Path, name: str, data: dict) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    data.setdefault("machine", {})["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    path = out_dir / name
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


class Timer:
    """``with Timer() as t: ...``; then ``t.s`` holds the seconds."""

    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.s = time.perf_counter() - self.start


def ranx_evaluate(qrels: dict, run: dict, metrics) -> dict:
    """The means of ``metrics`` by ranx, to cross-check :func:`ragkit.evaluation.metrics.evaluate`.

    ranx is a dev-only reference (not a ragkit dependency); ImportError when it is not installed.
    The conventions are bridged as in tests/test_metrics.py: only queries with a relevant document,
    strictly decreasing scores (ranx's order is then the run's), and a never-relevant dummy for an
    empty ranking (ranx rejects those).
    """
    from ranx import Qrels as RQrels
    from ranx import Run as RRun
    from ranx import evaluate as r_evaluate

    q = {qid: {d: int(r) for d, r in rels.items()} for qid, rels in qrels.items()
         if any(r > 0 for r in rels.values())}
    r = {}
    for qid in q:
        ranked = list(run.get(qid, ())) or ["__no_result__"]
        r[qid] = {d: float(len(ranked) - i) for i, d in enumerate(ranked)}
    out = r_evaluate(RQrels(q), RRun(r), list(metrics), make_comparable=True)
    if isinstance(out, float):  # one metric: ranx returns a bare float
        out = {metrics[0]: out}
    return {m: float(v) for m, v in out.items()}


def norm(text: str) -> str:
    """Lower case, whitespace collapsed: the form answers are matched in."""
    return " ".join((text or "").lower().split())


def contains_answer(text: str, answers: list[str]) -> bool:
    """Does ``text`` contain an accepted answer, as whole words ("lock" is not in "block")?"""
    t = norm(text)
    return any(re.search(r"(?<!\w)" + re.escape(norm(a)) + r"(?!\w)", t) for a in answers)
