"""Index statistics for ``ragkit info``, read from the manifest and the files on disk.

What the latest ingest did is kept beside the generations (``last-ingest.json``): an ingest that
changes nothing writes no generation, so the manifest alone would go on showing the ingest
that wrote the live generation. ``ragkit info`` opens the index, so it runs the checks of every
open (sizes, counts; hashes when the index is small); ``ragkit info --check`` hashes every file.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ragkit.store import docstore, documents, extra_vectors
from ragkit.store.generations import write_atomic
from ragkit.store.index import open_index

LAST_INGEST = "last-ingest.json"


def record_last_ingest(index_dir: Path, generation: str, stats: dict) -> None:
    """Remember what an ingest did (its counts and folder) and the generation live after it."""
    record = {**stats, "generation": generation,
              "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_atomic(Path(index_dir) / LAST_INGEST, json.dumps(record, ensure_ascii=False))


def last_ingest(index_dir: Path, generation: Path, manifest: dict) -> dict:
    """What the latest ingest did: its record, or the manifest's when the record is missing or stale.

    A record naming another generation is older than the live one (an ingest that crashed
    after publishing its generation): the manifest, written by that ingest, is then newer.
    """
    try:
        record = json.loads((Path(index_dir) / LAST_INGEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = None
    if isinstance(record, dict) and record.get("generation") == generation.name:
        return record
    return {**manifest["last_ingest"], "generation": generation.name, "finished_at": manifest["created_at"]}


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def index_info(index_dir: Path) -> dict:
    """Files, chunks, embedder, settings, sizes in bytes, generation and last ingest of an index.

    IndexDamaged when the opening checks fail.
    """
    loaded = open_index(Path(index_dir))
    loaded.close()
    generation, manifest = loaded.generation, loaded.manifest
    # backend, where a remote one keeps the vectors (and how many it holds now), a FAISS index's structure (dense.index)
    dense_where = {**manifest["dense"], **loaded.dense.stats()}
    return {
        "index": str(index_dir),
        "generation": manifest["generation"],
        "created_at": manifest["created_at"],
        "format_version": manifest["format_version"],
        "ragkit_version": manifest["ragkit_version"],
        "files": len(manifest["files"]),
        "chunks": manifest["chunks"],
        "embedder": manifest["embedder"],
        "splitter": manifest["splitter"],
        "sparse": {**manifest["sparse"], **loaded.sparse.stats()},   # a remote store: records, avgdl
        # Documents in the whole-document BM25 index (None: a generation written before it existed).
        "documents": loaded.documents.documents if loaded.documents is not None else None,
        "dense": dense_where,
        # Questions and summaries per chunk (ingest.questions / ingest.summaries): the recipe and extra vectors by kind.
        "multi_vector": manifest.get("multi_vector"),
        "sizes": {
            "docstore": _size(generation / docstore.FILE_NAME),
            "dense": _size(generation / loaded.dense.file_name),
            "sparse": _size(generation / loaded.sparse.file_name),
            "documents": _size(generation / documents.DIR_NAME),
            **({"extra_vectors": _size(generation / extra_vectors.DIR_NAME)} if loaded.extras is not None else {}),
            "total": _size(generation),
        },
        "last_ingest": last_ingest(index_dir, generation, manifest),
    }


def check_index(index_dir: Path) -> None:
    """Check every file of the live generation against its sha256, and the row counts; IndexDamaged if any differs."""
    open_index(Path(index_dir), full_check=True).close()
