"""Issue 9, point 3: the expected answer string in the answer, measured with ``ragkit eval``, before and after.

    python benchmarks/contains_answer.py [--before 8a74e4c] [configs/grounded.yaml ...]

Runs ``ragkit eval CONFIG --json`` with this checkout's code (after) and with the code of commit
``--before`` (a temporary ``git worktree``), one config after the other, and prints one markdown
row per data set and pipeline: each metric before → after. The before run reads the same config
file (so the same questions and paths); only the metric's old name (``contains``) is written into a
temporary copy next to it, since older code does not know ``contains_answer``. The after run's
indexes are copied into the before run's output folder under the names the before code gives them
(it keyed an index by data set name, this code by documents folder), so both search the same index;
the script stops when the before run built an index of its own (index settings differ). Output: ``benchmarks/out/contains_answer/{after,before}/
<config>/`` (each a full eval output folder) and ``results.json`` with both documents.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import REPO, machine_info, write_json  # noqa: E402

DEFAULT_CONFIGS = ("configs/sample-qa.yaml", "configs/grounded.yaml", "configs/docugami-short.yaml")
_CLI = "import sys; from ragkit.cli import run; sys.argv[0] = 'ragkit'; run()"   # the code at PYTHONPATH
SHOWN = ("source_hit@5", "page_hit@5", "contains_answer", "unanswerable_refused", "answerable_refused",
         "citation_validity")


def run_eval(code: Path, config: Path, out: Path) -> dict:
    """``ragkit eval config --out out --json`` with the package at ``code``; the results document."""
    env = dict(os.environ, PYTHONPATH=str(code))
    done = subprocess.run([sys.executable, "-c", _CLI, "eval", str(config), "--out", str(out), "--json"],
                          cwd=code, env=env, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: some run failed; its row says so
        raise SystemExit(f"ragkit eval {config} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def before_checkout(commit: str) -> Path:
    """A detached worktree of ``commit`` in a temporary folder."""
    path = Path(tempfile.mkdtemp(prefix="ragkit-before-")) / "repo"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), commit],
                   check=True, capture_output=True)
    return path


def _older_key(cfg) -> str:
    """The index folder's hash as the ``--before`` code computed it (index settings only, no folder)."""
    settings = {k: dataclasses.asdict(getattr(cfg, k)) for k in ("embedder", "splitter", "sparse")}
    settings["pdf_clean_pages"] = cfg.loader.pdf_clean_pages
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]


def older_index_names(config: Path) -> dict[str, list[str]]:
    """Each index folder name of this code -> the names the ``--before`` code gives it (by data set name).

    QA data sets only (their index is of a documents folder); the before code keyed an index by the data
    set's name, this code by its folder, so one index may serve several data sets.
    """
    from ragkit.evaluation.runner import index_folder_name
    from ragkit.evaluation.spec import load_eval_config, pipeline_config

    spec = load_eval_config(config)
    names: dict[str, list[str]] = {}
    for pipeline in spec.pipelines:
        cfg = pipeline_config(spec, pipeline)
        for dataset in spec.datasets:
            if dataset.kind == "qa":
                now = index_folder_name(dataset.documents, cfg)
                names.setdefault(now, []).append(f"{dataset.name}-{_older_key(cfg)}")
    return names


def seed_before(after_out: Path, before_out: Path, config: Path) -> set[str]:
    """Copy the after run's indexes under the names the before code looks for; the names seeded."""
    seeded = set()
    for now, older in older_index_names(config).items():
        for name in dict.fromkeys(older):
            shutil.copytree(after_out / "indexes" / now, before_out / "indexes" / name)
            seeded.add(name)
    return seeded


def fresh(out: Path) -> None:
    """Empty ``out`` but for its indexes: a run must not resume from traces another code version wrote."""
    for entry in out.iterdir() if out.is_dir() else []:
        if entry.name != "indexes":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def old_name_copy(config: Path) -> Path:
    """A copy of ``config`` beside it (relative paths still resolve) using the metric's old name."""
    copy = config.with_name(f".before-{config.name}")
    copy.write_text(config.read_text(encoding="utf-8").replace("contains_answer", "contains"), encoding="utf-8")
    return copy


def compare(before: dict, after: dict) -> list[str]:
    """Markdown rows: data set, pipeline, each shown metric as ``before → after``."""
    old = {(r["dataset"], r["name"]): r["metrics"] for r in before["runs"]}
    rows = []
    for run in after["runs"]:
        prev = old.get((run["dataset"], run["name"]), {})
        cells = []
        for metric in SHOWN:
            now = run["metrics"].get(metric, run["metrics"].get("contains") if metric == "contains_answer" else None)
            was = prev.get(metric, prev.get("contains") if metric == "contains_answer" else None)
            cells.append("" if now is None else f"{_fmt(was)} → {_fmt(now)}")
        rows.append(f"| {run['dataset']} | {run['name']} | {run['n_queries']} | " + " | ".join(cells) + " |")
    return rows


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", default=list(DEFAULT_CONFIGS))
    parser.add_argument("--before", default="8a74e4c", help="commit of the previous extract chain")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "contains_answer")
    args = parser.parse_args()
    checkout = before_checkout(args.before)
    documents = {"machine": machine_info(), "before_commit": args.before, "results": {}}
    lines = ["| data set | pipeline | questions | " + " | ".join(SHOWN) + " |", "|---|---|---|" + "---|" * len(SHOWN)]
    try:
        for name in args.configs:
            config = (REPO / name).resolve()
            after_out, before_out = (args.out / side / config.stem for side in ("after", "before"))
            fresh(after_out)
            after = run_eval(REPO, config, after_out)
            shutil.rmtree(before_out, ignore_errors=True)
            seeded = seed_before(after_out, before_out, config)
            copy = old_name_copy(config)
            try:
                before = run_eval(checkout, copy, before_out)
            finally:
                copy.unlink()
            if set(os.listdir(before_out / "indexes")) != seeded:
                raise SystemExit(f"{name}: the before run built other indexes (index settings differ)")
            documents["results"][name] = {"before": before, "after": after}
            lines += compare(before, after)
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(checkout)], capture_output=True)
    path = write_json(args.out, "results.json", documents)
    print("\n".join(lines))
    print(f"\n{path}")


if __name__ == "__main__":
    main()
