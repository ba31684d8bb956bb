"""Load files and split them, one file's chunks at a time: the unit of work of both ingest engines.

The local engine runs :func:`load_and_split_files` in the ingest process; the Ray engine runs it
for one file in each Ray task (:mod:`ragkit.ingest.ray_engine`), so parsing and splitting happen
where the file is read and the driver receives chunks. Either way a chunk's id is fixed by its
source, place and text (:func:`ragkit.ingest.splitters.chunk_id_for`), so the same file gives the
same chunks and ids wherever and however often it is split.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing
from functools import lru_cache
from pathlib import Path

from langchain_core.documents import Document
from langchain_text_splitters import TextSplitter

from ragkit.config import LoaderLimits, SplitterConfig
from ragkit.errors import LoadError
from ragkit.ingest.loaders import load_files
from ragkit.ingest.scan import SourceFile
from ragkit.ingest.splitters import make_splitter, split_with_parents

SplitFile = tuple[list[Document], list[Document]]
"""One file's chunks and the parent sections they belong to (empty when parents are off)."""


@lru_cache(maxsize=4)
def splitter_for(cfg: SplitterConfig) -> TextSplitter:
    """The splitter ``cfg`` names, made once per process (a word-piece or token splitter loads a vocabulary)."""
    return make_splitter(cfg)


def load_and_split_files(root: Path, sources: list[SourceFile], limits: LoaderLimits, splitter: SplitterConfig,
                         idle: Callable[[], bool] | None = None) -> Iterator[tuple[SourceFile, SplitFile | LoadError]]:
    """(source, its chunks and parents, or LoadError) once per source, in no fixed order, as :func:`load_files`."""
    with closing(load_files(root, sources, limits, idle=idle)) as loaded:  # closed early: stops the PDF workers
        for source, result in loaded:
            if isinstance(result, LoadError):
                yield source, result
            else:
                yield source, split_with_parents(result, splitter, splitter_for(splitter))


def load_and_split_one(root: str, source: SourceFile, limits: LoaderLimits, splitter: SplitterConfig) -> SplitFile | LoadError:
    """One file's chunks and parents, or its LoadError (what a Ray task runs)."""
    return next(iter(load_and_split_files(Path(root), [source], limits, splitter)))[1]
