"""Start-up time of the ``ragkit`` command: ``--help``, ``--version`` and ``<cmd> --help``.

Each command runs in a fresh interpreter, interleaved with the baselines (``python -c pass`` and
``python -c "import typer, rich"``, the floor for a typer CLI), N times each; reported as median
and p90 wall time and as the ratio to ``python -c pass`` measured in the same run. The ragkit
commands run this checkout's code (``python -c "from ragkit.cli import app; app()"`` with
PYTHONPATH set to it); ``--compare DIR`` also runs another checkout the same way (e.g. main).

    python benchmarks/startup.py            # ~1 min on 2 shared cores
    python benchmarks/startup.py --compare /work/main

Prints the JSON result and writes it to benchmarks/out/startup.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="runs per command (default 20)")
    parser.add_argument("--compare", type=Path, help="another checkout whose ragkit commands run alongside")
    parser.add_argument("--out", type=Path, default=common.OUT, help=f"output folder (default {common.OUT})")
    args = parser.parse_args()

    machine = common.machine_info()
    plan = [(name, argv, common.REPO) for name, argv in CASES.items()]
    if args.compare:
        plan += [(f"{name} [{args.compare}]", argv, args.compare.resolve())
                 for name, argv in CASES.items() if name.startswith("ragkit")]
    for _name, argv, repo in plan:  # warm the file cache and the bytecode once, unmeasured
        run_once(argv, repo)
    times: dict[str, list[float]] = {name: [] for name, _, _ in plan}
    for _ in range(args.n):  # interleaved, so a burst of load hits every command alike
        for name, argv, repo in plan:
            times[name].append(run_once(argv, repo))

    floor = statistics.median(times["python -c pass"])
    results = {name: {"median_ms": round(statistics.median(t) * 1000, 1), "p90_ms": round(p90(t) * 1000, 1),
                      "ratio_to_python_pass": round(statistics.median(t) / floor, 2)}
               for name, t in times.items()}
    out = {"benchmark": "startup", "n": args.n, "python": sys.executable, "results": results, "machine": machine}
    common.write_json(args.out, "startup.json", out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
