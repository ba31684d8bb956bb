"""Ingest: scan -> detect changes -> load and split -> embed -> write a new generation, incrementally.

Files are compared with the live generation's manifest: unchanged files (same size and
mtime, or else the same sha256) cost nothing; added and changed files are loaded, split and
embedded; their old chunks, and the chunks of removed files, leave every index. A file that
fails to load is reported with a one-line reason; if an earlier version of it was indexed,
that version is kept (nothing is lost on bad input). When nothing changed, no generation is
written at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
from langchain_core.documents import Document

from ragkit.config import Config
from ragkit.embedders import RagkitEmbeddings, build_embedder
from ragkit.errors import EmbedderMismatch, LoadError
from ragkit.extras import require_extra
from ragkit.ingest.changes import Changes, clear_stat_cache, detect_changes, save_stat_cache
from ragkit.ingest.multi_vector import Recipe, generate_extras, passages, recipe_of
from ragkit.ingest.report import IngestReport, Progress, SilentProgress
from ragkit.ingest.scan import SUPPORTED_EXTENSIONS, ScanResult, scan_folder
from ragkit.ingest.split_files import load_and_split_files
from ragkit.ingest.streaming import StreamingEmbedder
from ragkit.llm import build_llm
from ragkit.llm.base import ChatModel
from ragkit.store.generated import GeneratedCache
from ragkit.store.generations import WriterLock, collect_garbage
from ragkit.store.index import live_manifest
from ragkit.store.info import record_last_ingest
from ragkit.store.manifest import (
    FORMAT_VERSION,
    IndexSettings,
    changed_settings,
    dense_changed,
    lacks_document_index,
    multi_vector_changed,
)
from ragkit.store.registry import dense_store_class, finish_ingest, new_sparse_store, prepare_ingest, store_options
from ragkit.store.writer import GenerationContent, write_generation


class Engine(Protocol):
    """Loads, splits and embeds for an ingest somewhere else (Ray): a ``load_and_split_files`` and an embedder."""

    embedder: RagkitEmbeddings

    def load_and_split_files(self, root: Path, sources: list, limits, splitter, idle=None) -> Iterator:
        """(source, (chunks, parents) or LoadError) once per source, in any order, as :func:`load_and_split_files`."""


@dataclass(frozen=True)
class Baseline:
    """What this ingest compares with: the indexed files, and the generation to carry chunks from.

    Both are empty on a first ingest and on a rebuild (asked for, or forced by changed settings).
    """

    files: dict[str, dict]
    carry_from: Path | None
    rebuilt: bool
    note: str | None


@dataclass(frozen=True)
class LoadedFiles:
    """What :func:`load_and_split` made of the changed files.

    ``files`` is ``Changes.files`` minus files that failed or held no text (a failed file with
    an indexed version keeps that version's record); ``kept`` are those failed files, whose
    indexed chunks stay; ``emptied`` were indexed and now hold no text. ``chunks`` and ``parents``
    are in load-list order whatever order the files finished in; ``vectors`` row i embeds
    chunks[i] (a read-only memory-mapped array: the vectors wait on disk, not in RAM); ``embed_s`` is the time spent inside the embedder.
    """

    added: list[str]
    updated: list[str]
    emptied: list[str]
    kept: list[str]
    failed: list[dict]
    skipped: list[dict]
    files: dict[str, dict]
    chunks: list[Document]
    parents: list[Document]
    vectors: np.ndarray
    embed_s: float


def _require_engine_packages(cfg: Config, engine: Engine | None) -> None:
    """``ingest.engine: ray`` without Ray installed: one line naming the extra (``MissingExtra``)."""
    if engine is None and cfg.ingest.engine == "ray":
        require_extra("ray")


def ingest(folder: Path, index_dir: Path, cfg: Config, *, rebuild: bool = False,
           progress: Progress | None = None, embedder: RagkitEmbeddings | None = None,
           engine: Engine | None = None, llm: ChatModel | None = None) -> IngestReport:
    """Bring the index at ``index_dir`` up to date with ``folder``; return what changed.

    ``engine`` loads and embeds instead of this process (``ingest.engine: ray`` builds a
    :class:`ragkit.ingest.ray_engine.RayEngine` when none is given; ``MissingExtra`` without Ray).
    ``llm`` writes the questions and summaries ``ingest.questions`` / ``ingest.summaries`` ask for (built from the
    ``llm:`` section when not given, before any work: ``MissingExtra`` without the local model).
    Raises ``FolderError`` for an unusable folder, ``IndexLocked`` when another ingest is writing,
    and embedder and model errors (the previous generation stays live in every case)."""
    progress = progress or SilentProgress()
    clock = time.perf_counter()
    _require_engine_packages(cfg, engine)  # before any work
    llm = _writer_model(cfg, llm)
    recipe = recipe_of(cfg, llm)
    folder, index_dir = Path(folder), Path(index_dir)
    scan = scan_sources(folder, index_dir)
    embedder = embedder or build_embedder(cfg.embedder)
    settings = index_settings(cfg, embedder)
    report = IngestReport(index=str(index_dir), folder=str(folder))
    report.skipped = [{"source": s.rel, "reason": s.reason} for s in scan.skipped]
    with WriterLock(index_dir):
        collect_garbage(index_dir)
        settings = prepare_ingest(index_dir, settings)  # a remote index: checked, a killed ingest finished
        # A rebuild reads nothing of the old generation, so it repairs any damage to it.
        live, previous = (None, None) if rebuild else live_manifest(index_dir)
        baseline = choose_baseline(live, previous, settings, rebuild)
        report.rebuilt = baseline.rebuilt
        report.notes += [baseline.note] if baseline.note else []
        with _timed(report, "scan_s"):
            changes = detect_changes(scan.files, baseline.files, index_dir)
        with _timed(report, "load_split_s"):
            if engine is None and cfg.ingest.engine == "ray" and changes.to_load:
                from ragkit.ingest.ray_engine import RayEngine  # Ray loads only when asked for
                engine = RayEngine(cfg, embedder)
            loaded = load_and_split(folder, changes, baseline.files, cfg, progress,
                                    engine.embedder if engine else embedder,
                                    engine.load_and_split_files if engine else load_and_split_files, spill_dir=index_dir)
        # Embedding overlaps loading: embed_s is the time inside the embedder, load_split_s the rest of the step.
        report.timings["embed_s"] = round(loaded.embed_s, 4)
        report.timings["load_split_s"] = round(report.timings["load_split_s"] - loaded.embed_s, 4)
        _record_changes(report, changes, loaded)
        save_stat_cache(index_dir, changes)
        if previous and not (baseline.rebuilt or report.added or report.updated or report.removed
                             or _restructured(previous, settings, recipe)):
            report.generation = live.name  # nothing to write: the live generation stays
            report.chunks_total, report.files_total = previous["chunks"], len(previous["files"])
        else:
            report.chunks_embedded = len(loaded.chunks)
            content = generation_content(baseline, changes, loaded)
            if recipe is not None:
                content = _with_extras(content, recipe, llm, index_dir, engine.embedder if engine else embedder,
                                       progress, report)
            _write(index_dir, content, settings, report, progress)
        record_last_ingest(index_dir, report.generation, _ingest_stats(report))
    report.notes += _empty_index_note(report, folder)
    report.timings["total_s"] = round(time.perf_counter() - clock, 4)
    return report


def _restructured(previous: dict, settings: IndexSettings, recipe: Recipe | None) -> bool:
    """Whether the live generation must be written anew though no file changed: its vectors go into another
    structure, it predates document evidence, or other questions or summaries per chunk are asked for."""
    return (dense_changed(previous, settings) or lacks_document_index(previous)
            or multi_vector_changed(previous, recipe.recorded() if recipe else None))


def _write(index_dir: Path, content: GenerationContent, settings: IndexSettings, report: IngestReport,
           progress: Progress) -> None:
    """Write ``content`` as a new generation, make it live, and record it in ``report``."""
    with _timed(report, "write_s"):
        progress.note("writing index")
        written = write_generation(index_dir, content, settings, stats=_ingest_stats(report))
        report.generation, report.chunks_total, report.files_total = written.name, written.chunks, written.files
        report.notes.extend(written.notes)
        finish_ingest(index_dir, settings)
        collect_garbage(index_dir)
        clear_stat_cache(index_dir)


def _writer_model(cfg: Config, llm: ChatModel | None) -> ChatModel | None:
    """The model that writes questions and summaries per chunk, when the config asks for them (built now, so a
    missing local model is one line before any work)."""
    if llm is None and (cfg.ingest.questions or cfg.ingest.summaries):
        llm = build_llm(cfg.llm)
    return llm


def _with_extras(content: GenerationContent, recipe: Recipe, llm: ChatModel, index_dir: Path,
                 embedder: RagkitEmbeddings, progress: Progress, report: IngestReport) -> GenerationContent:
    """``content`` with every chunk's extra vectors (written by the model or found in the index's cache)."""
    cache = GeneratedCache(index_dir)
    try:
        report.notes += [cache.note] if cache.note else []
        chunks = passages(content.carry_from, content.keep_sources, content.chunks)
        with _timed(report, "generate_s"):
            generated = generate_extras(chunks, recipe, llm, embedder, cache, progress)
    finally:
        cache.close()
    report.generated = generated.to_json()
    return replace(content, multi_vector=recipe.recorded(), extras=generated.by_chunk)


def _empty_index_note(report: IngestReport, folder: Path) -> list[str]:
    """An empty index answers nothing: say so at ingest rather than at the first question."""
    if report.chunks_total:
        return []
    skipped = f" ({len(report.skipped)} skipped, see above)" if report.skipped else ""
    return [f"the index is empty: {folder} holds no file ragkit can read{skipped}; it reads "
            + " ".join(sorted(SUPPORTED_EXTENSIONS))]


def _ingest_stats(report: IngestReport) -> dict:
    """What an ingest did, as the manifest and ``ragkit info`` record it."""
    return {**report.counts(), "chunks_embedded": report.chunks_embedded, "folder": report.folder}


def scan_sources(folder: Path, index_dir: Path) -> ScanResult:
    """``scan_folder(folder)``, minus the index itself: one kept inside the folder it indexes must not index itself."""
    scan = scan_folder(folder)
    own = index_dir.resolve()
    return replace(scan, files=[f for f in scan.files if own not in f.path.parents],
                   skipped=[s for s in scan.skipped if own not in (scan.root / s.rel).absolute().parents])


def index_settings(cfg: Config, embedder: RagkitEmbeddings) -> IndexSettings:
    """The settings a new generation is written with (embedder, splitter, sparse backend and settings)."""
    bm25 = {key: value for key, value in asdict(cfg.sparse).items() if key != "backend"}
    dense, dense_options, sparse_options = store_options(cfg)   # what each backend takes from the config
    sparse = new_sparse_store(cfg.sparse.backend, bm25, sparse_options)
    # Page cleaning and table extraction change PDF chunks' text, so they are recorded with the splitter: turning
    # either on or off rebuilds, and so does an index written before pdf_tables existed (the key is missing).
    splitter = asdict(cfg.splitter) | {"pdf_clean_pages": cfg.loader.pdf_clean_pages, "pdf_tables": cfg.loader.pdf_tables}
    return IndexSettings(embedder=embedder, splitter=splitter, sparse=sparse.settings(),
                         dense_backend=cfg.dense.backend, sparse_backend=cfg.sparse.backend, dense_options=dense_options,
                         sparse_options=sparse_options, dense=dense)


def dense_settings(cfg: Config) -> dict:
    """The dense backend's structure settings from the config (FAISS: the ``dense:`` section, ``index`` as its ``kind``).

    Empty for a backend without any (a remote store keeps its own structure).
    """
    return dense_store_class(cfg.dense.backend).config_settings(cfg)


def choose_baseline(live: Path | None, previous: dict | None, settings: IndexSettings, rebuild: bool) -> Baseline:
    """Compare with the live generation, unless there is none, a rebuild was asked for, or settings changed."""
    note = None
    if previous and not rebuild and previous.get("format_version") != FORMAT_VERSION:
        note = f"the index is in format {previous.get('format_version')}, this ragkit writes {FORMAT_VERSION}: rebuilding everything"
        rebuild = True
    if previous and not rebuild:
        changed = changed_settings(previous, settings)
        if "embedder" in changed:
            # Another embedder replaces every vector of the index: a config pointed at the wrong index must
            # not do that silently (search refuses the mismatch too).
            was, now = previous["embedder"], settings.recorded()["embedder"]
            raise EmbedderMismatch(f"this index was built with embedder {was.get('id')} ({was.get('dimension')}-d), "
                                   f"but the configured embedder is {now.get('id')} ({now.get('dimension')}-d); "
                                   "ingest with --rebuild to re-embed every file with it, or choose another --index")
        if changed:
            note = f"{', '.join(changed)} settings changed since the last ingest: rebuilding everything"
            rebuild = True
    if previous is None or rebuild:
        return Baseline(files={}, carry_from=None, rebuilt=True, note=note)
    return Baseline(files=previous["files"], carry_from=live, rebuilt=False, note=note)


def load_and_split(folder: Path, changes: Changes, indexed: dict[str, dict], cfg: Config,
                   progress: Progress, embedder: RagkitEmbeddings, loader: Callable = load_and_split_files, *,
                   spill_dir: Path | None = None) -> LoadedFiles:
    """Load and split the changed files (with ``loader``: :func:`load_and_split_files` here, or an engine's), embed the chunks.

    Chunks are embedded while PDF workers parse the remaining files; their vectors wait in
    unnamed files in ``spill_dir``, not in memory (see ragkit.ingest.streaming).
    """
    files = dict(changes.files)
    added, updated, emptied, kept, failed, skipped = [], [], [], [], [], []
    parents: dict[int, list[Document]] = {}
    position = {source.rel: n for n, source in enumerate(changes.to_load)}
    stream = StreamingEmbedder(embedder, progress, spill_dir=spill_dir)
    progress.start("load", len(changes.to_load))
    progress.start("embed", 0)
    with closing(loader(folder, changes.to_load, cfg.loader, cfg.splitter, idle=stream.embed_some)) as results:
        for source, result in results:  # closed on any error, which stops the PDF workers
            progress.advance("load")
            rel, before = source.rel, indexed.get(source.rel)
            if isinstance(result, LoadError):
                failed.append({"source": rel, "reason": str(result), "kept_previous": bool(before)})
                if before:
                    kept.append(rel)
                    files[rel] = before  # the old hash, so the next ingest retries it
                else:
                    del files[rel]
                continue
            doc_chunks, parents[position[rel]] = result
            if not doc_chunks:
                del files[rel]
                if rel.lower().endswith(".pdf"):
                    failed.append({"source": rel, "kept_previous": False,
                                   "reason": "no extractable text (a scanned PDF needs OCR first)"})
                else:
                    skipped.append({"source": rel, "reason": "no text"})
                if before:
                    emptied.append(rel)
                continue
            (updated if before else added).append(rel)
            stream.add(position[rel], doc_chunks)
    chunks, vectors = stream.finish()
    return LoadedFiles(added=added, updated=updated, emptied=emptied, kept=kept, failed=failed,
                       skipped=skipped, files=files, chunks=chunks,
                       parents=[p for n in sorted(parents) for p in parents[n]], vectors=vectors,
                       embed_s=stream.embed_s)


def _record_changes(report: IngestReport, changes: Changes, loaded: LoadedFiles) -> None:
    """Fill the report's file lists, sorted (files load in no fixed order)."""
    report.unchanged = list(changes.unchanged)
    report.added, report.updated = sorted(loaded.added), sorted(loaded.updated)
    report.removed = sorted(changes.removed + loaded.emptied)
    report.failed = sorted(loaded.failed, key=lambda f: f["source"])
    report.skipped = sorted(report.skipped + loaded.skipped, key=lambda s: s["source"])


def generation_content(baseline: Baseline, changes: Changes, loaded: LoadedFiles) -> GenerationContent:
    """What the new generation holds: unchanged (and failed but indexed) files carried forward, plus the new chunks."""
    return GenerationContent(carry_from=baseline.carry_from,
                             keep_sources=frozenset(changes.unchanged) | frozenset(loaded.kept),
                             chunks=loaded.chunks, parents=loaded.parents, vectors=loaded.vectors, files=loaded.files)


@contextmanager
def _timed(report: IngestReport, name: str) -> Iterator[None]:
    """Record how long the block took in ``report.timings[name]`` (seconds)."""
    started = time.perf_counter()
    yield
    report.timings[name] = round(time.perf_counter() - started, 4)
