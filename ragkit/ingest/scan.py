"""Scan a folder for the files ingest can read, safely: never leave the folder, say why anything is left out."""

from __future__ import annotations

import errno
import os
import stat
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from ragkit.errors import FolderError

SUPPORTED_EXTENSIONS = frozenset({".txt", ".md", ".markdown", ".pdf", ".html", ".htm", ".jsonl"})


@dataclass(frozen=True)
class SourceFile:
    """A file accepted by scan_folder: `rel` (POSIX, the `source` metadata), resolved `path`, `size`."""

    rel: str
    path: Path
    size: int


@dataclass(frozen=True)
class Skipped:
    """A path scan_folder left out, with a one-line reason for the user."""

    rel: str
    reason: str


@dataclass(frozen=True)
class ScanResult:
    """Outcome of scan_folder; `root` is resolved and both lists are sorted by rel."""

    root: Path
    files: list[SourceFile]
    skipped: list[Skipped]


def inside(path: str, real_root: str) -> bool:
    """True when the resolved ``path`` is ``real_root`` or lies under it."""
    return path == real_root or path.startswith(real_root.rstrip(os.sep) + os.sep)


def name_as_text(name: str) -> str:
    """A file name as valid UTF-8 text: bytes that are not UTF-8 (which ``os.fsdecode`` keeps as lone
    surrogates) become ``\\xNN``, so the name can be hashed, stored, written to JSON and shown."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _join(prefix: str, sub: str) -> str:
    """``prefix/sub`` as a POSIX ``rel``: always valid text (see :func:`name_as_text`)."""
    return "/".join(name_as_text(p) for p in (prefix, sub.replace(os.sep, "/")) if p and p != ".")


# ---------------------------------------------------------------- scanning

def scan_folder(root: Path) -> ScanResult:
    """List loadable files under `root` recursively, and say why anything else was left out.

    Hidden names are ignored silently. Symlinks are followed only when they resolve inside the
    folder and do not lead back to a folder already scanned. Raises FolderError for a missing
    path, a file, or an unreadable folder.
    """
    root = _readable_folder(Path(root).expanduser())
    walk = _Walk(os.path.realpath(root))
    walk.run(root)
    files = walk.unique_files()
    return ScanResult(Path(walk.real_root), sorted(files, key=lambda f: f.rel),
                      sorted(walk.skipped, key=lambda s: s.rel))


def _readable_folder(root: Path) -> Path:
    """``root``, or FolderError saying why it cannot be scanned."""
    try:
        if not root.exists():
            raise FolderError(f"No such folder: {root}")
        if root.is_file():
            raise FolderError(f"{root} is a file; ragkit ingest takes a folder (did you mean {root.parent}?)")
        if not root.is_dir():
            raise FolderError(f"{root} is not a folder")
        with os.scandir(root):
            pass
    except OSError as e:
        raise FolderError(f"Cannot read folder {root}: {e.strerror or e}") from e
    return root


class _Walk:
    """One scan: the files found, the paths left out, the folders visited, folder symlinks still to follow."""

    def __init__(self, real_root: str):
        self.real_root = real_root
        self.found: dict[str, tuple[str, int, bool]] = {}  # rel -> (real path, size, reached via a symlink)
        self.skipped: list[Skipped] = []
        self.visited: set[str] = set()
        self.dir_links: deque[tuple[str, str]] = deque()

    def run(self, root: Path) -> None:
        """Walk ``root``, then the folder symlinks met on the way."""
        walks = deque([(str(root), "")])
        while walks or self.dir_links:
            if walks:
                self.walk_tree(*walks.popleft())
            else:
                # Symlinked folders go last, so a folder is listed under its real name, not an alias.
                link, rel = self.dir_links.popleft()
                if self.may_follow(link, rel):
                    walks.append((link, rel))

    def may_follow(self, link: str, rel: str) -> bool:
        """Whether to walk a folder symlink; if not, record why."""
        target = os.path.realpath(link)
        if not inside(target, self.real_root):
            self.skipped.append(Skipped(rel, "symlink points outside the folder"))
            return False
        if target in self.visited:
            loop = inside(os.path.realpath(os.path.dirname(link)), target)
            self.skipped.append(Skipped(rel, "symlink loop (points to a folder that contains it)" if loop
                                        else "symlink to a folder already included"))
            return False
        return True

    def walk_tree(self, top: str, prefix: str) -> None:
        """Walk the folder ``top`` (listed as ``prefix``) without following symlinks; queue folder symlinks."""

        def on_error(e: OSError) -> None:
            rel = _join(prefix, os.path.relpath(e.filename or top, top)) or "."
            self.skipped.append(Skipped(rel, f"cannot read folder: {e.strerror or e}"))

        for dirpath, dirnames, filenames in os.walk(top, onerror=on_error, followlinks=False):
            rel_dir, real_dir = _join(prefix, os.path.relpath(dirpath, top)), os.path.realpath(dirpath)
            if real_dir in self.visited:
                dirnames[:] = []
                continue
            self.visited.add(real_dir)
            dirnames.sort()  # a stable walk order makes "which alias wins" reproducible
            for name in list(dirnames):
                if name.startswith(".") or os.path.islink(os.path.join(dirpath, name)):
                    dirnames.remove(name)
                    if not name.startswith("."):
                        self.dir_links.append((os.path.join(dirpath, name), _join(rel_dir, name)))
            for name in sorted(filenames):  # stable: which of two same-looking names is skipped
                if not name.startswith("."):
                    self.check_file(dirpath, name, _join(rel_dir, name), real_dir)

    def check_file(self, dirpath: str, name: str, rel: str, real_dir: str) -> None:
        """Record the file ``name`` in ``dirpath`` as found, or as skipped with the reason."""
        full, is_link = os.path.join(dirpath, name), os.path.islink(os.path.join(dirpath, name))
        try:
            st = os.stat(full)
        except OSError as e:
            reason = ("symlink loop" if e.errno == errno.ELOOP
                      else "broken symlink (its target does not exist)" if is_link and e.errno == errno.ENOENT
                      else f"cannot read: {e.strerror or e}")
            self.skipped.append(Skipped(rel, reason))
            return
        # realpath costs a syscall per path component, so only symlinks pay for it.
        real = os.path.realpath(full) if is_link else os.path.join(real_dir, name)
        suffix = os.path.splitext(name)[1].lower()
        if not inside(real, self.real_root):
            self.skipped.append(Skipped(rel, "symlink points outside the folder"))
        elif not stat.S_ISREG(st.st_mode):
            self.skipped.append(Skipped(rel, "not a regular file"))  # reading a FIFO or device would block forever
        elif suffix not in SUPPORTED_EXTENSIONS:
            self.skipped.append(Skipped(rel, f"unsupported type {suffix}" if suffix else "unsupported type (no extension)"))
        elif st.st_size == 0:
            self.skipped.append(Skipped(rel, "empty file (0 bytes)"))
        elif rel in self.found:  # two names that read alike once undecodable bytes are written as \xNN
            self.skipped.append(Skipped(rel, "its name, shown escaped, is the same as another file's"))
        else:
            self.found[rel] = (real, st.st_size, is_link)

    def unique_files(self) -> list[SourceFile]:
        """The files found, each once: a file reachable twice (through a symlink) under its real name if it has one."""
        files, owner = [], {}
        for rel, (real, size, _) in sorted(self.found.items(), key=lambda kv: (kv[1][2], kv[0])):
            if real in owner:
                self.skipped.append(Skipped(rel, f"duplicate of {owner[real]} (symlink)"))
            else:
                owner[real] = rel
                files.append(SourceFile(rel, Path(real), size))
        return files
