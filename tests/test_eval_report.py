"""Eval reports that do not mislead: latency columns when asked, no made-up zeros for failed runs,
integer counts, a line per metric saying what it means, chart labels that never overlap."""

import csv
import io
import itertools
import json

import pytest
from rich.console import Console

from ragkit.cli.render import results_tables
from ragkit.evaluation import report as report_module
from ragkit.evaluation.charts import latency_figure, quality_figure
from ragkit.evaluation.report import write_report
from ragkit.evaluation.runner import RunOutcome, run_eval
from ragkit.evaluation.spec import load_eval_config

from conftest import write_docs

QA = [{"id": "a1", "question": "What do cats hunt?", "answers": ["mice"], "source": "cats.txt", "page": None},
      {"id": "a2", "question": "Which planet has rings?", "answers": ["Saturn"], "source": "space.txt", "page": None}]
METRICS = "[source_hit@1, exact_match, contains, llm_calls, latency_p50_ms, latency_p95_ms]"


@pytest.fixture
def config(tmp_path):
    write_docs(tmp_path / "docs", {"cats.txt": "Cats hunt mice at night.", "space.txt": "Saturn has bright rings."})
    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in QA), encoding="utf-8")
    path = tmp_path / "eval.yaml"
    path.write_text(f"""
datasets:
  - {{name: notes, kind: qa, documents: docs, qa: qa.jsonl}}
config: {{embedder: {{kind: hash}}}}
pipelines:
  - {{name: sparse+extract, search: {{mode: sparse}}, ask: {{chain: extract}}}}
  - {{name: hybrid+extract, search: {{mode: hybrid}}, ask: {{chain: extract}}}}
metrics: {METRICS}
""", encoding="utf-8")
    return path


def _csv_rows(path):
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_latency_columns_when_asked_and_results_json_stays_reproducible(config, tmp_path):
    spec = load_eval_config(config)
    files = []
    for name in ("a", "b"):
        outcomes = run_eval(spec, tmp_path / name)
        write_report(spec, outcomes, tmp_path / name)
        files.append((tmp_path / name / "results.json").read_bytes())
    assert files[0] == files[1] and b"latency" not in files[0]   # wall-clock numbers never reach results.json
    rows = _csv_rows(tmp_path / "a" / "results.csv")
    assert all(float(row["latency_p50_ms"]) > 0 and float(row["latency_p95_ms"]) >= float(row["latency_p50_ms"])
               for row in rows)
    header = next(line for line in (tmp_path / "a" / "report.md").read_text().splitlines() if line.startswith("| run"))
    assert header.endswith("| latency_p50_ms | latency_p95_ms |")


def test_no_latency_columns_unless_asked(config, tmp_path):
    config.write_text(config.read_text().replace(", latency_p50_ms, latency_p95_ms", ""))
    spec = load_eval_config(config)
    write_report(spec, run_eval(spec, tmp_path / "out"), tmp_path / "out")
    assert "latency" not in (tmp_path / "out" / "results.csv").read_text()
    assert "latency" not in (tmp_path / "out" / "report.md").read_text()


def test_unknown_latency_name_is_refused_with_the_known_ones(config):
    config.write_text(config.read_text().replace("latency_p95_ms]", "latency_p99_ms]"))
    with pytest.raises(Exception, match="unknown metric 'latency_p99_ms'.*latency_p95_ms"):
        load_eval_config(config)


def _outcomes():
    ok = RunOutcome(name="sparse", dataset="notes", n_queries=3,
                    metrics={"source_hit@1": 0.5, "exact_match": 0.0, "contains_answer": 1.0, "llm_calls": 1.0,
                             "prompt_tokens": 120.5},
                    timings={"latency_p50_s": 0.0123, "latency_p95_s": 0.02})
    failed = RunOutcome(name="hybrid|stuff", dataset="notes", status="failed", error="RuntimeError: model down",
                        timings={"total_s": 0.1})
    return [ok, failed]


def test_a_failed_run_shows_empty_cells_never_zero(config, tmp_path, monkeypatch):
    spec = load_eval_config(config)
    charted = []
    monkeypatch.setattr(report_module, "write_charts", lambda runs, *rest: charted.extend(runs) or {})
    write_report(spec, _outcomes(), tmp_path)
    failed_row = _csv_rows(tmp_path / "results.csv")[1]
    assert failed_row["status"] == "failed" and failed_row["error"] == "RuntimeError: model down"
    assert {k: v for k, v in failed_row.items() if k not in ("dataset", "run", "status", "error")} == \
        dict.fromkeys(["n_queries", "source_hit@1", "exact_match", "contains_answer", "llm_calls", "prompt_tokens",
                       "latency_p50_ms", "latency_p95_ms"], "")
    row = next(line for line in (tmp_path / "report.md").read_text().splitlines() if line.startswith("| hybrid"))
    assert row.startswith("| hybrid\\|stuff | failed: RuntimeError: model down |")   # the | inside is escaped
    assert set(row.split("model down |")[1].replace("|", "").strip()) == set()
    assert json.loads((tmp_path / "results.json").read_text())["runs"][1]["n_queries"] is None
    assert [o.name for o in charted] == ["sparse"]                 # a failed run is not drawn at 0
    console = Console(width=200, record=True)
    for table in results_tables(_outcomes()):
        console.print(table)
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in console.export_text().splitlines()
            if line.startswith("│ ") and "metric" not in line]
    assert len(rows) == 8 and all(row[2] == "" and row[1] for row in rows)   # the failed run's column is empty
    assert ["latency_p50_ms", "12.3", ""] in rows and ["llm_calls", "1", ""] in rows


def test_counts_are_integers_and_each_metric_is_explained(config, tmp_path):
    spec = load_eval_config(config)
    write_report(spec, _outcomes(), tmp_path)
    runs = json.loads((tmp_path / "results.json").read_text())["runs"]
    assert runs[0]["metrics"]["llm_calls"] == 1 and isinstance(runs[0]["metrics"]["llm_calls"], int)
    assert runs[0]["metrics"]["prompt_tokens"] == 120.5 and isinstance(runs[0]["n_queries"], int)
    row = _csv_rows(tmp_path / "results.csv")[0]
    assert row["llm_calls"] == "1" and row["n_queries"] == "3" and row["latency_p50_ms"] == "12.3"
    markdown = (tmp_path / "report.md").read_text()
    assert "| sparse | ok | 3 | 0.5000 | 0.0000 | 1.0000 | 1 | 120.50 | 12.3 | 20.0 |" in markdown
    meanings = markdown.split("## What the metrics mean")[1]
    for metric in ("source_hit@1", "exact_match", "contains_answer", "llm_calls", "prompt_tokens", "latency_p50_ms",
                   "latency_p95_ms"):
        assert sum(line.startswith(f"- `{metric}`: ") for line in meanings.splitlines()) == 1, metric
    exact = next(line for line in meanings.splitlines() if line.startswith("- `exact_match`"))
    assert "quotes sentences" in exact and "contains_answer" in exact and "top 1 chunks" in meanings


def _text_boxes(fig):
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip()]


def _overlaps(fig):
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(_text_boxes(fig), 2) if box_a.overlaps(box_b)]


def test_chart_labels_never_overlap_with_many_long_run_names():
    import matplotlib.pyplot as plt

    metrics = ["ndcg@10", "recall@100", "mrr@10", "map@100", "hit@10", "source_hit@5", "page_hit@5", "exact_match",
               "f1", "contains_answer", "refusal_accuracy", "citation_validity", "faithfulness"]
    runs = [RunOutcome(name=f"hybrid+{strategy}+{chain}+expand-{expand}-with-a-rather-long-descriptive-suffix",
                       dataset="docugami-10q", n_queries=5,
                       metrics={m: (i * 7 + j * 3) % 10 / 10 for j, m in enumerate(metrics)})
            for i, (strategy, chain, expand) in enumerate(itertools.product(
                ["multi-query", "rag-fusion", "hyde", "step-back"], ["stuff", "refine", "map-reduce"], ["none"]))]
    latency = {(r.dataset, r.name): 100.0 + i % 3 for i, r in enumerate(runs)}   # points on top of each other
    for fig in (quality_figure(runs, metrics), latency_figure(runs, "ndcg@10", latency)):
        texts = [text for text, _ in _text_boxes(fig)]
        assert sum("rather-long" in text.replace("\n", "") for text in texts) == len(runs)   # each run named once
        assert _overlaps(fig) == []
        plt.close(fig)


def test_the_overlap_check_finds_overlapping_labels():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 3))
    for i in range(3):
        ax.annotate("a long run name that collides", (0.5, 0.5 + i * 0.001))
    assert _overlaps(fig)
    plt.close(fig)
