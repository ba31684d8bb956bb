"""Ingest: folder -> loaders -> splitters -> embedder -> a new index generation, incrementally.

Files are compared with the live generation's manifest: unchanged files (same size and
mtime, or else the same sha256) cost nothing; added and changed files are loaded, split and
embedded; their old chunks, and the chunks of removed files, leave every index. A file that
fails to load is reported with a one-line reason; if an earlier version of it was indexed,
that version is kept (nothing is lost on bad input). When nothing changed, no generation is
written at all.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from langchain_core.documents import Document

from ragkit.config import Config
from ragkit.store.dense import FaissIndex
from ragkit.store.docstore import DocStore
from ragkit.embedders import RagkitEmbeddings, build_embedder
from ragkit.store.generations import (
    DOCSTORE,
    WriterLock,
    collect_garbage,
    current_generation,
    make_manifest,
    new_generation_dir,
    publish_generation,
    read_manifest,
    write_atomic,
)
from ragkit.errors import EXIT_OK, EXIT_PARTIAL, LoadError
from ragkit.ingest.loaders import load_files
from ragkit.ingest.scan import SourceFile, scan_folder
from ragkit.store.sparse import BM25Index
from ragkit.ingest.splitters import make_splitter, split_with_parents



class Progress(Protocol):
    """What ingest reports while it works (the CLI renders it; tests may record it)."""

    def start(self, stage: str, total: int) -> None: ...
    def advance(self, stage: str, amount: int = 1) -> None: ...
    def note(self, message: str) -> None: ...


class _Silent:
    def start(self, stage: str, total: int) -> None:
        pass

    def advance(self, stage: str, amount: int = 1) -> None:
        pass

    def note(self, message: str) -> None:
        pass


@dataclass
class IngestReport:
    """What an ingest did; ``counts()`` is the summary users and scripts read."""

    index: str
    folder: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)       # {"source", "reason", "kept_previous"}
    skipped: list[dict] = field(default_factory=list)      # {"source", "reason"}
    chunks_embedded: int = 0
    chunks_total: int = 0
    files_total: int = 0
    generation: str | None = None
    rebuilt: bool = False
    notes: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)

    def counts(self) -> dict:
        """The five counts: added / updated / unchanged / removed / failed."""
        return {name: len(getattr(self, name)) for name in ("added", "updated", "unchanged", "removed", "failed")}

    @property
    def exit_code(self) -> int:
        """0 when every file was indexed, 3 when some failed (a partial ingest)."""
        return EXIT_PARTIAL if self.failed else EXIT_OK

    def to_json(self) -> dict:
        """The summary for ``--json``: the counts at top level, then the details."""
        data = asdict(self)
        for name in ("added", "updated", "unchanged", "removed", "failed"):
            data[f"{name}_files"] = data.pop(name)
        return {**self.counts(), "skipped_count": len(self.skipped), **data, "exit_code": self.exit_code}


def file_sha256(path: Path) -> str:
    """Content hash of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


STAT_CACHE = "stat-cache.json"


def _read_stat_cache(index_dir: Path) -> dict:
    """Size, mtime and hash of files touched since the live generation (see ``ingest``)."""
    try:
        data = json.loads((Path(index_dir) / STAT_CACHE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _settings(cfg: Config, embedder: RagkitEmbeddings, sparse: BM25Index) -> dict:
    return {"embedder": {"id": embedder.model_id, "dimension": embedder.dimension},
            "splitter": asdict(cfg.splitter), "sparse": sparse.settings()}


def ingest(folder: Path, index_dir: Path, cfg: Config, *, rebuild: bool = False,
           progress: Progress | None = None, embedder: RagkitEmbeddings | None = None) -> IngestReport:
    """Bring the index at ``index_dir`` up to date with ``folder``; return what changed.

    Raises ``FolderError`` for an unusable folder, ``IndexLocked`` when another ingest is
    writing, and embedder errors (the previous generation stays live in every case).
    """
    progress = progress or _Silent()
    clock = time.perf_counter()
    folder, index_dir = Path(folder), Path(index_dir)
    scan = scan_folder(folder)
    # An index kept inside the folder it indexes must not index itself.
    own = index_dir.resolve()
    files = [f for f in scan.files if own not in f.path.parents]
    skipped = [s for s in scan.skipped if own not in (scan.root / s.rel).absolute().parents]
    embedder = embedder or build_embedder(cfg.embedder)
    sparse = BM25Index(**asdict(cfg.sparse))
    report = IngestReport(index=str(index_dir), folder=str(folder))
    report.skipped = [{"source": s.rel, "reason": s.reason} for s in skipped]
    timings = report.timings

    with WriterLock(index_dir):
        collect_garbage(index_dir)
        live = current_generation(index_dir)
        previous = read_manifest(live) if live else None
        settings = _settings(cfg, embedder, sparse)
        if previous and not rebuild:
            old = {key: previous.get(key) for key in settings}
            if old != settings:
                changed = ", ".join(k for k in settings if old[k] != settings[k])
                report.notes.append(f"{changed} settings changed since the last ingest: rebuilding everything")
                rebuild = True
        report.rebuilt = bool(rebuild or not previous)
        old_files: dict = {} if (previous is None or rebuild) else previous["files"]

        # 1. Which files changed? Size and mtime first; hash only when they moved.
        started = time.perf_counter()
        files_meta: dict[str, dict] = {}
        to_load: list[SourceFile] = []
        # Files whose mtime moved but whose content did not: remembered beside the manifest so
        # the next ingest need not hash them again (no generation is written for a mere touch).
        stat_cache = _read_stat_cache(index_dir) if old_files else {}
        touched: dict[str, dict] = {}
        for source in files:
            stat = source.path.stat()
            meta = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
            before = old_files.get(source.rel)
            cached = stat_cache.get(source.rel)
            if before and cached and cached.get("sha256") == before["sha256"] and \
                    (cached.get("size"), cached.get("mtime_ns")) == (meta["size"], meta["mtime_ns"]):
                before = {**before, **meta}
            if before and before["size"] == meta["size"] and before["mtime_ns"] == meta["mtime_ns"]:
                files_meta[source.rel] = {**before}
                report.unchanged.append(source.rel)
                continue
            meta["sha256"] = file_sha256(source.path)
            if before and before["sha256"] == meta["sha256"]:
                files_meta[source.rel] = {**before, **meta}
                touched[source.rel] = meta
                report.unchanged.append(source.rel)
                continue
            files_meta[source.rel] = meta
            to_load.append(source)
        scanned = {s.rel for s in files}
        report.removed = sorted(rel for rel in old_files if rel not in scanned)
        timings["scan_s"] = round(time.perf_counter() - started, 4)

        # 2. Load and split what changed.
        started = time.perf_counter()
        splitter = make_splitter(cfg.splitter)
        new_chunks: list[Document] = []
        new_parents: list[Document] = []
        keep_sources = set(report.unchanged)
        progress.start("load", len(to_load))
        for source, result in load_files(folder, to_load, cfg.loader):
            progress.advance("load")
            before = old_files.get(source.rel)
            if isinstance(result, LoadError):
                report.failed.append({"source": source.rel, "reason": str(result), "kept_previous": bool(before)})
                if before:
                    keep_sources.add(source.rel)
                    files_meta[source.rel] = before  # the old hash, so the next ingest retries it
                else:
                    files_meta.pop(source.rel, None)
                continue
            chunks, parents = split_with_parents(result, cfg.splitter, splitter)
            if not chunks:
                if source.rel.lower().endswith(".pdf"):
                    report.failed.append({"source": source.rel, "kept_previous": False,
                                          "reason": "no extractable text (a scanned PDF needs OCR first)"})
                else:
                    report.skipped.append({"source": source.rel, "reason": "no text"})
                files_meta.pop(source.rel, None)
                if before:
                    report.removed.append(source.rel)
                continue
            (report.updated if before else report.added).append(source.rel)
            files_meta[source.rel]["chunks"] = len(chunks)
            new_chunks.extend(chunks)
            new_parents.extend(parents)
        for name in ("added", "updated", "removed"):
            getattr(report, name).sort()
        report.failed.sort(key=lambda f: f["source"])
        report.skipped.sort(key=lambda s: s["source"])
        timings["load_split_s"] = round(time.perf_counter() - started, 4)

        if touched:
            write_atomic(Path(index_dir) / STAT_CACHE, json.dumps({**stat_cache, **touched}))
        if previous and not (report.added or report.updated or report.removed or rebuild):
            report.generation = live.name
            report.chunks_total = previous["chunks"]
            report.files_total = len(previous["files"])
            timings["total_s"] = round(time.perf_counter() - clock, 4)
            return report

        # 3. Embed the new chunks.
        started = time.perf_counter()
        progress.start("embed", len(new_chunks))
        texts = [c.page_content for c in new_chunks]
        new_vectors = embedder.embed_array(texts, progress=lambda n: progress.advance("embed", n))
        report.chunks_embedded = len(new_chunks)
        timings["embed_s"] = round(time.perf_counter() - started, 4)

        # 4. Write the new generation beside the live one, then switch.
        started = time.perf_counter()
        progress.note("writing index")
        report.generation = _write_generation(index_dir, live if (previous and not rebuild) else None,
                                              keep_sources, new_chunks, new_parents, new_vectors, embedder, sparse,
                                              cfg, files_meta, report)
        collect_garbage(index_dir)
        (index_dir / STAT_CACHE).unlink(missing_ok=True)  # the new manifest holds every file's stat
        timings["write_s"] = round(time.perf_counter() - started, 4)
    timings["total_s"] = round(time.perf_counter() - clock, 4)
    return report


def _write_generation(index_dir: Path, live: Path | None, keep_sources: set[str], new_chunks: list[Document],
                      new_parents: list[Document], new_vectors: np.ndarray, embedder: RagkitEmbeddings, sparse: BM25Index, cfg: Config,
                      files_meta: dict, report: IngestReport) -> str:
    tmp, final = new_generation_dir(index_dir)
    store = DocStore(tmp / DOCSTORE, readonly=False)
    dense = FaissIndex(embedder.dimension)
    texts: list[str] = []
    seen: set[str] = set()
    row = 0
    if live is not None:
        old_store = DocStore(live / DOCSTORE)
        old_dense = FaissIndex.load(live)
        kept_rows, kept = [], []
        for chunk in old_store.iter_chunks(keep_sources):
            kept_rows.append(chunk.row)
            kept.append((row, chunk.to_document()))
            texts.append(chunk.text)
            seen.add(chunk.chunk_id)
            row += 1
        store.add(kept)
        store.add_parents(old_store.iter_parents(keep_sources))
        dense.add(old_dense.vectors(np.asarray(kept_rows, dtype=np.int64)))
        old_store.close()
    fresh, fresh_rows = [], []
    for position, chunk in enumerate(new_chunks):
        if chunk.metadata["chunk_id"] in seen:  # the same text at the same place: one copy
            continue
        seen.add(chunk.metadata["chunk_id"])
        fresh.append((row, chunk))
        fresh_rows.append(position)
        texts.append(chunk.page_content)
        row += 1
    store.add(fresh)
    store.add_parents(new_parents)
    store.commit()
    chunk_ids = store.chunk_ids_by_source()
    store.close()
    dense.add(new_vectors[np.asarray(fresh_rows, dtype=np.int64)] if fresh_rows else new_vectors[:0])
    dense.save(tmp)
    sparse.build(texts)
    sparse.save(tmp)
    files = {rel: {**meta, "chunks": len(chunk_ids.get(rel, [])), "chunk_ids": chunk_ids.get(rel, [])}
             for rel, meta in sorted(files_meta.items()) if rel in chunk_ids}
    report.chunks_total, report.files_total = row, len(files)
    manifest = make_manifest(generation=final.name, embedder=embedder, splitter=asdict(cfg.splitter),
                             sparse=sparse.settings(), files=files, chunks=row,
                             stats={**report.counts(), "chunks_embedded": report.chunks_embedded,
                                    "folder": report.folder})
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    publish_generation(index_dir, tmp, final)
    return final.name
