"""A generation's manifest: format version, the settings that define its content, and its files.

``manifest.json`` records the embedder (id and dimension), the splitter and sparse settings,
the backend name of the dense and of the sparse index, every indexed file (size, mtime, sha256,
chunk ids) and what the last ingest did. Ingest compares the recorded settings with the
configured ones (a change rebuilds everything); search refuses an embedder other than the
recorded one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ragkit import __version__
from ragkit.errors import EmbedderMismatch, StoreError

FORMAT_VERSION = 2  # 2: the manifest names the sparse backend too
MANIFEST = "manifest.json"


class EmbedderIdentity(Protocol):
    """What an index records of its embedder (any ragkit embedder has both)."""

    model_id: str
    dimension: int


@dataclass(frozen=True)
class IndexSettings:
    """What a new generation is written with.

    ``sparse`` is the sparse index's ``settings()``. The dense backend is not among the
    settings that force a rebuild: vectors carry over from one dense backend to another.
    """

    embedder: EmbedderIdentity
    splitter: dict
    sparse: dict
    dense_backend: str
    sparse_backend: str

    def recorded(self) -> dict:
        """The manifest sections whose change since the last ingest means a full rebuild."""
        return {"embedder": {"id": self.embedder.model_id, "dimension": self.embedder.dimension},
                "splitter": self.splitter,
                "sparse": {"backend": self.sparse_backend, **self.sparse}}


def make_manifest(*, generation: str, settings: IndexSettings, files: dict, chunks: int, stats: dict) -> dict:
    """The manifest of a new generation."""
    return {
        "format_version": FORMAT_VERSION,
        "ragkit_version": __version__,
        "generation": generation,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **settings.recorded(),
        "dense": {"backend": settings.dense_backend, "metric": "inner_product"},
        "chunks": chunks,
        "files": files,
        "last_ingest": stats,
    }


def write_manifest(generation: Path, manifest: dict) -> None:
    """Write ``manifest.json`` into a generation directory that is still being built."""
    text = json.dumps(manifest, indent=1, ensure_ascii=False)
    # A lone surrogate (a path's undecodable byte, as os.fsdecode keeps it) has no UTF-8 form; written
    # as the JSON escape \udcff it stays valid JSON and reads back as the same string.
    (generation / MANIFEST).write_bytes(text.encode("utf-8", "backslashreplace"))


def read_manifest(generation: Path) -> dict:
    """The manifest of a generation."""
    return json.loads((generation / MANIFEST).read_text(encoding="utf-8"))


def changed_settings(manifest: dict, settings: IndexSettings) -> list[str]:
    """Names of the recorded sections (embedder, splitter, sparse) that ``settings`` would change."""
    current = settings.recorded()
    return [key for key in current if manifest[key] != current[key]]


def check_format(manifest: dict) -> None:
    """Refuse a manifest written in another index format."""
    if manifest.get("format_version") != FORMAT_VERSION:
        raise StoreError(f"index format {manifest.get('format_version')} is not supported by this ragkit "
                         f"(format {FORMAT_VERSION}); re-ingest with --rebuild")


def check_embedder(manifest: dict, embedder: EmbedderIdentity) -> None:
    """Refuse an embedder whose vectors would not be comparable with the index's."""
    recorded = manifest["embedder"]
    if recorded["id"] != embedder.model_id or int(recorded["dimension"]) != embedder.dimension:
        raise EmbedderMismatch(
            f"this index was built with embedder {recorded['id']} ({recorded['dimension']}-d), but the "
            f"configured embedder is {embedder.model_id} ({embedder.dimension}-d); use the same embedder "
            "settings as the ingest, or re-ingest with --rebuild"
        )
