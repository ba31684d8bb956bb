"""A generation's rows as Pinecone sees them: chunk ids, sources, filters, the live manifest.

Shared by the dense and the sparse Pinecone backends: both key their records by ragkit's stable
chunk ids, read them from the generation's docstore in row order, and turn the rows a search may
return into a Pinecone metadata filter.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from ragkit.store import docstore as docstore_module
from ragkit.store.generations import read_current
from ragkit.store.manifest import read_manifest

MAX_IN_VALUES = 10_000    # Pinecone's limit on the values of one $in (and on top_k)


def live_manifest(index_dir: Path) -> dict | None:
    """The live generation's manifest, or None (none yet, or unreadable: then nothing counts as live)."""
    return live_generation(index_dir)[1]


def live_generation(index_dir: Path) -> tuple[Path | None, dict | None]:
    """(live generation, its manifest), or (None, None): none yet, or unreadable."""
    try:
        pointer = read_current(Path(index_dir))
        return (pointer.generation, read_manifest(pointer.generation)) if pointer else (None, None)
    except Exception:  # a damaged live generation keeps nothing in Pinecone worth protecting
        return None, None


def chunks_by_row(directory: Path) -> tuple[list[str], list[dict], list[str]]:
    """Chunk ids, metadata and texts of a generation's docstore, in row order."""
    records = _docstore_rows(directory, "SELECT chunk_id, metadata, text FROM chunks ORDER BY row")
    return [r[0] for r in records], [json.loads(r[1]) for r in records], [r[2] for r in records]


def ids_and_sources(directory: Path) -> tuple[list[str], list[str]]:
    """Chunk ids and source files of a generation's docstore, in row order."""
    records = _docstore_rows(directory, "SELECT chunk_id, source FROM chunks ORDER BY row")
    return [r[0] for r in records], [r[1] for r in records]


def _docstore_rows(directory: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(f"file:{Path(directory) / docstore_module.FILE_NAME}?mode=ro", uri=True)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def rows_filter(ids: list[str], sources: list[str], allowed_rows: np.ndarray | None) -> tuple[dict | None, bool]:
    """(Pinecone filter, whether rows must still be checked locally) for the rows a filter allows.

    Whole files become ``{"source": {"$in": [...]}}``; the chunks of partly allowed files
    ``{"chunk_id": {"$in": [...]}}``. Beyond Pinecone's 10,000 values per ``$in`` the search
    runs unfiltered and deeper, and rows are checked here.
    """
    if allowed_rows is None:
        return None, False
    allowed = set(int(r) for r in allowed_rows)
    by_source: dict[str, list[int]] = {}
    for row, source in enumerate(sources):
        by_source.setdefault(source, []).append(row)
    whole = sorted(s for s, rows in by_source.items() if all(r in allowed for r in rows))
    partial = [ids[r] for s, rows in by_source.items() if s not in whole for r in rows if r in allowed]
    if len(whole) > MAX_IN_VALUES or len(partial) > MAX_IN_VALUES:
        return None, True
    parts = ([{"source": {"$in": whole}}] if whole else []) + ([{"chunk_id": {"$in": partial}}] if partial else [])
    return (parts[0] if len(parts) == 1 else {"$or": parts}), False
