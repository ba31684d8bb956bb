"""``ragkit eval``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ragkit.cli.common import err, fail, out
from ragkit.errors import EXIT_INTERRUPTED, EXIT_PARTIAL


def eval_command(
    config: Path = typer.Argument(..., help="Eval config (YAML): data sets, pipelines, metrics, output folder."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: the config's `out`, else ~/.cache/ragkit/eval/<config name>)."),
) -> None:
    """Run every pipeline of an eval config over every data set and compare them.

    Writes results.json, results.csv, report.md, timings.json, PNG charts and per-query JSONL
    traces. An interrupted run resumes where it stopped; model calls are cached.

    Example: ragkit eval configs/sample-qa.yaml
    """
    from ragkit.cli.render import IngestProgressDisplay, results_tables
    from ragkit.evaluation.report import write_report
    from ragkit.evaluation.runner import run_eval
    from ragkit.evaluation.spec import load_eval_config

    spec = load_eval_config(config)
    target = Path(out_dir or spec.out)
    display = IngestProgressDisplay(err)
    try:
        with display:
            outcomes = run_eval(spec, target, progress=display)
    except KeyboardInterrupt:
        fail(f"interrupted; run the same command again to resume (traces in {target / 'traces'})", EXIT_INTERRUPTED)
    paths = write_report(spec, outcomes, target)
    for table in results_tables(outcomes):
        out.print(table)
    for outcome in outcomes:
        for warning in outcome.warnings:
            err.print(f"[yellow]warning[/] {outcome.dataset}: {warning}", highlight=False)
    err.print(f"Report: {paths['markdown']} (also results.json, results.csv, timings.json, charts)", highlight=False)
    failed = [o for o in outcomes if o.status != "ok"]
    if failed:
        err.print(f"[red]{len(failed)} run(s) failed[/]: " + "; ".join(f"{o.dataset}/{o.name}: {o.error}" for o in failed),
                  highlight=False)
        raise typer.Exit(EXIT_PARTIAL)


def register(app: typer.Typer) -> None:
    """Add ``eval`` to ``app``."""
    app.command("eval")(eval_command)
