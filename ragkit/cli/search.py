"""``ragkit search`` and ``ragkit info``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ragkit.cli.common import (
    ConfigOpt,
    FilterOpt,
    IndexOpt,
    JsonOpt,
    Mode,
    ModeOpt,
    RerankOpt,
    at_least_one,
    check_filter_keys,
    err,
    out,
    printable,
    rerank_failed,
    setup,
    with_rerank,
)
from ragkit.errors import EXIT_PARTIAL, RagkitError, UsageError


def search(
    query: Optional[str] = typer.Argument(None, metavar="QUERY", help="What to look for, in quotes.", show_default=False),
    index: Optional[Path] = IndexOpt,
    config: Optional[Path] = ConfigOpt,
    mode: Optional[Mode] = ModeOpt,
    k: Optional[int] = typer.Option(None, "-k", "--top-k", metavar="N", callback=at_least_one,
                                    help="Number of results.  [default: search.k in the config, else 10]"),
    filters: Optional[List[str]] = FilterOpt,
    queries: Optional[Path] = typer.Option(None, "--queries", "-q", metavar="FILE",
                                           help="JSONL file of {\"_id\",\"text\"} queries instead of QUERY: "
                                                "prints one JSON line per query."),
    rerank: Optional[str] = RerankOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Search the index: hybrid (dense + BM25, a weighted sum of their normalised scores) by default.

    Examples:

    \b
      ragkit search "reciprocal rank fusion"
      ragkit search "chunk size" --mode sparse -k 3 --filter source=field-notes.pdf --json
      ragkit search --queries queries.jsonl > runs.jsonl
      ragkit search "chunk size" --rerank http --config rerank.yaml

    A reranked result shows its rerank score and its rank before reranking (--json: rerank_score,
    fused_rank); when the reranker fails, the fused order is printed and a note on stderr says why.
    """
    if (query is None) == (queries is None):
        raise UsageError("give a QUERY or --queries FILE (one of them)")
    from ragkit.cli.render import results_table
    from ragkit.retrieval.search import Searcher, parse_filters

    cfg, index_dir = setup(config, index)
    parsed = parse_filters(filters)
    searcher = Searcher(index_dir, with_rerank(cfg, rerank))
    searcher.check_not_empty()
    check_filter_keys(searcher, parsed)
    if queries is not None:
        raise typer.Exit(_batch_search(searcher, queries, mode, k, parsed))
    results = _search_reranked(searcher, [query], mode, k, parsed)[0]
    if as_json:
        out.print_json(json.dumps([r.to_json() for r in results]))
    elif not results:
        err.print("No results." + (" (check the --filter values)" if parsed else ""))
    else:
        out.print(results_table(query, results))


def _read_queries(path: Path) -> tuple[list[tuple[str, str]], int]:
    """The ``(id, text)`` queries of a JSONL file, and how many lines were malformed (each reported)."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()  # -sig: a BOM is not part of line 1
    except (OSError, UnicodeDecodeError) as exc:
        raise RagkitError(f"cannot read --queries file {path}: {exc}") from exc
    batch: list[tuple[str, str]] = []
    bad = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        query, problem = _parse_query(line)
        if query is None:  # malformed user input: reported per line, the batch goes on
            err.print(printable(f"{path}:{number}: skipped, not a {{\"_id\",\"text\"}} query ({problem})",
                                one_line=True), highlight=False, markup=False)
            bad += 1
            continue
        batch.append(query)
    return batch, bad


def _parse_query(line: str) -> tuple[Optional[tuple[str, str]], str]:
    """``((id, text), "")`` for a well-formed JSONL query line, else ``(None, what is wrong)``."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, str(exc)
    if not isinstance(item, dict):
        return None, "not a JSON object"
    if "_id" not in item:
        return None, 'no "_id"'
    text = item.get("text")
    if not isinstance(text, str):
        return None, 'no "text" string'
    if not text.strip():
        return None, "empty text"
    return (str(item["_id"]), text), ""


def _search_reranked(searcher, texts: list[str], mode: Optional[str], k: Optional[int], filters: dict,
                     ids: Optional[list[str]] = None) -> list:
    """The top ``k`` of each query: searched together, then each reranked when ``search.rerank`` is set (the
    pipeline ask, chat and eval retrieve through); a reranker that fails leaves the fused order and a note on stderr."""
    from ragkit.retrieval.pipeline import Pipeline

    ranked = []
    for position, found in enumerate(Pipeline(searcher, mode=mode, filters=filters).search(texts, k)):
        rerank_failed(found.rerank, f"query {ids[position]}: " if ids else "")
        ranked.append(found.context)
    return ranked


def _batch_search(searcher, path: Path, mode: Optional[str], k: Optional[int], filters: dict) -> int:
    batch, bad = _read_queries(path)
    for start in range(0, len(batch), 64):  # embed queries 64 at a time
        part = batch[start : start + 64]
        results = _search_reranked(searcher, [text for _, text in part], mode, k, filters, [qid for qid, _ in part])
        for (query_id, _), found in zip(part, results):
            sys.stdout.write(json.dumps({"query_id": query_id, "results": [r.to_json() for r in found]}) + "\n")
    sys.stdout.flush()
    return EXIT_PARTIAL if bad else 0


def info(index: Optional[Path] = IndexOpt, config: Optional[Path] = ConfigOpt, as_json: bool = JsonOpt,
         check: bool = typer.Option(False, "--check", help="Also check every index file against the sha256 "
                                                             "its manifest recorded (reads the whole index).")) -> None:
    """Describe the index: files, chunks, embedder, sizes, generation, last ingest.

    Examples:

    \b
      ragkit info
      ragkit info --index .ragkit --json
      ragkit info --check
    """
    from ragkit.cli.render import info_table
    from ragkit.store.info import check_index, index_info

    _cfg, index_dir = setup(config, index)
    if check:
        check_index(index_dir)
    data = index_info(index_dir)
    if as_json:
        out.print_json(json.dumps(data))
    else:
        out.print(info_table(data))


def register(app: typer.Typer) -> None:
    """Add ``search`` and ``info`` to ``app``."""
    app.command()(search)
    app.command()(info)
