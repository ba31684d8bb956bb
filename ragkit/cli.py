"""The ``ragkit`` command: parses arguments, calls the library, renders with rich. Nothing more.

Exit codes: 0 success, 1 error (nothing changed), 2 usage error, 3 partial success (some
files failed to ingest, or some batch queries were malformed).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from ragkit import __version__
from ragkit.config import Config, ConfigError, load_config
from ragkit.embedders import EmbedderError
from ragkit.index import IndexError_
from ragkit.loaders import FolderError
from ragkit.render import IngestProgressDisplay, info_table, ingest_summary, results_table
from ragkit.search import SearchError, Searcher, parse_filters

app = typer.Typer(
    name="ragkit",
    help="Point ragkit at a folder of documents, then search it — offline, with no key.\n\n"
    "  ragkit ingest sample_docs\n\n  ragkit search \"what is reciprocal rank fusion?\"",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

EXIT_ERROR = 1
EXIT_PARTIAL = 3

IndexOpt = typer.Option(None, "--index", "-i", help="Index folder. Default: $RAGKIT_INDEX, the config's `index`, or ./.ragkit")
ConfigOpt = typer.Option(None, "--config", "-c", help="YAML config file (default: $RAGKIT_CONFIG, or built-in defaults).")
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON on stdout instead of tables.")


def _fail(message: str, code: int = EXIT_ERROR) -> None:
    err.print(f"[bold red]Error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(code)


def _setup(config: Optional[Path], index: Optional[Path]) -> tuple[Config, Path]:
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        _fail(str(exc))
    chosen = index or os.environ.get("RAGKIT_INDEX") or cfg.index
    return cfg, Path(chosen)


def _version(value: bool) -> None:
    if value:
        out.print(f"ragkit {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Show the version and exit.")) -> None:
    """ragkit: ingest a folder, then search it."""


@app.command()
def ingest(
    path: Path = typer.Argument(..., help="Folder to index (txt, md, pdf, html, jsonl BEIR corpora)."),
    index: Optional[Path] = IndexOpt,
    config: Optional[Path] = ConfigOpt,
    rebuild: bool = typer.Option(False, "--rebuild", help="Re-read and re-embed every file instead of only the changed ones."),
    as_json: bool = JsonOpt,
) -> None:
    """Index a folder, incrementally: only added and changed files are embedded.

    Ends with added / updated / unchanged / removed / failed counts. A file that fails gets a
    one-line reason and the rest is indexed (exit code 3). The live index is switched
    atomically, so an interrupted ingest leaves the previous one intact.

    Example: ragkit ingest sample_docs --index .ragkit
    """
    from ragkit.ingest import ingest as run_ingest

    cfg, index_dir = _setup(config, index)
    display = IngestProgressDisplay(err, enabled=not as_json)
    try:
        with display:
            report = run_ingest(path, index_dir, cfg, rebuild=rebuild, progress=display)
    except (FolderError, IndexError_, EmbedderError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        _fail("interrupted; the previous index is unchanged", 130)
    if as_json:
        out.print_json(json.dumps(report.to_json()))
    else:
        ingest_summary(out, err, report)
    raise typer.Exit(report.exit_code)


@app.command()
def search(
    query: Optional[str] = typer.Argument(None, help="What to look for."),
    index: Optional[Path] = IndexOpt,
    config: Optional[Path] = ConfigOpt,
    mode: Optional[str] = typer.Option(None, "--mode", "-m", help="dense | sparse | hybrid (default: hybrid, RRF of both)."),
    k: Optional[int] = typer.Option(None, "-k", "--top-k", help="Number of results (default 10)."),
    filters: Optional[List[str]] = typer.Option(None, "--filter", "-f", help="KEY=VALUE metadata filter, repeatable; globs allowed: source='notes/*.md'."),
    queries: Optional[Path] = typer.Option(None, "--queries", "-q", help="JSONL file of {\"_id\",\"text\"} queries: prints one JSON line per query."),
    as_json: bool = JsonOpt,
) -> None:
    """Search the index: hybrid (dense + BM25, fused by reciprocal rank fusion) by default.

    Examples:

      ragkit search "reciprocal rank fusion"

      ragkit search "chunk size" --mode sparse -k 3 --filter source=field-notes.pdf --json

      ragkit search --queries queries.jsonl > runs.jsonl
    """
    if (query is None) == (queries is None):
        _fail("give a QUERY or --queries FILE (one of them)", 2)
    cfg, index_dir = _setup(config, index)
    try:
        parsed = parse_filters(filters)
        searcher = Searcher(index_dir, cfg)
        if queries is not None:
            raise typer.Exit(_batch_search(searcher, queries, mode, k, parsed))
        results = searcher.search(query, mode=mode, k=k, filters=parsed)
    except (IndexError_, SearchError, EmbedderError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        out.print_json(json.dumps([r.to_json() for r in results]))
    elif not results:
        err.print("No results." + (" (check the --filter values)" if parsed else ""))
    else:
        out.print(results_table(query, results))


def _batch_search(searcher: Searcher, path: Path, mode: Optional[str], k: Optional[int], filters: dict) -> int:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read --queries file {path}: {exc}")
    batch: list[tuple[str, str]] = []
    bad = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            query_id, text = str(item["_id"]), item["text"]
            if not isinstance(text, str) or not text.strip():
                raise ValueError("empty text")
        except (ValueError, KeyError, TypeError) as exc:
            err.print(f"{path}:{number}: skipped, not a {{\"_id\",\"text\"}} query ({exc})", highlight=False)
            bad += 1
            continue
        batch.append((query_id, text))
    for start in range(0, len(batch), 64):  # embed queries 64 at a time
        part = batch[start : start + 64]
        results = searcher.search_many([text for _, text in part], mode=mode, k=k, filters=filters)
        for (query_id, _), found in zip(part, results):
            sys.stdout.write(json.dumps({"query_id": query_id, "results": [r.to_json() for r in found]}) + "\n")
    sys.stdout.flush()
    return EXIT_PARTIAL if bad else 0


@app.command()
def info(index: Optional[Path] = IndexOpt, config: Optional[Path] = ConfigOpt, as_json: bool = JsonOpt) -> None:
    """Describe the index: files, chunks, embedder, sizes, generation, last ingest."""
    from ragkit.stats import index_info

    _cfg, index_dir = _setup(config, index)
    try:
        data = index_info(index_dir)
    except IndexError_ as exc:
        _fail(str(exc))
    if as_json:
        out.print_json(json.dumps(data))
    else:
        out.print(info_table(data))


from ragkit import cli_ask, cli_eval  # noqa: E402,F401  (register the ask, chat and eval commands)

if __name__ == "__main__":  # pragma: no cover
    app()
