"""A generation's manifest: format version, the settings that define its content, and its files.

``manifest.json`` records the embedder (id and dimension), the splitter and sparse settings,
the backend name of the dense and of the sparse index, every indexed file (size, mtime, sha256,
chunk ids), what the last ingest did, and, for integrity (:mod:`ragkit.store.integrity`), the
size and sha256 of every other file of the generation, the row count of each index and a
checksum of the manifest itself. Ingest compares the recorded settings with the
configured ones (a change rebuilds everything); search refuses an embedder other than the
recorded one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ragkit import __version__
from ragkit.errors import EmbedderMismatch, IndexDamaged, StoreError
from ragkit.store.integrity import CHECKSUM_KEY, MANIFEST, label, manifest_checksum

# 2: the manifest names the sparse backend too. 3: it records every file's size and sha256, the
# row counts and its own checksum (CURRENT repeats it). An index in an older format is rebuilt
# by the next ingest and refused by search ("re-ingest with --rebuild").
FORMAT_VERSION = 3


class EmbedderIdentity(Protocol):
    """What an index records of its embedder (any ragkit embedder has both)."""

    model_id: str
    dimension: int


@dataclass(frozen=True)
class IndexSettings:
    """What a new generation is written with.

    ``sparse`` is the sparse index's ``settings()``. The dense backend is not among the
    settings that force a rebuild: vectors carry over from one dense backend to another.
    ``dense`` are the dense backend's structure settings (``config_settings``: FAISS's index kind and
    parameters; empty for a backend without any); a change writes a new generation that carries every vector over (see :func:`dense_changed`).
    """

    embedder: EmbedderIdentity
    splitter: dict
    sparse: dict
    dense_backend: str
    sparse_backend: str
    dense_options: dict = field(default_factory=dict)   # a remote backend's options (``config_options``: host, namespace, ...)
    sparse_options: dict = field(default_factory=dict)  # likewise for a remote sparse backend
    dense: dict = field(default_factory=dict)           # the dense structure settings (FAISS: dense.index ...)

    def recorded(self) -> dict:
        """The manifest sections whose change since the last ingest means a full rebuild."""
        return {"embedder": {"id": self.embedder.model_id, "dimension": self.embedder.dimension},
                "splitter": self.splitter,
                "sparse": {"backend": self.sparse_backend, **self.sparse}}


def make_manifest(*, generation: str, settings: IndexSettings, files: dict, chunks: int, stats: dict,
                  integrity: dict, dense_index: dict | None = None, dense_where: dict | None = None,
                  multi_vector: dict | None = None) -> dict:
    """The manifest of a new generation; ``integrity`` holds ``files`` (size and sha256 by path) and ``counts``.

    ``dense_index`` is what the dense index says of its structure (``describe()``), when it says;
    ``dense_where`` where a remote one keeps the vectors (``where()``: no key ever reaches a manifest).
    """
    return {
        "format_version": FORMAT_VERSION,
        "ragkit_version": __version__,
        "generation": generation,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **settings.recorded(),
        "dense": {"backend": settings.dense_backend, "metric": "inner_product", **(dense_where or {}),
                  **({"index": dense_index} if dense_index else {})},
        "chunks": chunks,
        "files": files,
        "last_ingest": stats,
        "integrity": integrity,
        **({"multi_vector": multi_vector} if multi_vector else {}),
    }


def write_manifest(generation: Path, manifest: dict) -> str:
    """Write ``manifest.json`` (with its checksum) into a generation still being built; return the checksum."""
    checksum = manifest_checksum(manifest)
    text = json.dumps({**manifest, CHECKSUM_KEY: checksum}, indent=1, ensure_ascii=False)
    # A lone surrogate (a path's undecodable byte, as os.fsdecode keeps it) has no UTF-8 form; written
    # as the JSON escape \udcff it stays valid JSON and reads back as the same string.
    (generation / MANIFEST).write_bytes(text.encode("utf-8", "backslashreplace"))
    return checksum


def read_manifest(generation: Path) -> dict:
    """The manifest of a generation; IndexDamaged when it is missing, unreadable or fails its checksum.

    A manifest of an older format has no checksum; it is returned as it is, for
    :func:`check_format` to refuse (or ingest to rebuild).
    """
    name = label(generation, MANIFEST)
    try:
        manifest = json.loads((Path(generation) / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexDamaged(name, "missing") from None
    except (OSError, ValueError) as exc:
        raise IndexDamaged(name, f"not readable JSON: {type(exc).__name__}") from None
    if not isinstance(manifest, dict):
        raise IndexDamaged(name, "not a JSON object")
    recorded = manifest.get(CHECKSUM_KEY)
    if recorded is None and manifest.get("format_version") == FORMAT_VERSION:
        raise IndexDamaged(name, "no checksum")
    if recorded is not None and recorded != manifest_checksum(manifest):
        raise IndexDamaged(name, "its content does not match its checksum")
    return manifest


PDF_SETTINGS = ("pdf_clean_pages", "pdf_tables")
"""Splitter-section keys that change only PDF text: an index of a folder without PDFs is not rebuilt for them."""


def changed_settings(manifest: dict, settings: IndexSettings) -> list[str]:
    """Names of the recorded sections (embedder, splitter, sparse) that ``settings`` would change.

    The PDF extraction keys of the splitter section count only when the index holds a PDF: an index of
    text, markdown or BEIR files written before ``pdf_tables`` existed is not re-embedded for it.
    """
    current = settings.recorded()
    has_pdf = any(str(name).lower().endswith(".pdf") for name in manifest.get("files", {}))

    def comparable(key: str, section):
        if key != "splitter" or has_pdf or not isinstance(section, dict):
            return section
        return {k: v for k, v in section.items() if k not in PDF_SETTINGS}

    return [key for key in current if comparable(key, manifest[key]) != comparable(key, current[key])]


def dense_changed(manifest: dict, settings: IndexSettings) -> bool:
    """Whether the dense backend or its index settings differ from those the generation was written with."""
    if manifest.get("dense", {}).get("backend", "faiss") != settings.dense_backend:
        return True   # e.g. faiss -> pinecone (or back): the vectors move into the other store
    recorded = manifest.get("dense", {}).get("index", {}).get("settings", {})
    return bool(settings.dense) and recorded != settings.dense


def multi_vector_changed(manifest: dict, recipe: dict | None) -> bool:
    """Whether the questions and summaries asked for per chunk (``recipe``, None: none) differ from the generation's.

    A change writes a new generation with the new extra vectors; chunks and their own vectors carry over.
    """
    recorded = {k: v for k, v in manifest.get("multi_vector", {}).items() if k != "vectors"}
    return recorded != (recipe or {})


def lacks_document_index(manifest: dict) -> bool:
    """Whether the generation was written before document evidence (its integrity counts no ``documents``)."""
    return "documents" not in manifest.get("integrity", {}).get("counts", {})


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
