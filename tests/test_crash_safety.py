"""Crash safety: a failure or a kill at any point leaves the previous generation live and correct."""

import os
import signal
import subprocess
import sys
import time

import pytest

import ragkit.store.generations as generations_module
from ragkit.ingest.pipeline import ingest
from ragkit.retrieval.search import Searcher
from ragkit.store.generations import current_generation
from ragkit.store.index import open_index
from ragkit.store.sparse import BM25Index

from conftest import REPO, write_docs


def _snapshot(index_dir):
    loaded = open_index(index_dir)
    try:
        chunks = list(loaded.docstore.iter_chunks())
        assert loaded.dense.size == len(chunks) == loaded.sparse.size
        return loaded.generation.name, sorted(c.chunk_id for c in chunks)
    finally:
        loaded.close()


class Boom(Exception):
    pass


def _explode(*args, **kwargs):
    raise Boom("simulated crash")


@pytest.mark.parametrize("target, renamed", [
    ((BM25Index, "save"), False),                  # while writing the new generation's files
    ((generations_module, "fsync_tree"), False),   # before the new generation is renamed into place
    ((generations_module, "write_atomic"), True),  # after the rename, before CURRENT is switched
])
def test_failure_at_each_step_keeps_the_previous_generation(docs, tmp_path, fast_cfg, monkeypatch, target, renamed):
    index_dir = tmp_path / "idx"
    ingest(docs, index_dir, fast_cfg)
    before = _snapshot(index_dir)
    (docs / "new.txt").write_text("A new file about zebras.", encoding="utf-8")
    with monkeypatch.context() as patch:
        patch.setattr(*target, _explode)
        with pytest.raises(Boom):
            ingest(docs, index_dir, fast_cfg)
    # The failure struck where it was meant to: the new generation half-built, or renamed but not live.
    names = {p.name for p in index_dir.glob("gen-*")}
    assert ("gen-000002" in names) == renamed and any(".tmp-" in n for n in names) != renamed
    assert _snapshot(index_dir) == before
    searcher = Searcher(index_dir, fast_cfg)
    assert searcher.search("cats", k=1)[0].source == "cats.txt"
    searcher.close()
    # The next ingest cleans up the debris and succeeds.
    report = ingest(docs, index_dir, fast_cfg)
    assert report.counts()["added"] == 1
    leftovers = [p.name for p in index_dir.iterdir() if ".tmp-" in p.name]
    assert leftovers == []
    assert len([p for p in index_dir.glob("gen-*")]) <= 2


_CHILD = """
import sys
from ragkit.config import config_from_dict
from ragkit.ingest.pipeline import ingest
ingest(sys.argv[1], sys.argv[2], config_from_dict({"embedder": {"kind": "hash"}}), rebuild=True)
"""


@pytest.mark.integration
def test_sigkill_at_random_moments_never_breaks_the_index(tmp_path):
    folder = write_docs(tmp_path / "many", {f"f{i:04d}.txt": f"Document {i} talks about topic {i % 17}. " * 40
                                            for i in range(600)})
    index_dir = tmp_path / "idx"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", _CHILD, str(folder), str(index_dir)], check=True, env=env)
    good = _snapshot(index_dir)[1]
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", _CHILD, str(folder), str(index_dir)], check=True, env=env)
    full_run = time.perf_counter() - started
    # Kill the child at moments spread over a whole run (imports, loading, embedding, writing).
    for fraction in (0.3, 0.5, 0.65, 0.75, 0.85, 0.9, 0.95):
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(folder), str(index_dir)], env=env)
        time.sleep(full_run * fraction)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert current_generation(index_dir) is not None
        assert _snapshot(index_dir)[1] == good  # same content, whichever generation is live
    subprocess.run([sys.executable, "-c", _CHILD, str(folder), str(index_dir)], check=True, env=env)
    assert _snapshot(index_dir)[1] == good
