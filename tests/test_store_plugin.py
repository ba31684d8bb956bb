"""A dense store from outside ragkit is one class and one call (issue 21): the in-memory store of tests/fakes.py,
registered as ``dense.backend: memory`` (conftest), runs ingest, search, an incremental re-ingest and
``info --check`` through the CLI, and its results equal FAISS's; an unregistered name is one line naming the
registered ones (exit 1, as any bad value in a config file)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.config import config_from_dict
from ragkit.errors import SettingError
from ragkit.store.registry import DENSE_STORES

from conftest import FAST_CONFIG_YAML
from fakes import MemoryDense

runner = CliRunner()
QUERIES = ["cats hunt mice at night", "largest planet", "dog training", "red supergiant"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def ranking(index, config, query, mode):
    """(chunk ids, scores) of ``ragkit search --json``."""
    result = run("search", query, "--index", index, "--config", config, "--json", "--mode", mode, "-k", "5")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    return [h["chunk_id"] for h in hits], [h["score"] for h in hits]


def same_ranking(mine, theirs):
    """Equal scores (to 1e-6), and equal ids wherever a score is not tied (tied chunks may come in either order)."""
    (ids, scores), (their_ids, their_scores) = mine, theirs
    assert len(scores) == len(their_scores) and all(abs(a - b) <= 1e-6 for a, b in zip(scores, their_scores))
    for n, score in enumerate(scores):
        if sum(abs(score - other) <= 1e-6 for other in scores) == 1:
            assert ids[n] == their_ids[n]


def test_a_registered_in_memory_store_runs_ingest_search_reingest_and_check_through_the_cli(docs, tmp_path):
    assert DENSE_STORES["memory"] is MemoryDense
    memory_config = tmp_path / "memory.yaml"
    memory_config.write_text(FAST_CONFIG_YAML + "dense: {backend: memory}\n")
    faiss_config = tmp_path / "faiss.yaml"
    faiss_config.write_text(FAST_CONFIG_YAML)
    index, reference = tmp_path / "idx", tmp_path / "reference"

    def ingest_both(expect: str):
        for where, config in ((index, memory_config), (reference, faiss_config)):
            result = run("ingest", docs, "--index", where, "--config", config)
            assert result.exit_code == 0 and expect in result.stdout, result.output

    def compare():
        for query in QUERIES:
            for mode in ("dense", "hybrid"):
                same_ranking(ranking(index, memory_config, query, mode), ranking(reference, faiss_config, query, mode))

    ingest_both("4 added, 0 updated, 0 unchanged, 0 removed, 0 failed")
    compare()
    info = json.loads(run("info", "--index", index, "--json").stdout)
    collection = info["dense"]["memory"]["collection"]
    assert info["dense"]["backend"] == "memory" and info["dense"]["records"] == info["chunks"]
    assert (tmp_path / "idx" / info["generation"] / MemoryDense.file_name).exists()

    (docs / "cats.txt").write_text("Cats are curious felines. A cat hunts mice at night and sleeps in the sun.")
    (docs / "space" / "stars.html").unlink()
    ingest_both("0 added, 1 updated, 2 unchanged, 1 removed, 0 failed")
    compare()
    info = json.loads(run("info", "--index", index, "--json").stdout)
    assert info["generation"] == "gen-000002" and info["dense"]["memory"]["collection"] != collection
    assert info["dense"]["records"] == info["chunks"]
    owned = [name for name, (owner, _) in MemoryDense.COLLECTIONS.items() if owner == str(index.resolve())]
    assert owned == [info["dense"]["memory"]["collection"]]   # finish_ingest dropped the old generation's

    check = run("info", "--index", index, "--check")
    assert check.exit_code == 0, check.output
    shown = run("info", "--index", index)
    assert shown.exit_code == 0 and f"records={info['chunks']}" in shown.output and "memory (collection=" in shown.output
    (tmp_path / "idx" / info["generation"] / MemoryDense.file_name).write_text('{"collection": "x", "dimension": 9}')
    damaged = run("info", "--index", index, "--check")
    assert damaged.exit_code != 0 and MemoryDense.file_name in damaged.output


def test_an_unregistered_store_name_is_one_line_naming_the_registered_ones(docs, tmp_path):
    config = tmp_path / "qdrant.yaml"
    config.write_text(FAST_CONFIG_YAML + "dense: {backend: qdrant}\n")
    result = run("ingest", docs, "--index", tmp_path / "idx", "--config", config)
    assert result.exit_code == 1
    message = result.output.strip()
    assert "\n" not in message and "'dense.backend' is 'qdrant'" in message
    assert all(name in message for name in DENSE_STORES)
    try:
        config_from_dict({"sparse": {"backend": "elastic"}})
    except SettingError as exc:
        assert "bm25s" in str(exc) and "pinecone" in str(exc) and exc.keypath == ("sparse", "backend")
    else:
        raise AssertionError("an unknown sparse backend was accepted")
