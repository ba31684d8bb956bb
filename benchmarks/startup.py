"""Start-up time of the ``ragkit`` command, against the floor of any typer CLI, in one run (issue 9, point 5).

    python benchmarks/startup.py [-n 20] [--compare DIR]                                # BENCHMARKS.md, "Latency"
    python benchmarks/startup.py --ask --index DIR --config-text "embedder: {kind: hash}" -n 5 --case both

Default: ``ragkit --help``, ``--version``, ``search --help`` and ``ask --help``, each in a fresh interpreter,
interleaved with the baselines ``python -c pass`` and ``python -c "import typer, rich"``, ``-n`` times each
(default 20); median and p90 wall time and the ratio to ``python -c pass`` measured in the same run. The ragkit
commands run this checkout's code (PYTHONPATH set to it); ``--compare DIR`` also runs another checkout's.
Writes ``benchmarks/out/startup.json``. ~1-2 min on 2 shared cores.

``--ask``: from Enter to the first visible output of ``ragkit ask`` on a terminal. Runs ``ragkit ask`` in a
pseudo-terminal (stdout and stderr are the terminal, as in a user's shell) ``-n`` times per case (default 5)
and records the seconds from starting the process to the first byte written (``first_output_s``), the status
line's first text (``first_status_s``), the sources table under the answer (``sources_s``) and exit
(``total_s``), against the floor ``python -c "import typer, rich; print('ready')"``. Cases: ``extract`` (no
model) and ``stuff`` (the local SmolLM2: load + prompt + generation, model cache off so every run pays).
``--compare DIR`` runs another checkout the same way, interleaved. Writes ``benchmarks/out/first_output.json``.
~1 min (extract), ~5 min (stuff).
"""

from __future__ import annotations

import argparse
import json
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

RAGKIT = "from ragkit.cli import app; app()"
CASES = {  # name -> arguments after ``python``
    "python -c pass": ["-c", "pass"],
    "python -c 'import typer, rich'": ["-c", "import typer, rich"],
    "ragkit --help": ["-c", RAGKIT, "--help"],
    "ragkit --version": ["-c", RAGKIT, "--version"],
    "ragkit search --help": ["-c", RAGKIT, "search", "--help"],
    "ragkit ask --help": ["-c", RAGKIT, "ask", "--help"],
}


def run_once(args: list[str], repo: Path) -> float:
    """Wall seconds of one fresh ``python *args`` with ``repo`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(repo), "COLUMNS": "100"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], env=env, cwd=repo, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=60)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"error: {args} exited {done.returncode}: {done.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def p90(values: list[float]) -> float:
    """The 90th percentile (linear interpolation between closest ranks, as numpy's default)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * 0.9
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


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


def ask_main(args: argparse.Namespace) -> None:
    """``--ask``: seconds to the first output, the status line, the sources and exit of ``ragkit ask`` in a pty."""
    cases = {"extract": ["--chain", "extract"], "stuff": ["--chain", "stuff"]}
    if args.case != "both":
        cases = {args.case: cases[args.case]}
    repos = {"this": common.REPO, **({"baseline": args.compare.resolve()} if args.compare else {})}
    config = Path(tempfile.mkdtemp()) / "nocache.yaml"
    config.write_text(f"{args.config_text}\nllm: {{cache: false}}\n")  # every stuff run loads the model and generates
    rows: dict[str, list[dict]] = {"floor: python -c 'import typer, rich'": [],
                                   **{f"{r}:{c}": [] for r in repos for c in cases}}
    machine = common.machine_info()
    for _ in range(args.n or 5):
        rows["floor: python -c 'import typer, rich'"].append(time_one(common.REPO, FLOOR, None))
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


def parse_args() -> argparse.Namespace:
    parser = common.parser(__doc__)
    parser.add_argument("-n", type=int, default=None, help="runs per command (default 20; with --ask 5 per case)")
    parser.add_argument("--compare", type=Path, help="another checkout whose ragkit commands run alongside")
    parser.add_argument("--out", type=Path, default=common.OUT, help=f"output folder (default {common.OUT})")
    ask = parser.add_argument_group("--ask: the first output of ragkit ask in a terminal")
    ask.add_argument("--ask", action="store_true", help="time `ragkit ask` in a pseudo-terminal instead")
    ask.add_argument("--index", type=Path, help="the index to ask (required with --ask)")
    ask.add_argument("--question", default=QUESTION)
    ask.add_argument("--case", choices=("extract", "stuff", "both"), default="both")
    ask.add_argument("--config-text", default="", help="YAML lines for the config (e.g. 'embedder: {kind: hash}' "
                                                      "for an index built with it); llm.cache is always off")
    args = parser.parse_args()
    if args.ask and args.index is None:
        parser.error("--ask needs --index DIR (an index to ask)")
    return args


def main() -> None:
    args = parse_args()
    if args.ask:
        ask_main(args)
        return

    machine = common.machine_info()
    plan = [(name, argv, common.REPO) for name, argv in CASES.items()]
    if args.compare:
        plan += [(f"{name} [{args.compare}]", argv, args.compare.resolve())
                 for name, argv in CASES.items() if name.startswith("ragkit")]
    for _name, argv, repo in plan:  # warm the file cache and the bytecode once, unmeasured
        run_once(argv, repo)
    times: dict[str, list[float]] = {name: [] for name, _, _ in plan}
    for _ in range(args.n or 20):  # interleaved, so a burst of load hits every command alike
        for name, argv, repo in plan:
            times[name].append(run_once(argv, repo))

    floor = statistics.median(times["python -c pass"])
    results = {name: {"median_ms": round(statistics.median(t) * 1000, 1), "p90_ms": round(p90(t) * 1000, 1),
                      "ratio_to_python_pass": round(statistics.median(t) / floor, 2)}
               for name, t in times.items()}
    out = {"benchmark": "startup", "n": args.n or 20, "python": sys.executable, "results": results, "machine": machine}
    common.write_json(args.out, "startup.json", out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
