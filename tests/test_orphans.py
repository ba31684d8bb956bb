"""No orphans: however an ingest ends, its PDF workers and the multiprocessing resource tracker end with it.

Each test starts a real `ragkit ingest` on a folder of PDFs (one of them slow, so a worker is busy
parsing), finds the processes it started through /proc, ends the ingest and checks that none of
them is left (a zombie counts as gone: it holds no memory), nor any of its named semaphores.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_loaders import make_pdf, raw_pdf

from conftest import REPO

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")]

GRACE_S = 5.0
# The console script with Ctrl-C as a terminal's foreground job has it. Run from a background job
# (`pytest -m integration &` in a script), the ingest would inherit SIGINT ignored, keep it ignored
# as Python does (nohup's contract, which the PDF workers honour too) and finish instead of stopping.
FOREGROUND_CLI = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\nfrom ragkit.cli import run; run()"


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a process, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the name in (...) may hold spaces
    return int(fields[1]), fields[0], int(fields[19])


def _descendants(root: int) -> dict[int, int]:
    """pid -> start time of every live process below ``root``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := _stat(int(entry.name))):
            children.setdefault(info[0], []).append(int(entry.name))
    found, todo = {}, [root]
    while todo:
        for pid in children.get(todo.pop(), []):
            if (info := _stat(pid)) and info[1] != "Z":
                found[pid] = info[2]
                todo.append(pid)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _survivors(seen: dict[int, int]) -> dict[int, str]:
    """The processes of ``seen`` still running (same pid *and* start time, not a zombie)."""
    left = {}
    for pid, started in seen.items():
        info = _stat(pid)
        if info and info[2] == started and info[1] not in "ZX":
            left[pid] = _cmdline(pid)
    return left


def _semaphores(pid: int) -> set[Path]:
    """The named POSIX semaphores (multiprocessing locks) a process has mapped."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return set()
    return {Path(line.split(None, 5)[5]) for line in maps.splitlines()
            if len(line.split(None, 5)) == 6 and "/dev/shm/sem." in line}


@pytest.fixture
def pdf_folder(tmp_path) -> tuple[Path, Path]:
    """A folder of 40 small PDFs and a slow one (~10 s of parsing), and a hash-embedder config."""
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a_slow.pdf").write_bytes(raw_pdf(2000, lines=100))
    for i in range(40):
        (folder / f"p{i:03d}.pdf").write_bytes(make_pdf([f"word{i}", f"more{i}"]))
    config = tmp_path / "hash.yaml"
    config.write_text("embedder:\n  kind: hash\nloader:\n  workers: 2\n")
    return folder, config


def _start_ingest(tmp_path: Path, folder: Path, config: Path, cli: str = FOREGROUND_CLI) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-c", cli, "ingest", str(folder),
            "--index", str(tmp_path / "idx"), "--config", str(config)]
    # Its own process group, as a shell gives a foreground job: Ctrl-C goes to the whole group.
    return subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def _wait_for_workers(ingest: subprocess.Popen, count: int) -> dict[int, int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and ingest.poll() is None:
        tree = _descendants(ingest.pid)
        if sum("spawn_main" in _cmdline(pid) for pid in tree) >= count:
            return tree
        time.sleep(0.005)
    pytest.fail(f"the ingest started no {count} PDF workers (exit {ingest.poll()})")


def _assert_all_gone(seen: dict[int, int], semaphores: set[Path]) -> None:
    deadline = time.monotonic() + GRACE_S
    while _survivors(seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _survivors(seen) == {}
    assert {sem for sem in semaphores if sem.exists()} == set()


def _end(ingest: subprocess.Popen, seen: dict[int, int]) -> None:
    """Clean up after a failed test: the ingest and whatever of its tree is left (all started here)."""
    ingest.kill()
    for pid in _survivors(seen):
        os.kill(pid, signal.SIGKILL)
    ingest.communicate(timeout=60)


def test_sigkill_during_pdf_parsing_leaves_no_process(tmp_path, pdf_folder):
    ingest, seen = _start_ingest(tmp_path, *pdf_folder), {}
    try:
        _wait_for_workers(ingest, 2)
        time.sleep(1.0)  # let them import and take their files: a_slow.pdf keeps one busy for ~10 s
        seen, semaphores = _descendants(ingest.pid), _semaphores(ingest.pid)
        assert sum("spawn_main" in _cmdline(pid) for pid in seen) == 2
        assert any("resource_tracker" in _cmdline(pid) for pid in seen)
        assert semaphores  # the pool's queue locks, which the tracker must unlink
        ingest.kill()
        ingest.wait()
        _assert_all_gone(seen, semaphores)
    finally:
        _end(ingest, seen)


@pytest.mark.parametrize("moment", ["workers starting", "workers parsing"])
def test_ctrl_c_prints_one_line_and_leaves_no_process(tmp_path, pdf_folder, moment):
    ingest, seen = _start_ingest(tmp_path, *pdf_folder), {}
    try:
        # "starting": a worker just exec'd, still importing, before its initializer ran.
        seen = _wait_for_workers(ingest, 1 if moment == "workers starting" else 2)
        if moment == "workers parsing":
            time.sleep(1.0)
        semaphores = _semaphores(ingest.pid)
        os.killpg(ingest.pid, signal.SIGINT)
        while ingest.poll() is None:  # workers may still be spawned after the signal: note them all
            seen |= _descendants(ingest.pid)
            time.sleep(0.005)
        _, stderr = ingest.communicate(timeout=60)
        assert ingest.returncode == 130, stderr
        assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
        # A first ingest: there was no index before, so none was written (issue 20's message)
        assert stderr.strip().splitlines()[-1] == f"Error: interrupted; no index was written at {tmp_path / 'idx'}"
        _assert_all_gone(seen, semaphores)
    finally:
        _end(ingest, seen)


def _ignores_sigint(pid: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    return False


def test_ctrl_c_leaves_an_ingest_started_with_sigint_ignored_and_its_workers_running(tmp_path, pdf_folder):
    # As nohup or `ragkit ingest … &` in a script starts it: Ctrl-C in that terminal must not touch it.
    nohup_cli = "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\nfrom ragkit.cli import run; run()"
    ingest, seen = _start_ingest(tmp_path, *pdf_folder, cli=nohup_cli), {}
    try:
        seen = _wait_for_workers(ingest, 2)
        workers = {pid for pid in seen if "spawn_main" in _cmdline(pid)}
        assert all(_ignores_sigint(pid) for pid in workers)
        os.killpg(ingest.pid, signal.SIGINT)
        every_worker = set(workers)
        while ingest.poll() is None:  # a worker that died of the Ctrl-C would be replaced: note them all
            seen |= _descendants(ingest.pid)
            every_worker |= {pid for pid in seen if "spawn_main" in _cmdline(pid)}
            time.sleep(0.005)
        stdout, stderr = ingest.communicate(timeout=60)
        assert ingest.returncode == 0, stderr
        assert "41 added" in stdout and "0 failed" in stdout, stdout
        assert every_worker == workers
    finally:
        _end(ingest, seen)
