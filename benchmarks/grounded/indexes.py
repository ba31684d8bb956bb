"""The four indexes of the grounded-answers benchmark: docugami 10-Qs and pdfs/, raw and cleaned pages.

    python benchmarks/grounded/indexes.py [--out benchmarks/out/grounded]

Each is built once with the default config, ``loader.pdf_clean_pages`` false (raw) or true (clean),
as ``<out>/<set>-<raw|clean>``; an index that exists is kept. Run one build at a time (embedding).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets"
FOLDERS = {"pdfs": SHARED / "pdfs", "docugami": SHARED / "docugami-sec-10q" / "docs"}
VARIANTS = {"raw": False, "clean": True}


def index_path(out: Path, name: str, variant: str) -> Path:
    """Where the ``name`` set's ``variant`` index lives."""
    return out / f"{name}-{variant}"


def config(variant: str):
    """The default config with PDF page cleaning on (clean) or off (raw)."""
    from ragkit.config import Config

    cfg = Config()
    return dataclasses.replace(cfg, loader=dataclasses.replace(cfg.loader, pdf_clean_pages=VARIANTS[variant]))


def build(out: Path) -> None:
    """Build every missing index, printing chunks and seconds."""
    from ragkit.ingest.pipeline import ingest

    for name, folder in FOLDERS.items():
        for variant in VARIANTS:
            index = index_path(out, name, variant)
            if (index / "CURRENT").is_file():
                continue
            started = time.time()
            report = ingest(folder, index, config(variant))
            print(f"{index}: {report.chunks_total} chunks, {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "out" / "grounded")
    build(parser.parse_args().out)
