#!/usr/bin/env python3
"""Install ragkit as the README says, in a fresh venv in a temporary folder, and run the main job offline.

What a new user does, checked end to end: copy the repository's tracked files (a clean tree),
run the README quick start's install command (its first ``sh`` block), then its main job (the
second block: ingest ``sample_docs`` and search) and an ``ask``, with the network cut off
(``unshare -n`` where the kernel allows it; the report says when it could not). Each extra is
installed the way a user would (``pip install '.[<extra>]'`` in a venv of its own) and its own
job is run: ``local-llm`` answers with the local model, ``ray`` ingests on Ray.

Prints, per install: wall and CPU time of the install, the venv's size, and the time from the
end of the install to the first search answer. ``--baseline-dev`` measures the dev install
(``.[dev]``, the README's test setup) in the same run, for the side-by-side figure;
``--empty-cache`` gives each install a pip cache of its own, empty at the start (as on a fresh
machine). Standard library only; run it with any Python 3.11+::

    python3 scripts/fresh_install.py                       # the user install
    python3 scripts/fresh_install.py --extras local-llm,ray,e5  # and each extra (CI)
    python3 scripts/fresh_install.py --baseline-dev --empty-cache --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUESTION = "How does reciprocal rank fusion score a document?"
EXTRA_INSTALL = "python3 -m venv .venv && {env}.venv/bin/pip install '.[{extra}]'"
EXTRA_ENV = {"local-llm": "CMAKE_ARGS=-DGGML_NATIVE=OFF "}  # as the README's table says
INSTALL_TIMEOUT_S = 2400  # the dev install compiles llama.cpp: 19 min on 2 busy cores
DEV_INSTALL_PATTERN = re.compile(r"pip install -e '\.\[dev\]'")


def readme_blocks() -> list[str]:
    """The README's ``sh`` blocks, in order (the quick start's install is the first, its main job the second)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S)]


def dev_install_command() -> str:
    """The README's dev install (the block that installs ``.[dev]``)."""
    return next(block for block in readme_blocks() if DEV_INSTALL_PATTERN.search(block))


# In a new network namespace only the loopback exists, and it starts down: bring it up (Ray's processes talk
# over 127.0.0.1), then run the command. Nothing outside the machine is reachable.
LOOPBACK_ONLY = 'ip link set lo up 2>/dev/null || true; exec "$@"'


def offline_prefix() -> list[str]:
    """``unshare -n`` (loopback only) when it works here, else nothing."""
    if shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0:
        return ["unshare", "-n", "sh", "-c", LOOPBACK_ONLY, "offline"]
    return []


def copy_tree(dest: Path) -> None:
    """The repository's tracked files (``git ls-files``), or the whole tree without venvs when git is absent."""
    try:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
        names = [n for n in files.decode().split("\0") if n]
    except (OSError, subprocess.CalledProcessError):
        names = [str(p.relative_to(REPO)) for p in REPO.rglob("*") if p.is_file() and ".venv" not in p.parts
                 and ".git" not in p.parts]
    for name in names:
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def timed_shell(command: str, cwd: Path, env: dict, prefix: list[str] | None = None, timeout: float = 600) -> dict:
    """Run ``command`` in bash; its exit code (``timeout`` after ``timeout`` s), output tail, wall and CPU seconds."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    try:
        done = subprocess.run([*(prefix or []), "bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=timeout)
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as stopped:
        code, stdout, stderr = "timeout", _text(stopped.stdout), _text(stopped.stderr) + f"\n(stopped after {timeout} s)"
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"command": command, "exit": code, "wall_s": round(time.perf_counter() - start, 1),
            "cpu_s": round(cpu, 1), "stdout": stdout[-3000:], "stderr": stderr[-3000:]}


def _text(output: bytes | str | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else (output or "")


def folder_mb(path: Path) -> float:
    """Size of the files under ``path`` in MB (as ``du`` counts them: blocks, hard links once)."""
    seen, total = set(), 0
    for p in path.rglob("*"):
        try:
            st = p.lstat()
        except OSError:
            continue
        if p.is_file() and not p.is_symlink() and (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return round(total / 1e6, 1)


def jobs_for(kind: str) -> list[tuple[str, str]]:
    """(name, shell command) of the offline jobs that prove an install works."""
    main_job = readme_blocks()[1].splitlines()  # the quick start: ingest + search, then ask
    ask = f'.venv/bin/ragkit ask "{QUESTION}"'
    if kind == "local-llm":
        return [("ingest + search", main_job[0]), ("ask --chain stuff (local model)", f"{ask} --chain stuff -k 2")]
    if kind == "ray":
        ray_cfg = "printf 'ingest: {engine: ray}\\n' > ray.yaml"
        return [("ingest on Ray + search", f"{ray_cfg} && .venv/bin/ragkit ingest sample_docs --index ray-idx "
                 f"--config ray.yaml && .venv/bin/ragkit search \"{QUESTION}\" --index ray-idx")]
    if kind == "e5":
        e5_cfg = "printf 'embedder: {kind: local, model: e5-small}\\n' > e5.yaml"
        return [("ingest + search with e5-small", f"{e5_cfg} && .venv/bin/ragkit ingest sample_docs --index e5-idx "
                 f"--config e5.yaml && .venv/bin/ragkit search \"{QUESTION}\" --index e5-idx --config e5.yaml")]
    return [("ingest + search", main_job[0]), *(("quick start: " + line.split()[1], line) for line in main_job[1:])]


def install_command(kind: str) -> str:
    """The install a user runs for ``kind``: the README quick start, an extra, or the dev install."""
    if kind == "user":
        return readme_blocks()[0]
    if kind == "dev":
        return dev_install_command()
    return EXTRA_INSTALL.format(extra=kind, env=EXTRA_ENV.get(kind, ""))


def check_install(kind: str, work: Path, empty_cache: bool, offline: list[str]) -> dict:
    """Install ``kind`` in a fresh copy of the repository under ``work``; run its jobs offline; the figures."""
    src = work / kind / "ragkit"
    src.mkdir(parents=True)
    copy_tree(src)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH", "RAGKIT_"))}
    env.update(XDG_CACHE_HOME=str(work / kind / "cache"), XDG_DATA_HOME=str(work / kind / "data"))
    if empty_cache:
        env["PIP_CACHE_DIR"] = str(work / kind / "pip-cache")
    result = {"install": kind, "offline_jobs": bool(offline)}
    step = timed_shell(install_command(kind), src, env, timeout=INSTALL_TIMEOUT_S)
    result.update(command=step["command"], install_exit=step["exit"], install_wall_s=step["wall_s"],
                  install_cpu_s=step["cpu_s"], venv_mb=folder_mb(src / ".venv"))
    if step["exit"] != 0:
        result["error"] = step["stderr"][-1500:]
        return result
    result["jobs"], first_answer = [], None
    for name, command in jobs_for(kind):
        job = timed_shell(command, src, env, offline)
        result["jobs"].append({k: job[k] for k in ("command", "exit", "wall_s")} | {"name": name})
        if job["exit"] != 0:
            result["error"] = f"{name}: exit {job['exit']}: {job['stderr'][-1500:]}"
            return result
        first_answer = first_answer if first_answer is not None else job["wall_s"]
        if "search" in name and "rag-techniques.md" not in job["stdout"]:
            result["error"] = f"{name}: the answer does not cite rag-techniques.md:\n{job['stdout'][-1500:]}"
            return result
    result["first_answer_s"] = first_answer
    return result


def print_table(results: list[dict]) -> None:
    """One line per install (the side-by-side figures)."""
    print(f"{'install':<10} {'wall s':>7} {'CPU s':>7} {'venv MB':>8} {'to answer s':>12}  result")
    for r in results:
        status = "ok" if "error" not in r else "FAILED"
        print(f"{r['install']:<10} {r['install_wall_s']:>7} {r['install_cpu_s']:>7} {r['venv_mb']:>8} "
              f"{r.get('first_answer_s', '-'):>12}  {status}: {r['command']}")
        for job in r.get("jobs", []):
            print(f"{'':<10} {job['name']}: exit {job['exit']} in {job['wall_s']} s")
        if "error" in r:
            print(r["error"], file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the checks; exit 1 if any install or job failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extras", default="", help="comma-separated extras to install and check too (local-llm,ray,e5)")
    parser.add_argument("--baseline-dev", action="store_true", help="also measure the dev install, side by side")
    parser.add_argument("--empty-cache", action="store_true", help="each install starts with an empty pip cache")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    parser.add_argument("--json", type=Path, help="also write the figures and the machine to this file")
    args = parser.parse_args(argv)
    kinds = ["user", *[e for e in args.extras.split(",") if e], *(["dev"] if args.baseline_dev else [])]
    offline = offline_prefix()
    if not offline:
        print("note: `unshare -n` is not allowed here, so the jobs run with the network on", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="ragkit-fresh-"))
    try:
        results = []
        for kind in kinds:
            print(f"installing {kind} ...", file=sys.stderr, flush=True)
            results.append(check_install(kind, work, args.empty_cache, offline))
        print_table(results)
        if args.json:
            machine = {"cpus": os.cpu_count(), "load": os.getloadavg(), "python": sys.version.split()[0],
                       "date": time.strftime("%Y-%m-%d %H:%M:%S"), "empty_cache": args.empty_cache}
            args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2))
        return 1 if any("error" in r for r in results) else 0
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
