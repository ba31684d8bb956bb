"""Damage matrix (issue 13 item 5): flip 8 bytes in the middle of / truncate to half each index file
kind, then run 8 searches (4 queries x dense/sparse) and `ragkit info --check`; count detected
errors, unchanged answers, silently wrong answers and tracebacks.

    PYTHONPATH=. python benchmarks/integrity_matrix.py [--files N] [--cheap]

``--cheap`` opens as an index above FULL_CHECK_BYTES would (no hashing on open: sizes, counts,
structure and the search guards only). Baseline: the same searches on the undamaged index.
"""

import datetime
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

import ragkit.store.integrity as integrity  # noqa: E402
from ragkit.cli import app  # noqa: E402

QUERIES = ["cats", "topic 3 planets", "loyal dog training", "yellow dwarf star"]
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def answers(index, config):
    got = []
    for query in QUERIES:
        for mode in ("dense", "sparse"):
            r = run("search", query, "--index", index, "--config", config, "--json", "--mode", mode, "-k", "10")
            got.append((r.exit_code, r.stdout if r.exit_code == 0 else r.stderr, type(r.exception).__name__))
    return got


def damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "flip":
        middle = len(data) // 2
        for i in range(middle, min(middle + 8, len(data))):
            data[i] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--files", type=int, default=200, help="files in the test corpus (default 200)")
    parser.add_argument("--cheap", action="store_true", help="open as an index above FULL_CHECK_BYTES would (no hashing)")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit}, "
          f"{platform.node()} {platform.machine()}, python {platform.python_version()}")
    print(f"# command: {' '.join(sys.argv)}")
    root = Path(tempfile.mkdtemp(prefix="integrity-"))
    docs = root / "docs"
    docs.mkdir()
    for i in range(args.files):
        (docs / f"f{i:04d}.txt").write_text(f"Document {i} is about topic {i % 17}: cats, planets, dogs, stars. " * 12)
    config = root / "c.yaml"
    config.write_text("embedder: {kind: hash}\nsplitter: {chunk_size: 300, chunk_overlap: 30}\n")
    clean = root / "clean"
    assert run("ingest", docs, "--index", clean, "--config", config).exit_code == 0
    if args.cheap:
        integrity.FULL_CHECK_BYTES = -1
    baseline = answers(clean, config)
    generation = next(clean.glob("gen-*")).name
    kinds = ["CURRENT"] + sorted(p.relative_to(clean).as_posix() for p in (clean / generation).rglob("*") if p.is_file())
    totals = {"cases": 0, "detected": 0, "unchanged": 0, "wrong": 0, "tracebacks": 0, "check_detected": 0}
    for rel in kinds:
        for how in ("flip", "truncate"):
            index = root / "damaged"
            shutil.rmtree(index, ignore_errors=True)
            shutil.copytree(clean, index)
            damage(index / rel, how)
            got = answers(index, config)
            detected = sum(g[0] == 1 and g[1].startswith("Error: index damaged:") for g in got)
            tracebacks = sum(g[0] != 0 and g[2] != "SystemExit" for g in got)
            unchanged = sum(g == b for g, b in zip(got, baseline))
            wrong = len(got) - detected - tracebacks - unchanged
            check = run("info", "--check", "--index", index, "--config", config)
            check_ok = check.exit_code == 1 and check.stderr.startswith("Error: index damaged:")
            print(f"{rel:42s} {how:8s} searches: detected {detected}/8, unchanged {unchanged}, WRONG {wrong}, "
                  f"tracebacks {tracebacks}; info --check detected: {check_ok}")
            for key, value in (("cases", 1), ("detected", detected > 0), ("unchanged", unchanged), ("wrong", wrong),
                               ("tracebacks", tracebacks), ("check_detected", check_ok)):
                totals[key] += int(value)
    print(f"# totals: {totals}  (searches per case: 8)")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
