"""Integrity of a generation: what its manifest records of its files, and checking them.

The manifest (format 3) records the size and sha256 of every other file of its generation
and the row count of each index; it carries its own checksum, and CURRENT repeats that
checksum beside the generation's name. Checks come in two strengths:

* cheap (every open): the manifest's checksum, CURRENT against it, every file's size, and the
  row counts (FAISS ``ntotal`` = docstore rows = BM25 documents = manifest chunks). Catches a
  damaged CURRENT or manifest, any truncated or missing file, and damage that breaks a file's
  structure; not bytes changed in place inside the vectors, BM25 arrays or SQLite pages.
* full: the sha256 of every file as well, which catches any changed byte. Run by
  ``ragkit info --check``, before an ingest carries chunks forward, and on every open of an
  index whose files total at most :data:`FULL_CHECK_BYTES` (hashing runs at ~1.7 GB/s here,
  so that costs at most ~40 ms).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ragkit.errors import IndexDamaged

MANIFEST = "manifest.json"
CHECKSUM_KEY = "checksum"
FULL_CHECK_BYTES = 64 << 20
_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def record_files(generation: Path) -> dict[str, dict]:
    """Size and sha256 of every file of a generation being built, but its manifest (paths use ``/``)."""
    records = {}
    for path in sorted(p for p in Path(generation).rglob("*") if p.is_file()):
        rel = path.relative_to(generation).as_posix()
        if rel != MANIFEST:
            records[rel] = {"size": path.stat().st_size, "sha256": file_sha256(path)}
    return records


def manifest_checksum(manifest: dict) -> str:
    """The sha256 of a manifest's content (its keys sorted), leaving out the checksum itself."""
    body = {k: v for k, v in manifest.items() if k != CHECKSUM_KEY}
    # ensure_ascii: the canonical form is plain ASCII, so a lone surrogate in a path hashes too
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("ascii")).hexdigest()


def label(generation: Path, rel: str) -> str:
    """How an error names a file of a generation: ``gen-000003/dense.faiss``."""
    return f"{Path(generation).name}/{rel}"


def should_hash(manifest: dict, full: bool | None) -> bool:
    """Whether an open hashes every file: when asked to (``full``), or, unasked, when the files are small."""
    if full is not None:
        return full
    return sum(int(r["size"]) for r in manifest["integrity"]["files"].values()) <= FULL_CHECK_BYTES


def verify_files(generation: Path, manifest: dict, *, full: bool) -> None:
    """Every recorded file exists with its recorded size (and, when ``full``, its sha256)."""
    for rel, record in manifest["integrity"]["files"].items():
        path = Path(generation) / rel
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise IndexDamaged(label(generation, rel), "missing") from None
        if size != int(record["size"]):
            raise IndexDamaged(label(generation, rel), f"{size} bytes, the manifest recorded {record['size']}")
        if full and file_sha256(path) != record["sha256"]:
            raise IndexDamaged(label(generation, rel), "its sha256 differs from the one the manifest recorded")


def verify_counts(generation: Path, manifest: dict, counts: dict[str, int]) -> None:
    """Each index holds as many rows as the manifest recorded (``counts``: file -> rows found)."""
    expected = int(manifest["chunks"])
    for rel, found in counts.items():
        if int(found) != expected:
            raise IndexDamaged(label(generation, rel), f"{found} rows, the manifest recorded {expected} chunks")


@contextmanager
def reading(generation: Path, rel: str) -> Iterator[None]:
    """Turn what a damaged file makes its reader raise into :class:`IndexDamaged` naming the file.

    FAISS raises RuntimeError, numpy ValueError, JSON ValueError, SQLite DatabaseError; a file
    that vanished (a generation removed under a reader) is FileNotFoundError, an OSError.
    """
    try:
        yield
    except IndexDamaged:
        raise
    except FileNotFoundError:
        raise IndexDamaged(label(generation, rel), "missing") from None
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, IndexError, EOFError,
            sqlite3.DatabaseError) as exc:
        raise IndexDamaged(label(generation, rel), f"unreadable: {type(exc).__name__}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:120] if text else "no detail"
