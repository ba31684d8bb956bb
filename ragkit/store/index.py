"""Open the live generation of an index for querying: manifest, docstore, dense and sparse indexes.

Opening checks the generation (:mod:`ragkit.store.integrity`): CURRENT against the manifest's
checksum, every file's size, the row counts of the three indexes, and, for an index of at most
``FULL_CHECK_BYTES`` or when asked, every file's sha256. Damage raises ``IndexDamaged``.

A reader that read CURRENT just before two ingests published may find its generation
removed by garbage collection; it then opens the generation CURRENT names now.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ragkit.errors import IndexDamaged, IndexMissing
from ragkit.store import docstore, extra_vectors
from ragkit.store import documents as documents_module
from ragkit.store.base import DenseStore, SparseStore
from ragkit.store.docstore import DocStore
from ragkit.store.documents import DocumentIndex
from ragkit.store.extra_vectors import ExtraVectors
from ragkit.store.generations import CURRENT, Pointer, read_current
from ragkit.store.integrity import reading, should_hash, verify_counts, verify_files
from ragkit.store.manifest import FORMAT_VERSION, check_format, read_manifest
from ragkit.store.registry import dense_store_class, sparse_store_class

# Attempts at opening when the generation CURRENT named vanished meanwhile (each attempt follows
# a new CURRENT, so a second one succeeds unless ingests keep publishing faster than a load).
OPEN_ATTEMPTS = 3


@dataclass
class LoadedIndex:
    """A generation loaded for querying: manifest, docstore, dense and sparse indexes.

    ``documents`` is the sparse index over whole documents (None for a generation written
    before ragkit kept one: search then scores chunks alone).
    """

    path: Path
    generation: Path
    manifest: dict
    docstore: DocStore
    dense: DenseStore
    sparse: SparseStore
    documents: DocumentIndex | None = None
    extras: ExtraVectors | None = None   # questions and summaries per chunk (ingest.questions / ingest.summaries)

    def close(self) -> None:
        """Release the docstore connection."""
        self.docstore.close()


def live_pointer(index_dir: Path) -> Pointer:
    """What CURRENT says; IndexMissing when nothing was ingested there yet."""
    pointer = read_current(Path(index_dir))
    if pointer is None:
        raise IndexMissing(f"no index at {index_dir}; run `ragkit ingest <folder> --index {index_dir}` first")
    return pointer


def live_generation(index_dir: Path) -> Path:
    """The live generation's directory; IndexMissing when nothing was ingested there yet."""
    return live_pointer(index_dir).generation


def checked_manifest(pointer: Pointer) -> dict:
    """The manifest of the generation ``pointer`` names, in this format and matching CURRENT's checksum."""
    manifest = read_manifest(pointer.generation)
    check_format(manifest)
    if pointer.checksum != manifest.get("checksum") or manifest.get("generation") != pointer.generation.name:
        raise IndexDamaged(CURRENT, f"names {pointer.generation.name}, whose manifest does not match it")
    return manifest


def live_manifest(index_dir: Path) -> tuple[Path | None, dict | None]:
    """(live generation, its manifest), or (None, None) without one; for ingest.

    Checks CURRENT, the manifest and the files' sizes (and hashes, for a small index) without
    loading the indexes; an index in an older format is returned unchecked (ingest rebuilds it).
    """
    pointer = read_current(Path(index_dir))
    if pointer is None:
        return None, None
    manifest = read_manifest(pointer.generation)
    if manifest.get("format_version") == FORMAT_VERSION:
        checked_manifest(pointer)
        verify_files(pointer.generation, manifest, full=should_hash(manifest, None))
    return pointer.generation, manifest


def open_index(index_dir: Path, *, full_check: bool | None = None) -> LoadedIndex:
    """Load the live generation of an index (read-only), each index with the backend its manifest names.

    ``full_check`` hashes every file (True), never (False) or when the index is small (None).
    """
    index_dir = Path(index_dir)
    pointer = live_pointer(index_dir)
    for _ in range(OPEN_ATTEMPTS - 1):
        try:
            return _open_generation(index_dir, pointer, full_check)
        except IndexDamaged:
            # Removed under us by an ingest's garbage collection? Then CURRENT names another one now.
            now = live_pointer(index_dir)
            if now == pointer:
                raise
            pointer = now
    return _open_generation(index_dir, pointer, full_check)


def _open_generation(index_dir: Path, pointer: Pointer, full_check: bool | None) -> LoadedIndex:
    generation = pointer.generation
    manifest = checked_manifest(pointer)
    verify_files(generation, manifest, full=should_hash(manifest, full_check))
    with reading(generation, docstore.FILE_NAME):
        store = DocStore(generation / docstore.FILE_NAME, readonly=True)
        rows = store.count()
    try:
        dense_class = dense_store_class(manifest["dense"]["backend"])
        with reading(generation, dense_class.file_name):
            dense = dense_class.load(generation)
        sparse_class = sparse_store_class(manifest["sparse"]["backend"])
        with reading(generation, sparse_class.file_name):
            sparse = sparse_class.load(generation)
        documents = _load_documents(generation, manifest)
        extras = _load_extras(generation, manifest)
        counts = {docstore.FILE_NAME: rows, dense_class.file_name: dense.size, sparse_class.file_name: sparse.size}
        if documents is not None:
            counts[documents_module.DIR_NAME] = documents.size
        verify_counts(generation, manifest, counts)
    except BaseException:
        store.close()
        raise
    return LoadedIndex(path=index_dir, generation=generation, manifest=manifest,
                       docstore=store, dense=dense, sparse=sparse, documents=documents, extras=extras)


def _load_extras(generation: Path, manifest: dict) -> ExtraVectors | None:
    """The extra vectors per chunk, when the generation was written with them (its manifest counts them)."""
    if extra_vectors.DIR_NAME not in manifest["integrity"]["counts"]:
        return None
    with reading(generation, extra_vectors.DIR_NAME):
        extras = ExtraVectors.load(generation)
    expected, chunks = manifest["integrity"]["counts"][extra_vectors.DIR_NAME], int(manifest["chunks"])
    # Not one row per chunk like the other indexes: as many as recorded, each pointing at a chunk that exists.
    if not (extras.size == len(extras.vectors) == len(extras.kinds) == expected) or (extras.size and
                                                                                     extras.rows.max() >= chunks):
        raise IndexDamaged(f"{generation.name}/{extra_vectors.DIR_NAME}",
                           f"{extras.size} extra vectors, the manifest recorded {expected} over {chunks} chunks")
    return extras


def _load_documents(generation: Path, manifest: dict) -> DocumentIndex | None:
    """The document index, when the generation was written with one (its manifest counts it)."""
    if documents_module.DIR_NAME not in manifest["integrity"]["counts"]:
        return None
    with reading(generation, documents_module.DIR_NAME):
        return DocumentIndex.load(generation)
