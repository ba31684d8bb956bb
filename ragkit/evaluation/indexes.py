"""The index an eval run searches: one per data set's documents and index settings, built once and reused."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

from ragkit.config import Config
from ragkit.evaluation.datasets import Dataset
from ragkit.ingest.pipeline import ingest

__all__ = ["index_folder_name", "index_for"]


def index_folder_name(folder: Path, cfg: Config) -> str:
    """The name of the eval index of ``folder`` under ``cfg``'s index settings: the folder's name and a hash."""
    # Questions and summaries per chunk are index content too: a run with them must not share the index of one without.
    extras = ({"questions": cfg.ingest.questions, "summaries": cfg.ingest.summaries, "llm": asdict(cfg.llm)}
              if cfg.ingest.questions or cfg.ingest.summaries else {})
    settings = json.dumps({k: asdict(getattr(cfg, k)) for k in ("embedder", "splitter", "sparse")}
                          | {"pdf_clean_pages": cfg.loader.pdf_clean_pages, "pdf_tables": cfg.loader.pdf_tables,
                             "folder": str(folder.resolve())} | extras,
                          sort_keys=True)
    return f"{folder.name}-{hashlib.sha256(settings.encode()).hexdigest()[:10]}"


def index_for(dataset: Dataset, cfg: Config, out: Path, progress=None) -> tuple[Path, list[str]]:
    """The index of the data set's documents for these index settings, built (or brought up to date) once, and a
    warning when some of its files could not be loaded (the scores are then over a partial corpus).

    Keyed by the documents folder, not the data set's name: a set's calibration and test halves over
    the same folder share one index.
    """
    folder = dataset.documents
    if dataset.kind == "beir":
        folder = out / "corpora" / dataset.name
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "corpus.jsonl"
        if not target.exists():
            try:
                os.link(dataset.corpus, target)  # no copy of a large corpus when the disk allows
            except OSError:
                shutil.copy2(dataset.corpus, target)
    index_dir = out / "indexes" / index_folder_name(Path(folder), cfg)
    report = ingest(folder, index_dir, cfg, progress=progress)  # nothing to do when it is up to date
    failed = report.failed   # tried again at every run, so every run says so
    return index_dir, [f"{len(failed)} of the data set's files could not be loaded and are not searched (first: "
                       f"{failed[0]['source']}: {failed[0]['reason']})"] if failed else []
