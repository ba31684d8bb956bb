"""Open the live generation of an index for querying: manifest, docstore, dense and sparse indexes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ragkit.errors import IndexMissing
from ragkit.store import docstore
from ragkit.store.backends import DenseStore, SparseStore, load_dense, load_sparse
from ragkit.store.docstore import DocStore
from ragkit.store.generations import current_generation
from ragkit.store.manifest import check_format, read_manifest


@dataclass
class LoadedIndex:
    """A generation loaded for querying: manifest, docstore, dense and sparse indexes."""

    path: Path
    generation: Path
    manifest: dict
    docstore: DocStore
    dense: DenseStore
    sparse: SparseStore

    def close(self) -> None:
        """Release the docstore connection."""
        self.docstore.close()


def live_generation(index_dir: Path) -> Path:
    """The live generation's directory; IndexMissing when nothing was ingested there yet."""
    generation = current_generation(Path(index_dir))
    if generation is None:
        raise IndexMissing(f"no index at {index_dir}; run `ragkit ingest <folder> --index {index_dir}` first")
    return generation


def open_index(index_dir: Path) -> LoadedIndex:
    """Load the live generation of an index (read-only), each index with the backend its manifest names."""
    index_dir = Path(index_dir)
    generation = live_generation(index_dir)
    manifest = read_manifest(generation)
    check_format(manifest)
    return LoadedIndex(
        path=index_dir,
        generation=generation,
        manifest=manifest,
        docstore=DocStore(generation / docstore.FILE_NAME, readonly=True),
        dense=load_dense(generation, manifest),
        sparse=load_sparse(generation, manifest),
    )
