"""Which files changed since the live generation: size and mtime first, a content hash only when they moved.

A file whose mtime moved but whose content did not (a ``touch``, a checkout) is remembered in a
stat cache beside the manifest (``stat-cache.json``), so the next ingest need not hash it again:
no generation is written for a mere touch. Writing a generation folds the cache into the new
manifest and deletes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ragkit.ingest.scan import SourceFile
from ragkit.store.generations import write_atomic
from ragkit.store.integrity import file_sha256

STAT_CACHE = "stat-cache.json"
UNREADABLE = ""  # the sha256 of a file that could not be read: equal to no real hash, so it is read again


@dataclass(frozen=True)
class Changes:
    """What :func:`detect_changes` found.

    ``files``: size, mtime_ns and sha256 of every file still present (the live manifest's record
    for unchanged ones); ``stat_cache``: the stat cache to write, or None when nothing was touched.
    """

    files: dict[str, dict]
    unchanged: list[str]
    to_load: list[SourceFile]
    removed: list[str]
    stat_cache: dict | None



def _hash_or_unreadable(path: Path) -> str:
    """``file_sha256(path)``, or UNREADABLE when it cannot be read (mode 000, removed, an I/O error).

    An unreadable file is not this step's to judge: it goes on to the loader, which reports it
    as failed with a one-line reason, so one such file never stops the ingest of the others.
    """
    try:
        return file_sha256(path)
    except OSError:
        return UNREADABLE


def read_stat_cache(index_dir: Path) -> dict:
    """Size, mtime and hash of files touched since the live generation ({} when there is no cache)."""
    try:
        data = json.loads((Path(index_dir) / STAT_CACHE).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # a cache is only a shortcut: an unreadable one costs some hashing
        return {}
    return data if isinstance(data, dict) else {}


def save_stat_cache(index_dir: Path, changes: Changes) -> None:
    """Remember the touched files of ``changes`` (nothing to do when none was touched)."""
    if changes.stat_cache is not None:
        write_atomic(Path(index_dir) / STAT_CACHE, json.dumps(changes.stat_cache))


def clear_stat_cache(index_dir: Path) -> None:
    """Forget the touched files: a new manifest holds every file's stat."""
    (Path(index_dir) / STAT_CACHE).unlink(missing_ok=True)


def detect_changes(files: list[SourceFile], indexed: dict[str, dict], index_dir: Path) -> Changes:
    """Compare scanned ``files`` with the ``indexed`` ones (the live manifest's ``files``)."""
    stat_cache = read_stat_cache(index_dir) if indexed else {}
    metas: dict[str, dict] = {}
    unchanged: list[str] = []
    to_load: list[SourceFile] = []
    touched: dict[str, dict] = {}
    for source in files:
        try:
            stat = source.path.stat()
        except OSError:  # gone since the scan: the loader says why, and an indexed version is kept
            metas[source.rel] = {"size": source.size, "mtime_ns": 0, "sha256": UNREADABLE}
            to_load.append(source)
            continue
        meta = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        before = _as_cached(indexed.get(source.rel), stat_cache.get(source.rel), meta)
        if before and (before["size"], before["mtime_ns"]) == (meta["size"], meta["mtime_ns"]):
            metas[source.rel] = {**before}
            unchanged.append(source.rel)
            continue
        meta["sha256"] = _hash_or_unreadable(source.path)
        if before and before["sha256"] == meta["sha256"]:
            metas[source.rel] = {**before, **meta}
            touched[source.rel] = meta
            unchanged.append(source.rel)
            continue
        metas[source.rel] = meta
        to_load.append(source)
    scanned = {s.rel for s in files}
    return Changes(files=metas, unchanged=unchanged, to_load=to_load,
                   removed=sorted(rel for rel in indexed if rel not in scanned),
                   stat_cache={**stat_cache, **touched} if touched else None)


def _as_cached(before: dict | None, cached: dict | None, meta: dict) -> dict | None:
    """The indexed record, with the stat the cache saw when it saw the same content at this stat."""
    if before and cached and cached.get("sha256") == before["sha256"] and \
            (cached.get("size"), cached.get("mtime_ns")) == (meta["size"], meta["mtime_ns"]):
        return {**before, **meta}
    return before
