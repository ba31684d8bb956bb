"""The index directory: generations, the CURRENT pointer, the writer lock, durable writes.

Layout::

    <index>/
      CURRENT              the live generation's name and its manifest's checksum, switched atomically
      lock                 held (flock) by the one writer; holds its pid
      gen-000003/          manifest.json, docstore.sqlite, dense.faiss, sparse/
      gen-000002/          the previous generation, kept as a fallback until the next ingest

A writer builds a new generation in a temporary directory, fsyncs every file, renames the
directory into place, then replaces CURRENT (write, fsync, rename, fsync the directory).
A crash at any point leaves CURRENT naming a complete generation. Garbage collection keeps the
live generation and its predecessor; a reader that resolved CURRENT just before two ingests
published finds its generation gone and opens the new one (:func:`ragkit.store.index.open_index`). What goes into a
generation is :mod:`ragkit.store.writer`'s business; opening one is :mod:`ragkit.store.index`'s.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ragkit.errors import IndexDamaged, IndexLocked

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


@dataclass(frozen=True)
class Pointer:
    """What CURRENT says: the live generation's directory and its manifest's checksum.

    ``checksum`` is None in an index of format 2 or older, whose CURRENT held the name alone.
    """

    generation: Path
    checksum: str | None


def read_current(index_dir: Path) -> Pointer | None:
    """CURRENT's content, or None when the index has no generation yet; IndexDamaged when unreadable."""
    pointer = Path(index_dir) / CURRENT
    try:
        text = pointer.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        raise IndexDamaged(CURRENT, "not readable text") from None
    parts = text.split()
    name = parts[0] if parts else ""
    number = name[len(GEN_PREFIX):]
    if not name.startswith(GEN_PREFIX) or not number.isdigit() or len(parts) > 2 or text.count("\n") > 1:
        raise IndexDamaged(CURRENT, f"names {text.strip()[:40]!r}, not a generation")
    checksum = parts[1] if len(parts) == 2 else None
    if checksum is not None and (len(checksum) != 64 or any(c not in "0123456789abcdef" for c in checksum)):
        raise IndexDamaged(CURRENT, "its checksum is malformed")
    return Pointer(Path(index_dir) / name, checksum)


def current_generation(index_dir: Path) -> Path | None:
    """The live generation's directory, or None when the index has none yet."""
    pointer = read_current(index_dir)
    return pointer.generation if pointer else None


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


def publish_generation(index_dir: Path, tmp: Path, final: Path, checksum: str) -> None:
    """Make a finished generation live: fsync it, rename it into place, switch CURRENT.

    CURRENT records the manifest's ``checksum`` too, so a damaged name cannot silently
    point at another complete generation.
    """
    fsync_tree(tmp)
    os.rename(tmp, final)
    fsync_dir(Path(index_dir))
    write_atomic(Path(index_dir) / CURRENT, f"{final.name} {checksum}\n")


def collect_garbage(index_dir: Path) -> None:
    """Remove unfinished and old generations (the live one and its predecessor stay).

    Called with the writer lock held, so no other writer's temporary directory is removed.
    When CURRENT is damaged or names no generation, only unfinished ones go: which complete
    generation is worth keeping is then unknown (a rebuild publishes a new one and collects again).
    """
    try:
        live = current_generation(index_dir)
    except IndexDamaged:
        live = None
    if live is not None and not live.is_dir():
        live = None
    generations = sorted(p for p in Path(index_dir).glob(f"{GEN_PREFIX}*") if p.is_dir() and TMP_MARK not in p.name)
    keep = {live.name} if live else set()
    if live:
        older = [p.name for p in generations if p.name < live.name]
        if older:
            keep.add(older[-1])
    for path in Path(index_dir).iterdir():
        stale_tmp = TMP_MARK in path.name
        old_gen = live is not None and path.name.startswith(GEN_PREFIX) and path.name not in keep
        if stale_tmp or old_gen:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
