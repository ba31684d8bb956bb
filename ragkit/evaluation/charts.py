"""The eval report's PNG charts: quality per run, and quality against latency.

Labels never overlap however many runs there are and however long their names: metric names
are horizontal bar labels with room for each, run names go into a legend outside the axes
(wrapped), and points carry no annotations. Failed runs and metrics a run lacks are left
out — never drawn as 0.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

BAR_INCHES = 0.22          # height of one run's bar; a metric's group is this times the runs
LEGEND_WRAP = 40           # characters per line of a run name in a legend
LEGEND_LINE_INCHES = 0.18  # one line of legend text at 8 pt, with its spacing
MARKERS = "osD^v<>pPX*h"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _label(outcome) -> str:
    # A model pipeline's fallback rate goes with its name: its scores are partly extract's quotes.
    rate = outcome.metrics.get("fallback_rate")
    suffix = f" (fallback {rate:.0%})" if rate is not None else ""
    return textwrap.fill(f"{outcome.dataset}/{outcome.name}{suffix}", LEGEND_WRAP)


def _legend_inches(runs) -> float:
    """The height the legend of ``runs`` needs: the figure is made at least this tall so the legend,
    right of the axes, never reaches down into the axis labels."""
    return sum(_label(run).count("\n") + 1 for run in runs) * LEGEND_LINE_INCHES + 0.8


def _legend_outside(ax) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8, frameon=False)


def quality_figure(runs, metrics: list[str]):
    """Horizontal grouped bars: a group per metric (0..1), a bar per run; the caller closes the figure."""
    plt = _pyplot()
    group = max(1, len(runs)) * BAR_INCHES
    fig, ax = plt.subplots(figsize=(7, max(2.5, len(metrics) * (group + 0.2) + 1.2, _legend_inches(runs))))
    height = 0.8 / max(1, len(runs))
    for i, run in enumerate(runs):
        rows = [j for j, m in enumerate(metrics) if run.metrics.get(m) is not None]
        ax.barh([j + i * height for j in rows], [run.metrics[metrics[j]] for j in rows], height, label=_label(run))
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(metrics))], metrics)
    ax.invert_yaxis()                   # the first metric on top, as in the tables
    ax.set_xlim(0, 1)
    ax.set_xlabel("score (higher is better)")
    ax.set_title("Quality per run")
    _legend_outside(ax)
    return fig


def latency_figure(runs, metric: str, latency_ms: dict):
    """``metric`` against median latency, a marker per run named in the legend; ``latency_ms`` maps
    ``(dataset, run name)`` to its p50 in ms (runs without one are left out). The caller closes the figure."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, max(4.0, _legend_inches(runs))))
    for i, run in enumerate(runs):
        x, y = latency_ms.get((run.dataset, run.name)), run.metrics.get(metric)
        if x is not None and y is not None:
            ax.scatter([x], [y], marker=MARKERS[i % len(MARKERS)], label=_label(run))
    ax.set_xlabel("latency p50 (ms per question)")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} against latency")
    if ax.collections:
        _legend_outside(ax)
    return fig


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    _pyplot().close(fig)
    return path


def write_charts(runs, quality: list[str], latency_ms: dict, out: Path) -> dict:
    """Write metrics.png and quality_latency.png for the successful ``runs``; return their paths."""
    if not runs or not quality:
        return {}
    return {"metrics_png": _save(quality_figure(runs, quality), out / "metrics.png"),
            "quality_latency_png": _save(latency_figure(runs, quality[0], latency_ms), out / "quality_latency.png")}
