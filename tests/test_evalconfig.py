"""Eval config files: data sets, pipelines (runs and matrices), metrics; errors name file, line and key."""

import hashlib
import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from ragkit.config import DEFAULT_FUSION_WEIGHTS
from ragkit.errors import EvalConfigError
from ragkit.evaluation.spec import DatasetSpec, EvalSpec, PipelineSpec, load_eval_config, metrics_for, pipeline_config
from ragkit.paths import cache_dir
from ragkit.retrieval.search import Searcher

from conftest import REPO, SHARED, needs_data

CONFIGS = REPO / "configs"


@pytest.fixture
def data(tmp_path):
    """A tiny BEIR set and a tiny QA set under tmp_path/data; the config goes in tmp_path/conf."""
    beir = tmp_path / "data" / "beir"
    beir.mkdir(parents=True)
    (beir / "corpus.jsonl").write_text('{"_id": "d1", "title": "", "text": "BM25 ranks documents."}\n')
    (beir / "queries.jsonl").write_text('{"_id": "q1", "text": "what ranks documents?"}\n')
    (beir / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\n")
    qa = tmp_path / "data" / "qa"
    (qa / "docs").mkdir(parents=True)
    (qa / "docs" / "a.md").write_text("The default b is 0.75.\n")
    (qa / "qa.jsonl").write_text('{"id": "1", "question": "Default b?", "answers": ["0.75"], "source": "a.md", '
                                 '"page": null}\n{"id": "2", "question": "Who won in 1930?", "answers": []}\n')
    (tmp_path / "conf").mkdir()
    return tmp_path


def write(root: Path, text: str) -> Path:
    path = root / "conf" / "eval.yaml"
    path.write_text(textwrap.dedent(text))
    return path


BEIR = """\
datasets:
  - name: tiny
    kind: beir
    path: ../data/beir
"""


def fails(root: Path, text: str) -> str:
    with pytest.raises(EvalConfigError) as info:
        load_eval_config(write(root, text))
    return str(info.value)


def test_valid_config_round_trip(data):
    path = write(data, """\
        datasets:
          - name: tiny
            kind: beir
            path: ../data/beir
            limit: 1
          - name: notes
            kind: qa
            documents: ../data/qa/docs
            qa: ../data/qa/qa.jsonl
        config:
          embedder: {kind: hash}
        pipelines:
          - name: sparse
            search: {mode: sparse}
          - name: hybrid+extract
            answer: true
            search: {mode: hybrid, weights: {dense: 0.5}}
            ask: {chain: extract, k: 3}
          - name: dense
            answer: false
            search: {mode: dense}
        metrics: [NDCG@10, recall@100, source_hit@5, f1, llm_calls]
        out: results
        """)
    spec = load_eval_config(path)
    assert isinstance(spec, EvalSpec) and spec.path == path
    assert spec.text_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    tiny, notes = spec.datasets
    assert tiny == DatasetSpec(name="tiny", kind="beir", corpus=data / "data/beir/corpus.jsonl",
                               queries=data / "data/beir/queries.jsonl", qrels=data / "data/beir/qrels.tsv", limit=1)
    assert notes.kind == "qa" and notes.documents == data / "data/qa/docs" and notes.qa == data / "data/qa/qa.jsonl"
    assert notes.corpus is None and tiny.documents is None
    assert [p.name for p in spec.pipelines] == ["sparse", "hybrid+extract", "dense"]
    assert [p.answer for p in spec.pipelines] == [True, True, False]
    assert spec.pipelines[1].overrides == {"search": {"mode": "hybrid", "weights": {"dense": 0.5}},
                                           "ask": {"chain": "extract", "k": 3}}
    assert spec.metrics == ["ndcg@10", "recall@100", "source_hit@5", "f1", "llm_calls"]
    assert spec.out == data / "conf" / "results" and spec.base == {"embedder": {"kind": "hash"}}
    assert metrics_for(spec, tiny) == ["ndcg@10", "recall@100", "llm_calls"]
    assert metrics_for(spec, notes) == ["source_hit@5", "f1", "llm_calls"]
    assert spec.judge is None


def test_defaults_for_out_and_metrics(data):
    spec = load_eval_config(write(data, BEIR + "pipelines:\n  - name: sparse\n    search: {mode: sparse}\n"))
    assert spec.out == cache_dir() / "eval" / "eval"      # never next to the config, in the git tree
    assert spec.metrics == ["ndcg@10", "recall@100", "mrr@10"]
    qa_only = """\
        datasets:
          - {name: notes, kind: qa, path: ../data/qa}
        pipelines:
          - {name: sparse, answer: false, search: {mode: sparse}}
        """
    assert load_eval_config(write(data, qa_only)).metrics == ["source_hit@5", "page_hit@5"]
    answering = qa_only.replace("answer: false", "answer: true")
    assert "refusal_accuracy" in load_eval_config(write(data, answering)).metrics


def test_matrix_expands_into_named_runs(data):
    spec = load_eval_config(write(data, BEIR + textwrap.dedent("""\
        pipelines:
          - name: sparse
            search: {mode: sparse}
          - matrix:
              name: "{mode}+{strategy}"
              search: {mode: [dense, hybrid], k: 7}
              ask: {strategy: [multi-query, hyde]}
          - matrix:
              name: hybrid
              search: {weights: {dense: [0.5, 2.0]}}
        """)))
    names = [p.name for p in spec.pipelines]
    assert names == ["sparse", "dense+multi-query", "dense+hyde", "hybrid+multi-query", "hybrid+hyde",
                     "hybrid+0.5", "hybrid+2.0"]
    run = spec.pipelines[4]
    assert run.overrides == {"search": {"mode": "hybrid", "k": 7}, "ask": {"strategy": "hyde"}}
    assert run.varies == {"search.mode": "hybrid", "ask.strategy": "hyde"}
    cfg = pipeline_config(spec, spec.pipelines[6])
    assert cfg.search.weights == {"dense": 2.0}   # fixed weights; the sparse side keeps its fixed default
    assert Searcher.fusion_weights(SimpleNamespace(cfg=cfg)) == {"dense": 2.0, "sparse": DEFAULT_FUSION_WEIGHTS["sparse"]}


def test_typo_in_a_pipeline_names_the_line_and_key_path(data):
    message = fails(data, BEIR + textwrap.dedent("""\
        pipelines:
          - name: sparse
            search: {mode: sparse}
          - name: hybrid+hyde
            ask:
              stratgy: hyde
        """))
    assert message.startswith(f"{data / 'conf' / 'eval.yaml'} line 10: ")
    assert "unknown key 'pipelines[1].ask.stratgy'" in message and "did you mean 'strategy'" in message


@pytest.mark.parametrize("text, line, expected", [
    ("pipelines:\n  - name: a\n    retriever: {k: 3}\n", 7, "unknown key 'pipelines[0].retriever'"),
    ("pipelines:\n  - name: a\nmetric: [f1]\n", 7, "unknown key 'metric' (did you mean 'metrics'?)"),
    ("pipelines:\n  - name: a\nmetrics: [ndcg@10, ndgc@10]\n", 7, "unknown metric 'ndgc@10'"),
    ("pipelines:\n  - name: a\nmetrics: [precision@0]\n", 7, "unknown metric"),
    ("pipelines:\n  - name: a\nmetrics: [f1]\n", 7, "'f1' needs a qa data set"),
    ("pipelines:\n  - name: a\nmetrics: [source_hit@5]\n", 7, "needs a qa data set"),
    ("pipelines:\n  - name: a\n    ask: {strategy: [hyde, none]}\n", 7, "lists are matrix axes"),
    ("pipelines:\n  - name: a\n    search: {mode: dense}\n    search: {mode: sparse}\n", 8, "duplicate key"),
    ("pipelines:\n  - search: {mode: dense}\n", 6, "needs a name"),
    ("pipelines:\n  - matrix: {search: {mode: dense}}\n", 6, "no list values"),
    ("pipelines:\n  - matrix: {name: '{strat}', ask: {strategy: [hyde]}}\n", 6, "no axis '{strat}'"),
    ("pipelines:\n  - name: a\n    index: elsewhere\n", 7, "unknown key 'pipelines[0].index'"),
    ("config: {index: x}\npipelines:\n  - name: a\n", 5, "'config.index' is not allowed"),
    ("config: {search: {mode: fuzzy}}\npipelines:\n  - name: a\n", 5, "config: 'search.mode' is 'fuzzy'"),
    ("judge: {kind: gpt}\npipelines:\n  - name: a\n", 5, "judge: 'llm.kind' is 'gpt'"),
    ("pipelines: [\n", 6, "not valid YAML"),
    ("pipelines:\n  - name: a\nmetrics: [ndcg@10, latency_p50]\n", 7, "unknown metric 'latency_p50'"),
    ("pipelines:\n  - name: a\nmetrics: []\n", 7, "'metrics' must be a non-empty list of metric names"),
    ("pipelines:\n  - name: a\n    llm: {cache: 'no'}\n", 7, "pipeline 'a' (pipelines[0]): 'llm.cache' must be true or false, got 'no'"),
    ("pipelines:\n  - name: a\njudge: {kind: fake, max_tokens: 1.5}\n", 7, "judge: 'llm.max_tokens' must be an integer, got 1.5"),
])
def test_bad_configs_name_line_and_key(data, text, line, expected):
    message = fails(data, BEIR + text)
    assert f"eval.yaml line {line}: " in message and expected in message, message


@pytest.mark.parametrize("entry, line, expected", [
    ("  - {name: tiny, kind: bier, path: ../data/beir}\n", 2, "'datasets[0].kind' is 'bier'; choose one of beir, qa"),
    ("  - {name: tiny, path: ../data/beir}\n", 2, "'datasets[0].kind' is missing; choose one of beir, qa"),
    ("  - name: tiny\n    kind: beir\n    path: ../data/beir\n    limit: 0\n", 5,
     "'datasets[0].limit' must be a positive integer or null, got 0"),
    ("  - name: tiny\n    kind: beir\n    path: ../data/beir\n    limit: 2.5\n", 5, "'datasets[0].limit' must be"),
    ("  - name: a/b\n    kind: beir\n    path: ../data/beir\n", 2, "'datasets[0].name' must be a non-empty string without /"),
    ("  - name: tiny\n    kind: beir\n    path: ../data/beir\n    documents: ../data/qa/docs\n", 5,
     "unknown key 'datasets[0].documents'; known keys: name, kind, path, limit, source, corpus, queries, qrels"),
    ("  - 3\n", 2, "'datasets[0]' must be a mapping, got 3"),
    ("  - {name: tiny, kind: beir}\n", 2, "data set 'tiny' needs 'path'"),
])
def test_bad_dataset_entries_name_line_and_key(data, entry, line, expected):
    message = fails(data, "datasets:\n" + entry + "pipelines:\n  - name: a\n")
    assert f"eval.yaml line {line}: " in message and expected in message, message


def test_faithfulness_needs_a_judge(data):
    qa = "datasets:\n  - {name: notes, kind: qa, path: ../data/qa}\npipelines:\n  - name: a\n"
    assert "needs a judge" in fails(data, qa + "metrics: [faithfulness]\n")
    spec = load_eval_config(write(data, qa + "metrics: [faithfulness]\njudge: {kind: fake}\n"))
    assert spec.judge == {"kind": "fake"}


def test_missing_dataset_file_names_the_dataset_and_path(data):
    (data / "data" / "beir" / "qrels.tsv").unlink()
    message = fails(data, BEIR + "pipelines:\n  - name: a\n")
    assert "line 4" in message and "data set 'tiny'" in message
    assert str(data / "data" / "beir" / "qrels.tsv") in message
    explicit = BEIR + "    qrels: ../data/nope.tsv\npipelines:\n  - name: a\n"
    assert str(data / "data" / "nope.tsv") in fails(data, explicit) and "line 5" in fails(data, explicit)


def test_empty_dataset_files_and_folders_are_errors(data):
    (data / "data" / "beir" / "queries.jsonl").write_text("")
    assert "queries file is empty" in fails(data, BEIR + "pipelines:\n  - name: a\n")
    (data / "data" / "qa" / "docs" / "a.md").unlink()
    assert "documents folder is empty" in fails(data, "datasets:\n  - {name: n, kind: qa, path: ../data/qa}\n"
                                           "pipelines:\n  - name: a\n")


def test_duplicate_pipeline_names(data):
    message = fails(data, BEIR + textwrap.dedent("""\
        pipelines:
          - name: hybrid+hyde
          - matrix:
              name: "hybrid+{strategy}"
              ask: {strategy: [multi-query, hyde]}
        """))
    assert "duplicate pipeline name 'hybrid+hyde' (pipelines[0] and pipelines[1].matrix)" in message


def test_bad_value_is_reraised_naming_the_pipeline(data):
    message = fails(data, BEIR + textwrap.dedent("""\
        pipelines:
          - name: sparse
          - name: fuzzy-run
            search:
              k: 3
              mode: fuzzy
        """))
    assert "line 10: pipeline 'fuzzy-run' (pipelines[1]): 'search.mode' is 'fuzzy'" in message
    in_matrix = fails(data, BEIR + "pipelines:\n  - matrix:\n      search:\n        mode: [sparse, fuzzy]\n")
    assert "line 8: pipeline 'fuzzy' (pipelines[0].matrix): 'search.mode'" in in_matrix


def test_pipeline_config_merges_base_and_overrides(data):
    spec = load_eval_config(write(data, BEIR + textwrap.dedent("""\
        config:
          embedder: {kind: hash}
          search: {k: 20, weights: {dense: 0.3, sparse: 0.7}}
          ask: {k: 4}
        pipelines:
          - name: run
            search: {mode: sparse, weights: {dense: 0.9}}
            ask: {strategy: hyde}
        """)))
    cfg = pipeline_config(spec, spec.pipelines[0])
    assert cfg.embedder.kind == "hash" and cfg.search.mode == "sparse" and cfg.search.k == 20
    assert cfg.search.weights == {"dense": 0.9, "sparse": 0.7}
    assert cfg.ask.strategy == "hyde" and cfg.ask.k == 4
    assert spec.base["search"]["weights"] == {"dense": 0.3, "sparse": 0.7}   # not mutated
    bad = PipelineSpec(name="handmade", overrides={"ask": {"chain": "nope"}})
    with pytest.raises(EvalConfigError, match="pipeline 'handmade'.*'ask.chain'"):
        pipeline_config(spec, bad)


def test_base_config_from_a_file(data):
    (data / "conf" / "base.yaml").write_text("embedder: {kind: hash}\nsearch:\n  modde: dense\n")
    message = fails(data, BEIR + "config: base.yaml\npipelines:\n  - name: a\n")
    assert "base.yaml line 3: unknown key 'search.modde'" in message
    (data / "conf" / "base.yaml").write_text("index: .ragkit-fast\nembedder: {kind: hash}\n")  # index: ignored
    spec = load_eval_config(write(data, BEIR + "config: base.yaml\npipelines:\n  - name: a\n"))
    assert pipeline_config(spec, spec.pipelines[0]).embedder.kind == "hash"


def test_fields_mapping_names_the_files_fields(data):
    spec = load_eval_config(write(data, textwrap.dedent("""\
        datasets:
          - name: other
            kind: qa
            path: ../data/qa
            fields: {question: Q, answers: answer, source: docs}
            limit: 2
        pipelines:
          - name: a
        """)))
    [dataset] = spec.datasets
    assert dataset.fields == {"id": "id", "question": "Q", "answers": "answer", "source": "docs", "page": "page"}
    assert dataset.limit == 2 and dataset.documents == data / "data" / "qa" / "docs"


def test_bad_fields_mapping(data):
    message = fails(data, "datasets:\n  - name: n\n    kind: qa\n    path: ../data/qa\n"
                          "    fields: {answer: Answer}\npipelines:\n  - name: a\n")
    assert "line 5: unknown key 'datasets[0].fields.answer' (did you mean 'answers'?)" in message


needs = needs_data


@needs(SHARED / "scifact" / "qrels.tsv")
def test_shipped_scifact_config_loads():
    spec = load_eval_config(CONFIGS / "scifact.yaml")
    assert [p.name for p in spec.pipelines] == ["sparse", "dense", "hybrid"]
    assert spec.datasets[0].corpus == (SHARED / "scifact" / "corpus.jsonl").resolve()
    assert spec.metrics[:3] == ["ndcg@10", "recall@100", "mrr@10"]
    # The benchmark's settings: the defaults, with only the mode changed.
    for pipeline in spec.pipelines:
        cfg = pipeline_config(spec, pipeline)
        assert cfg.search.mode == pipeline.name and cfg.embedder.kind == "local" and cfg.ask.strategy == "none"


@needs(SHARED / "docugami-sec-10q" / "qa.jsonl")
def test_shipped_docugami_config_loads():
    spec = load_eval_config(CONFIGS / "docugami-10q.yaml")
    assert [(p.name, p.answer) for p in spec.pipelines] == [
        ("sparse", False), ("dense", False), ("hybrid", False), ("hybrid+extract", True)]
    dataset = spec.datasets[0]
    rows = [json.loads(line) for line in dataset.qa.read_text(encoding="utf-8").splitlines()]
    fields = dataset.fields
    assert len(rows) == 195 and all(row[fields["question"]] and row[fields["answers"]] for row in rows)
    assert all((dataset.documents / name).is_file() for row in rows for name in row[fields["source"]])


@needs(REPO / "benchmarks" / "sample_docs_qa.jsonl")
def test_shipped_sample_qa_config_loads():
    spec = load_eval_config(CONFIGS / "sample-qa.yaml")
    # It runs in seconds: no model pipeline (hybrid+stuff is commented out in the file).
    assert [p.name for p in spec.pipelines] == ["sparse+extract", "dense+extract", "hybrid+extract"]
    assert all(pipeline_config(spec, p).ask.chain == "extract" for p in spec.pipelines)
    rows = [json.loads(line) for line in spec.datasets[0].qa.read_text(encoding="utf-8").splitlines() if line.strip()]
    sources = {row["source"] for row in rows if row["source"]}
    assert sources and all((spec.datasets[0].documents / name).is_file() for name in sources)
