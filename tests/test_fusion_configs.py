"""The shipped eval configs of issue 8 put dense, sparse and hybrid side by side on each data set."""

import pytest

from ragkit.evaluation.spec import load_eval_config, pipeline_config

from conftest import REPO, SHARED, needs_data

CONFIGS = REPO / "configs"


@needs_data(SHARED / "msmarco-subset" / "qrels.tsv", "msmarco-subset (BEIR layout)")
def test_shipped_msmarco_config_compares_the_three_modes():
    spec = load_eval_config(CONFIGS / "msmarco.yaml")
    assert [p.name for p in spec.pipelines] == ["sparse", "dense", "hybrid", "hybrid-rrf"]
    assert spec.datasets[0].corpus == (SHARED / "msmarco-subset" / "corpus.jsonl").resolve()
    assert spec.metrics == ["ndcg@10", "recall@100", "mrr@10"]
    modes = [pipeline_config(spec, p).search for p in spec.pipelines]
    assert [s.mode for s in modes] == ["sparse", "dense", "hybrid", "hybrid"]
    assert [s.fusion for s in modes[2:]] == ["convex", "rrf"]   # the default, then the one before it
    assert [s.document_weight for s in modes[2:]] == [1.0, 0.0]


@pytest.mark.parametrize("name", ["scifact.yaml", "docugami-10q.yaml", "sample-qa.yaml", "msmarco.yaml"])
def test_every_data_set_config_runs_dense_sparse_and_hybrid(name):
    text = (CONFIGS / name).read_text(encoding="utf-8")
    for mode in ("dense", "sparse", "hybrid"):
        assert f"mode: {mode}" in text or mode in text.split("mode: [", 1)[-1].split("]", 1)[0], (name, mode)
