"""The index directory: generations, the CURRENT pointer, the writer lock, durable writes.

Layout::

    <index>/
      CURRENT              name of the live generation ("gen-000003"), switched atomically
      lock                 held (flock) by the one writer; holds its pid
      gen-000003/          manifest.json, docstore.sqlite, dense.faiss, sparse/
      gen-000002/          the previous generation, kept as a fallback until the next ingest

A writer builds a new generation in a temporary directory, fsyncs every file, renames the
directory into place, then replaces CURRENT (write, fsync, rename, fsync the directory).
A crash at any point leaves CURRENT naming a complete generation. What goes into a
generation is :mod:`ragkit.store.writer`'s business; opening one is :mod:`ragkit.store.index`'s.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from ragkit.errors import IndexLocked, StoreError

CURRENT = "CURRENT"
GEN_PREFIX = "gen-"
TMP_MARK = ".tmp-"


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (renames, new files) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path: Path) -> None:
    """fsync every file and directory under ``path`` (a finished generation)."""
    for root, _dirs, files in os.walk(path):
        for name in files:
            fd = os.open(Path(root) / name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(root))


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so readers see the old or the new content, never half."""
    tmp = path.with_name(f"{path.name}{TMP_MARK}{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def current_generation(index_dir: Path) -> Path | None:
    """The live generation's directory, or None when the index has none yet."""
    pointer = Path(index_dir) / CURRENT
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not name.startswith(GEN_PREFIX) or "/" in name:
        raise StoreError(f"{pointer} is damaged (names {name!r}); delete the index folder and re-ingest")
    return Path(index_dir) / name


class WriterLock:
    """An exclusive, non-blocking lock on an index: a second writer fails fast.

    ``flock`` is released by the kernel when the process dies, so a crashed ingest never
    leaves a stale lock behind.
    """

    def __init__(self, index_dir: Path):
        self.path = Path(index_dir) / "lock"
        self.fd: int | None = None

    def __enter__(self) -> "WriterLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise IndexLocked(
                f"another ragkit ingest (pid {holder}) is writing to {self.path.parent}; "
                "wait for it to finish or use another --index"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def new_generation_dir(index_dir: Path) -> tuple[Path, Path]:
    """(temporary dir to build in, final dir name) for the next generation."""
    existing = [p.name for p in Path(index_dir).glob(f"{GEN_PREFIX}*") if TMP_MARK not in p.name]
    numbers = [int(n[len(GEN_PREFIX):]) for n in existing if n[len(GEN_PREFIX):].isdigit()]
    final = Path(index_dir) / f"{GEN_PREFIX}{max(numbers, default=0) + 1:06d}"
    tmp = Path(index_dir) / f"{final.name}{TMP_MARK}{os.getpid()}"
    tmp.mkdir(parents=True)
    return tmp, final


def publish_generation(index_dir: Path, tmp: Path, final: Path) -> None:
    """Make a finished generation live: fsync it, rename it into place, switch CURRENT."""
    fsync_tree(tmp)
    os.rename(tmp, final)
    fsync_dir(Path(index_dir))
    write_atomic(Path(index_dir) / CURRENT, final.name + "\n")


def collect_garbage(index_dir: Path) -> None:
    """Remove unfinished and old generations (the live one and its predecessor stay).

    Called with the writer lock held, so no other writer's temporary directory is removed.
    """
    live = current_generation(index_dir)
    generations = sorted(p for p in Path(index_dir).glob(f"{GEN_PREFIX}*") if p.is_dir() and TMP_MARK not in p.name)
    keep = {live.name} if live else set()
    if live:
        older = [p.name for p in generations if p.name < live.name]
        if older:
            keep.add(older[-1])
    for path in Path(index_dir).iterdir():
        stale_tmp = TMP_MARK in path.name
        old_gen = path.name.startswith(GEN_PREFIX) and path.name not in keep
        if stale_tmp or old_gen:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
