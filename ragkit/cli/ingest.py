"""``ragkit ingest``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ragkit.cli.common import ConfigOpt, IndexOpt, JsonOpt, err, fail, out, setup
from ragkit.errors import EXIT_INTERRUPTED


def ingest(
    path: Path = typer.Argument(..., metavar="FOLDER", show_default=False,
                                help="Folder to index (txt, md, pdf, html, jsonl BEIR corpora)."),
    index: Optional[Path] = IndexOpt,
    config: Optional[Path] = ConfigOpt,
    rebuild: bool = typer.Option(False, "--rebuild", help="Re-read and re-embed every file instead of only the changed ones."),
    as_json: bool = JsonOpt,
) -> None:
    """Index a folder, incrementally: only added and changed files are embedded.

    Ends with added / updated / unchanged / removed / failed counts. A file that fails gets a
    one-line reason and the rest is indexed (exit code 3). The live index is switched
    atomically, so an interrupted ingest leaves the previous one intact.

    Examples:

    \b
      ragkit ingest sample_docs
      ragkit ingest ~/papers --index ~/.ragkit/papers --config my.yaml --json
      ragkit ingest sample_docs --rebuild
    """
    from ragkit.cli.render import IngestProgressDisplay, ingest_summary
    from ragkit.ingest.pipeline import ingest as run_ingest

    cfg, index_dir = setup(config, index)
    display = IngestProgressDisplay(err, enabled=not as_json)
    existed, had_index = index_dir.exists(), (index_dir / "CURRENT").is_file()
    try:
        with display:
            report = run_ingest(path, index_dir, cfg, rebuild=rebuild, progress=display)
    except KeyboardInterrupt:
        if had_index:
            fail("interrupted; the previous index is unchanged", EXIT_INTERRUPTED)
        kept = _forget_first_ingest(index_dir, existed)
        fail(f"interrupted; no index was written at {index_dir}" + (kept and f" ({kept})"), EXIT_INTERRUPTED)
    if as_json:
        out.print_json(json.dumps(report.to_json()))
    else:
        ingest_summary(out, err, report)
    raise typer.Exit(report.exit_code)


def _forget_first_ingest(index_dir: Path, existed: bool) -> str:
    """After an interrupted first ingest: the folder it created goes, or (a folder the user made) its lock file.

    The questions and summaries the model wrote so far stay (they cost a model call each; the next ingest starts
    from them): then the folder keeps that cache alone, and the returned text says so (else "").
    """
    import shutil

    from ragkit.ingest.multi_vector import CACHE_FILE

    cache = index_dir / CACHE_FILE
    if not existed and not cache.is_file():
        shutil.rmtree(index_dir, ignore_errors=True)
        return ""
    if not existed:
        for path in index_dir.iterdir():
            if path.name.startswith(CACHE_FILE):   # the cache and its journal stay
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    (index_dir / "lock").unlink(missing_ok=True)
    return f"the questions/summaries written so far are kept in {cache}; the next ingest starts from them" \
        if cache.is_file() else ""


def register(app: typer.Typer) -> None:
    """Add ``ingest`` to ``app``."""
    app.command()(ingest)
