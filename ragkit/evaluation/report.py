"""Eval reports: results.json, results.csv, report.md, timings.json and PNG charts. The terminal tables are the CLI's (:mod:`ragkit.cli.render`).

results.json, results.csv and report.md hold only deterministic numbers (quality, calls,
tokens), the config's hash, package versions and model ids — no clock times, so the same
config with the fake model gives byte-identical files. Wall-clock numbers (latency p50/p95,
run time) go to timings.json and the charts.
"""

from __future__ import annotations

import csv
import io
import json
from importlib import metadata
from pathlib import Path

from ragkit import __version__

PACKAGES = ("langchain-core", "langchain-community", "faiss-cpu", "bm25s", "onnxruntime", "llama-cpp-python",
            "tiktoken", "pypdf")
LOWER_IS_BETTER = ("llm_calls", "prompt_tokens", "completion_tokens")


def _versions() -> dict:
    out = {"ragkit": __version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def build_results(spec, outcomes) -> dict:
    """The results document (``results.json``)."""
    return {
        "config": spec.path.name,
        "config_hash": spec.text_hash,
        "versions": _versions(),
        "runs": [{"name": o.name, "dataset": o.dataset, "status": o.status, "error": o.error,
                  "n_queries": o.n_queries, "metrics": o.metrics, "models": o.models, "warnings": o.warnings}
                 for o in outcomes],
    }


def metric_columns(outcomes) -> list[str]:
    """Every metric name reported by any run, in first-seen order (the table's columns)."""
    columns: list[str] = []
    for outcome in outcomes:
        for name in outcome.metrics:
            if name not in columns:
                columns.append(name)
    return columns


def best_value(outcomes, dataset: str, metric: str):
    """The best value of a metric among a data set's runs; None when there is nothing to single out."""
    values = [o.metrics[metric] for o in outcomes if o.dataset == dataset and metric in o.metrics and o.status == "ok"]
    if len(set(values)) < 2:
        return None
    return min(values) if metric in LOWER_IS_BETTER else max(values)


def write_report(spec, outcomes, out: Path) -> dict:
    """Write every report file into ``out``; return the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    results = build_results(spec, outcomes)
    paths = {"json": out / "results.json", "csv": out / "results.csv", "markdown": out / "report.md",
             "timings": out / "timings.json"}
    paths["json"].write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    columns = metric_columns(outcomes)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["dataset", "run", "status", "n_queries", *columns])
    for o in outcomes:
        writer.writerow([o.dataset, o.name, o.status, o.n_queries, *[o.metrics.get(c, "") for c in columns]])
    paths["csv"].write_text(buffer.getvalue(), encoding="utf-8")
    paths["markdown"].write_text(_markdown(spec, results, outcomes, columns), encoding="utf-8")
    paths["timings"].write_text(json.dumps({"runs": [{"name": o.name, "dataset": o.dataset, **o.timings}
                                                     for o in outcomes]}, indent=2) + "\n", encoding="utf-8")
    paths.update(_charts(outcomes, columns, out))
    return paths


def _markdown(spec, results, outcomes, columns) -> str:
    lines = [f"# Evaluation: {spec.path.name}", "", f"- config sha256: `{spec.text_hash}`",
             "- versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items() if v), ""]
    for dataset in dict.fromkeys(o.dataset for o in outcomes):
        rows = [o for o in outcomes if o.dataset == dataset]
        used = [c for c in columns if any(c in o.metrics for o in rows)]
        lines += [f"## {dataset}", "", "| run | " + " | ".join(used) + " |", "|---|" + "---|" * len(used)]
        for o in rows:
            if o.status != "ok":
                lines.append(f"| {o.name} | failed: {o.error} |" + " |" * (len(used) - 1))
                continue
            cells = []
            for c in used:
                value = o.metrics.get(c)
                text = "" if value is None else f"{value:.4f}"
                cells.append(f"**{text}**" if value is not None and value == best_value(outcomes, dataset, c) else text)
            lines.append(f"| {o.name} | " + " | ".join(cells) + " |")
        models = {k: v for o in rows for k, v in o.models.items()}
        warnings = sorted({w for o in rows for w in o.warnings})
        lines += [""] + [f"- {k}: `{v}`" for k, v in sorted(models.items())] + [f"- warning: {w}" for w in warnings] + [""]
    return "\n".join(lines)


def _charts(outcomes, columns, out: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [o for o in outcomes if o.status == "ok"]
    quality = [c for c in columns if c not in LOWER_IS_BETTER]
    paths = {}
    if ok and quality:
        fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(ok) * len(quality) / 2), 4))
        width = 0.8 / len(ok)
        for i, o in enumerate(ok):
            ax.bar([j + i * width for j in range(len(quality))], [o.metrics.get(c, 0) for c in quality], width,
                   label=f"{o.dataset}/{o.name}")
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(quality))], quality, rotation=20)
        ax.set_ylim(0, 1)
        ax.set_title("Quality per run")
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths["metrics_png"] = out / "metrics.png"
        fig.savefig(paths["metrics_png"], dpi=100, metadata={"Software": None})
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(6, 4))
        main = quality[0]
        for o in ok:
            ax.scatter(o.timings.get("latency_p50_s", 0) * 1000, o.metrics.get(main, 0))
            ax.annotate(f"{o.dataset}/{o.name}", (o.timings.get("latency_p50_s", 0) * 1000, o.metrics.get(main, 0)),
                        fontsize=7)
        ax.set_xlabel("latency p50 (ms per query)")
        ax.set_ylabel(main)
        ax.set_title(f"{main} against latency")
        fig.tight_layout()
        paths["quality_latency_png"] = out / "quality_latency.png"
        fig.savefig(paths["quality_latency_png"], dpi=100, metadata={"Software": None})
        plt.close(fig)
    return paths
