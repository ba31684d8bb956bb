"""Index statistics for ``ragkit info``, read from the manifest and the files on disk."""

from __future__ import annotations

from pathlib import Path

from ragkit.errors import IndexMissing
from ragkit.store.generations import DOCSTORE, current_generation, read_manifest


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def index_info(index_dir: Path) -> dict:
    """Files, chunks, embedder, settings, sizes in bytes, generation and last ingest of an index."""
    generation = current_generation(Path(index_dir))
    if generation is None:
        raise IndexMissing(f"no index at {index_dir}; run `ragkit ingest <folder> --index {index_dir}` first")
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
            "docstore": _size(generation / DOCSTORE),
            "dense": _size(generation / "dense.faiss"),
            "sparse": _size(generation / "sparse"),
            "total": _size(generation),
        },
        "last_ingest": manifest.get("last_ingest", {}),
    }
