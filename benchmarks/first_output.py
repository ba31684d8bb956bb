"""From Enter to the first visible output of ``ragkit ask`` on a terminal (issue 9, point 5).

    python benchmarks/first_output.py --index DIR [--runs 5] [--question "..."] [--case extract|stuff|both]

Runs ``ragkit ask`` in a pseudo-terminal (as a user's shell would: stdout and stderr are the
terminal), ``--runs`` times per case, and records for each run the time from starting the process
to: the first byte written to the terminal (``first_output_s``), the status line's first text
(``first_status_s``), the sources table under the finished answer (``sources_s``) and exit
(``total_s``). Cases: ``extract`` (no model) and ``stuff`` (the local SmolLM2 model: load +
prompt + generation, with the model cache turned off so every run pays for them).
``--baseline-repo DIR`` runs another checkout (e.g. /work/main, which has no status line) the
same way in the same loop, interleaved.

Writes ``benchmarks/out/first_output.json`` and prints medians.
"""

from __future__ import annotations

import argparse
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
QUESTION = "How does reciprocal rank fusion score a document?"


FLOOR = ["-c", "import typer, rich; print('ready')"]  # the least a typer + rich CLI can cost before any output


def time_one(repo: Path, args: list[str], config: Path | None) -> dict:
    """One run in a pty: seconds to the first output, the first status text, the sources table, exit.

    ``config`` None runs ``args`` as python's own arguments (the floor) instead of ragkit's.
    """
    main, child = os.openpty()
    env = {**os.environ, "PYTHONPATH": str(repo), "TERM": "xterm-256color", "COLUMNS": "120",
           "PYTHONDONTWRITEBYTECODE": "1"}  # leaves no cache files in a baseline checkout
    started = time.perf_counter()
    command = args if config is None else ["-c", "from ragkit.cli import run; run()", *args, "--config", str(config)]
    # cwd = the checkout: python -c puts the working directory first on sys.path
    process = subprocess.Popen([sys.executable, *command], stdin=child, stdout=child, stderr=child, env=env, cwd=repo)
    os.close(child)
    marks: dict[str, float] = {}
    data = b""
    while True:
        ready, _, _ = select.select([main], [], [], 0.05)
        if not ready:
            if process.poll() is not None:
                break
            continue
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        now = time.perf_counter() - started
        data += chunk
        marks.setdefault("first_output_s", now)
        text = data.decode("utf-8", "replace")
        if "…" in text:
            marks.setdefault("first_status_s", now)
        if "Sources" in text:
            marks.setdefault("sources_s", now)
    process.wait()
    os.close(main)
    marks["total_s"] = time.perf_counter() - started
    marks["exit_code"] = process.returncode
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in marks.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--case", choices=("extract", "stuff", "both"), default="both")
    parser.add_argument("--baseline-repo", type=Path, default=None, help="another checkout, run the same way")
    parser.add_argument("--config-text", default="", help="YAML lines for the config (e.g. 'embedder: {kind: hash}' "
                                                         "for an index built with it); llm.cache is always off")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out")
    args = parser.parse_args()
    cases = {"extract": ["--chain", "extract"], "stuff": ["--chain", "stuff"]}
    if args.case != "both":
        cases = {args.case: cases[args.case]}
    repos = {"this": REPO, **({"baseline": args.baseline_repo.resolve()} if args.baseline_repo else {})}
    config = Path(tempfile.mkdtemp()) / "nocache.yaml"
    config.write_text(f"{args.config_text}\nllm: {{cache: false}}\n")  # every stuff run loads the model and generates
    rows: dict[str, list[dict]] = {"floor: python -c 'import typer, rich'": [],
                                   **{f"{r}:{c}": [] for r in repos for c in cases}}
    machine = common.machine_info()
    for _ in range(args.runs):
        rows["floor: python -c 'import typer, rich'"].append(time_one(REPO, FLOOR, None))
        for case, extra in cases.items():  # interleaved, so load changes hit every case alike
            for name, repo in repos.items():
                cmd = ["ask", args.question, "--index", str(args.index.resolve()), *extra]
                rows[f"{name}:{case}"].append(time_one(repo, cmd, config))
    summary = {key: {m: round(statistics.median(r[m] for r in runs if m in r), 3)
                     for m in ("first_output_s", "first_status_s", "sources_s", "total_s")
                     if any(m in r for r in runs)} for key, runs in rows.items()}
    path = common.write_json(args.out, "first_output.json", {"machine": machine, "question": args.question,
                                                              "index": str(args.index), "runs": rows,
                                                              "median": summary})
    for key, values in summary.items():
        print(f"{key:38s} " + "  ".join(f"{m} {v:.2f}" for m, v in values.items()))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
