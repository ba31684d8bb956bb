"""``ragkit eval``."""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.markup import escape

from ragkit.cli.common import BaseUrlOpt, LlmOpt, ModelOpt, err, fail, llm_overrides, out, printable
from ragkit.errors import EXIT_INTERRUPTED, EXIT_PARTIAL

if TYPE_CHECKING:
    from ragkit.evaluation.spec import EvalSpec


def with_model(spec: "EvalSpec", kind: Optional[str], model: Optional[str], base_url: Optional[str]) -> "EvalSpec":
    """``spec`` with the ``llm:`` settings of ``--llm/--model/--base-url`` over every pipeline's own."""
    from ragkit.evaluation.spec import pipeline_config

    pipelines = []
    for pipeline in spec.pipelines:
        chosen = llm_overrides(kind, model, base_url, pipeline_config(spec, pipeline).llm.kind)
        llm = {**(pipeline.overrides.get("llm") or {}), **chosen}
        pipelines.append(dataclasses.replace(pipeline, overrides={**pipeline.overrides, "llm": llm}))
    spec = dataclasses.replace(spec, pipelines=pipelines)
    for pipeline in pipelines:
        pipeline_config(spec, pipeline)   # a bad combination fails now, naming the pipeline
    return spec


def _model_folder(kind: Optional[str], model: Optional[str], base_url: Optional[str]) -> str:
    """A folder name for runs with another model, so that resuming never mixes two models' answers."""
    label = "-".join(part for part in (kind, model, base_url) if part)
    return "llm-" + (re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_")[:80] or "default")


def eval_command(
    config: Path = typer.Argument(..., metavar="CONFIG", show_default=False,
                                  help="Eval config (YAML): data sets, pipelines, metrics, output folder."),
    out_dir: Optional[Path] = typer.Option(None, "--out", "-o", metavar="DIR",
                                           help="Output folder.  [default: the config's out, else ~/.cache/ragkit/eval/<config name>; "
                                                "with --llm, --model or --base-url, a llm-<model> folder inside it]"),
    as_json: bool = typer.Option(False, "--json", help="Print the results document (what results.json holds) on stdout instead of tables."),
    llm: Optional[str] = LlmOpt,
    model: Optional[str] = ModelOpt,
    base_url: Optional[str] = BaseUrlOpt,
) -> None:
    """Run every pipeline of an eval config over every data set and compare them.

    Writes results.json, results.csv, report.md, timings.json, PNG charts and per-query JSONL
    traces. An interrupted run resumes where it stopped; model calls are cached. --llm, --model
    and --base-url replace the model of every pipeline.

    Examples:

    \b
      ragkit eval configs/sample-qa.yaml
      ragkit eval configs/scifact.yaml --out eval-out/scifact-today
      ragkit eval configs/sample-qa.yaml --base-url http://localhost:11434/v1 --model llama3.2
    """
    from ragkit.cli.render import IngestProgressDisplay, results_tables
    from ragkit.evaluation.report import write_report
    from ragkit.evaluation.runner import run_eval
    from ragkit.evaluation.spec import load_eval_config

    spec = load_eval_config(config)
    target = Path(out_dir or spec.out)
    if any(value is not None for value in (llm, model, base_url)):
        spec = with_model(spec, llm, model, base_url)
        target = Path(out_dir or spec.out / _model_folder(llm, model, base_url))
    display = IngestProgressDisplay(err)
    try:
        with display:
            outcomes = run_eval(spec, target, progress=display)
    except KeyboardInterrupt:
        fail(f"interrupted; run the same command again to resume (traces in {target / 'traces'})", EXIT_INTERRUPTED)
    paths = write_report(spec, outcomes, target)
    if as_json:  # stdout holds the document alone; progress and messages stay on stderr
        sys.stdout.write(paths["json"].read_text(encoding="utf-8"))
    else:
        for table in results_tables(outcomes):
            out.print(table)
    for outcome in outcomes:
        for warning in outcome.warnings:
            err.print(f"[yellow]warning[/] {escape(printable(f'{outcome.dataset}: {warning}', one_line=True))}", highlight=False)
    err.print(f"Report: {printable(paths['markdown'], one_line=True)} (also results.json, results.csv, timings.json, charts)",
              highlight=False, markup=False)
    failed = [o for o in outcomes if o.status != "ok"]
    if failed:
        err.print(f"[red]{len(failed)} run(s) failed[/]: "
                  + escape(printable("; ".join(f"{o.dataset}/{o.name}: {o.error}" for o in failed), one_line=True)),
                  highlight=False)
        raise typer.Exit(EXIT_PARTIAL)


def register(app: typer.Typer) -> None:
    """Add ``eval`` to ``app``."""
    app.command("eval")(eval_command)
