"""Eval reports: results.json, results.csv, report.md, timings.json and PNG charts. The terminal tables are the CLI's (:mod:`ragkit.cli.render`).

results.json holds only deterministic numbers (quality, calls, tokens), the config's hash,
package versions and model ids — no clock times, so the same config with the fake model gives a
byte-identical file. Wall-clock numbers go to timings.json and the charts; report.md and
results.csv also show latency p50/p95 in ms when the config's metrics ask for them
(``latency_p50_ms``, ``latency_p95_ms``) — those two files then differ from run to run, and
results.json still does not. Counts are integers; a failed run's cells are empty, never 0.
"""

from __future__ import annotations

import csv
import io
import json
from importlib import metadata
from pathlib import Path

from ragkit import __version__
from ragkit.evaluation.charts import write_charts
from ragkit.evaluation.glossary import meaning
from ragkit.evaluation.spec import LATENCY_METRICS

PACKAGES = ("langchain-core", "langchain-community", "faiss-cpu", "bm25s", "onnxruntime", "llama-cpp-python",
            "tiktoken", "pypdf")
COUNT_METRICS = ("llm_calls", "cached_calls", "prompt_tokens", "completion_tokens")
LOWER_IS_BETTER = (*COUNT_METRICS, *LATENCY_METRICS, "answerable_refused", "rerank_failures", "fallback_rate")
NEITHER = ("refusal_rate", "weak_support")   # how answers came about: no best run, no quality bar
FIRST = ("fallback_rate",)   # shown next to the run, before its scores: they are partly extract's when it is high


def _versions() -> dict:
    out = {"ragkit": __version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def number(metric: str, value):
    """A metric value as reported: a whole count as an int, a latency to 0.1 ms; None stays None."""
    if value is None:
        return None
    if metric in COUNT_METRICS and float(value).is_integer():
        return int(value)
    return round(value, 1) if metric in LATENCY_METRICS else value


def format_value(metric: str, value) -> str:
    """A metric value as a table cell: counts as integers, 4 decimals for scores, "" for nothing."""
    value = number(metric, value)
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if metric in LATENCY_METRICS:
        return f"{value:.1f}"
    return f"{value:.2f}" if metric in COUNT_METRICS else f"{value:.4f}"


def run_values(outcome) -> dict:
    """A run's metrics and its latencies in ms (``latency_p50_ms``…); nothing for a failed run."""
    if outcome.status != "ok":
        return {}
    values = dict(outcome.metrics)
    for name, seconds in LATENCY_METRICS.items():
        if outcome.timings.get(seconds) is not None:
            values[name] = outcome.timings[seconds] * 1000
    return values


def build_results(spec, outcomes) -> dict:
    """The results document (``results.json``): deterministic values only, no latencies."""
    return {
        "config": spec.path.name,
        "config_hash": spec.text_hash,
        "versions": _versions(),
        "runs": [{"name": o.name, "dataset": o.dataset, "status": o.status, "error": o.error,
                  "n_queries": o.n_queries if o.status == "ok" else None,
                  "metrics": {k: number(k, v) for k, v in o.metrics.items()}, "models": o.models,
                  "warnings": o.warnings}
                 for o in outcomes],
    }


def metric_columns(outcomes) -> list[str]:
    """Every metric name reported by any run, in first-seen order (the table's columns)."""
    columns: list[str] = []
    for outcome in outcomes:
        for name in outcome.metrics:
            if name not in columns:
                columns.append(name)
    return [c for c in FIRST if c in columns] + [c for c in columns if c not in FIRST]


def run_label(outcome) -> str:
    """A run's name as the tables and charts show it: with its fallback rate, and marked when most of its
    answers were extract's quotes."""
    from ragkit.evaluation.runner import fallback_mark

    rate = outcome.metrics.get("fallback_rate") if outcome.status == "ok" else None
    label = outcome.name if rate is None else f"{outcome.name} (fallback {rate:.0%})"
    return f"{label} ⚠ {fallback_mark(outcome)}" if fallback_mark(outcome) else label


def report_columns(spec, outcomes) -> list[str]:
    """The columns of report.md and results.csv: the metrics, then the latencies the config asks for."""
    return metric_columns(outcomes) + [name for name in LATENCY_METRICS if name in spec.metrics]


def best_value(outcomes, dataset: str, metric: str):
    """The best value of a metric among a data set's runs; None when there is nothing to single out."""
    values = [v for o in outcomes if o.dataset == dataset and (v := run_values(o).get(metric)) is not None]
    if len(set(values)) < 2 or metric in NEITHER:
        return None
    return min(values) if metric in LOWER_IS_BETTER else max(values)


def write_report(spec, outcomes, out: Path) -> dict:
    """Write every report file into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    results = build_results(spec, outcomes)
    paths = {"json": out / "results.json", "csv": out / "results.csv", "markdown": out / "report.md",
             "timings": out / "timings.json"}
    paths["json"].write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    columns = report_columns(spec, outcomes)
    paths["csv"].write_text(_csv(outcomes, columns), encoding="utf-8")
    paths["markdown"].write_text(_markdown(spec, results, outcomes, columns), encoding="utf-8")
    paths["timings"].write_text(json.dumps({"runs": [{"name": o.name, "dataset": o.dataset, **o.timings}
                                                     for o in outcomes]}, indent=2) + "\n", encoding="utf-8")
    ok = [o for o in outcomes if o.status == "ok"]
    latency = {(o.dataset, o.name): run_values(o).get("latency_p50_ms") for o in ok}
    paths.update(write_charts(ok, [c for c in metric_columns(ok) if c not in LOWER_IS_BETTER + NEITHER], latency, out))
    return paths


def _csv(outcomes, columns) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["dataset", "run", "status", "error", "n_queries", *columns])
    for o in outcomes:
        values = run_values(o)
        cells = [number(c, values.get(c)) for c in columns]
        writer.writerow([o.dataset, o.name, o.status, o.error or "", o.n_queries if o.status == "ok" else "",
                         *["" if v is None else v for v in cells]])
    return buffer.getvalue()


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown(spec, results, outcomes, columns) -> str:
    lines = [f"# Evaluation: {spec.path.name}", "", f"- config sha256: `{spec.text_hash}`",
             "- versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items() if v), ""]
    shown: list[str] = []
    for dataset in dict.fromkeys(o.dataset for o in outcomes):
        rows = [o for o in outcomes if o.dataset == dataset]
        used = [c for c in columns if any(c in run_values(o) for o in rows)]
        shown += [c for c in used if c not in shown]
        lines += [f"## {dataset}", "", "| run | status | queries | " + " | ".join(used) + " |",
                  "|---|---|---|" + "---|" * len(used)]
        for o in rows:
            values = run_values(o)
            cells = []
            for c in used:
                text = format_value(c, values.get(c))
                best = text and values.get(c) == best_value(outcomes, dataset, c)
                cells.append(f"**{text}**" if best else text)
            status = "ok" if o.status == "ok" else f"failed: {o.error}"
            queries = o.n_queries if o.status == "ok" else ""
            lines.append(f"| {_cell(run_label(o))} | {_cell(status)} | {queries} | " + " | ".join(cells) + " |")
        models = {k: v for o in rows for k, v in o.models.items()}
        warnings = sorted({w for o in rows for w in o.warnings})
        lines += [""] + [f"- {k}: `{v}`" for k, v in sorted(models.items())] + [f"- warning: {w}" for w in warnings] + [""]
    lines += ["## What the metrics mean", "", "- queries: questions (or queries) run and traced; bold: the best run "
              "of a data set", *[f"- `{c}`: {meaning(c)}" for c in shown], ""]
    return "\n".join(lines)
