"""Crash safety: a failure or a kill at any point leaves the previous generation live and correct."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

import ragkit.store.generations as generations_module
from ragkit.ingest.pipeline import ingest
from ragkit.retrieval.search import Searcher
from ragkit.store.backends.bm25s import BM25Index
from ragkit.store.generations import current_generation
from ragkit.store.index import open_index

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
    # 24 kills at random moments of a whole run (imports, loading, embedding, writing, publishing).
    moments = random.Random(13).sample(range(5, 100), 24)
    for percent in moments:
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(folder), str(index_dir)], env=env)
        time.sleep(full_run * percent / 100)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert current_generation(index_dir) is not None
        loaded = open_index(index_dir, full_check=True)  # every file matches its sha256
        loaded.close()
        assert _snapshot(index_dir)[1] == good  # same content, whichever generation is live
    subprocess.run([sys.executable, "-c", _CHILD, str(folder), str(index_dir)], check=True, env=env)
    assert _snapshot(index_dir)[1] == good


_READER = """
import sys, time
from ragkit.config import config_from_dict
from ragkit.retrieval.search import Searcher
cfg = config_from_dict({"embedder": {"kind": "hash"}})
deadline, searches = time.time() + float(sys.argv[2]), 0
while time.time() < deadline:
    searcher = Searcher(sys.argv[1], cfg)
    assert searcher.search("topic 3", k=5), "no results"
    searcher.close()
    searches += 1
print(searches)
"""


@pytest.mark.integration
def test_readers_survive_a_writer_publishing_again_and_again(tmp_path):
    """Item 9 under load: readers open and search while ingests publish and collect generations."""
    folder = write_docs(tmp_path / "docs", {f"f{i:03d}.txt": f"Document {i} talks about topic {i % 7}. " * 20
                                            for i in range(60)})
    index_dir = tmp_path / "idx"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", _CHILD, str(folder), str(index_dir)], check=True, env=env)
    readers = [subprocess.Popen([sys.executable, "-c", _READER, str(index_dir), "20"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    published = 0
    while any(r.poll() is None for r in readers):
        subprocess.run([sys.executable, "-c", _CHILD, str(folder), str(index_dir)], check=True, env=env)
        published += 1
    for reader in readers:
        out, err = reader.communicate()
        assert reader.returncode == 0, err
        assert int(out) > 0
    assert published >= 3
    assert _snapshot(index_dir)[1]
