"""Index statistics for ``ragkit info``, read from the manifest and the files on disk."""

from __future__ import annotations

from pathlib import Path

from ragkit.store import dense, docstore, sparse
from ragkit.store.index import live_generation
from ragkit.store.manifest import read_manifest


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def index_info(index_dir: Path) -> dict:
    """Files, chunks, embedder, settings, sizes in bytes, generation and last ingest of an index."""
    generation = live_generation(Path(index_dir))
    manifest = read_manifest(generation)
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
        "sparse": manifest["sparse"],
        "sizes": {
            "docstore": _size(generation / docstore.FILE_NAME),
            "dense": _size(generation / dense.FILE_NAME),
            "sparse": _size(generation / sparse.DIR_NAME),
            "total": _size(generation),
        },
        "last_ingest": manifest["last_ingest"],
    }
