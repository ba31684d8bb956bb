"""Ingest on Ray (ingest.engine: ray) in Ray's local mode: the same index as the local engine (files
parsed and split in Ray tasks), the same chunk ids when a worker dies and its work is retried, and a
clean failure (the previous generation live) when the parse-and-split tasks or the embedding actors
keep dying. Ray takes ~8 s to start here: integration tier."""

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ragkit.config import EmbedderConfig
from ragkit.embedders import build_embedder
from ragkit.errors import EmbedderError
from ragkit.ingest.pipeline import ingest
from ragkit.store.generations import current_generation
from ragkit.store.index import open_index

from conftest import write_docs

pytestmark = pytest.mark.integration
pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'ragkit[ray]')")


@pytest.fixture(scope="module", autouse=True)
def _ray():
    import ray

    here = Path(__file__).resolve().parent   # workers import this module (DiesOnce) and ragkit from the checkout
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join([str(here.parent), str(here)])}})
    yield
    ray.shutdown()


def ray_cfg(cfg):
    return replace(cfg, ingest=replace(cfg.ingest, engine="ray"), ray=replace(cfg.ray, workers=2))


def index_content(index_dir: Path) -> tuple[list[str], np.ndarray]:
    loaded = open_index(index_dir)
    ids = [chunk.chunk_id for chunk in loaded.docstore.get(list(range(loaded.docstore.count()))).values()]
    vectors = loaded.dense.vectors()
    loaded.close()
    return ids, vectors


def index_chunks(index_dir: Path) -> list[tuple]:
    """Every row's chunk id, source, text and parent id, in row order."""
    loaded = open_index(index_dir)
    chunks = loaded.docstore.get(list(range(loaded.docstore.count()))).values()
    rows = [(c.chunk_id, c.source, c.text, c.metadata.get("parent_id")) for c in chunks]
    loaded.close()
    return rows


class SplitDiesOnce:
    """A parse-and-split task whose first run kills its worker (always=True: every run)."""

    def __init__(self, marker: Path, always: bool = False):
        self.marker, self.always = marker, always

    def __call__(self, *args):
        from ragkit.ingest.split_files import load_and_split_one

        if self.always or not self.marker.exists():
            self.marker.touch()
            os._exit(1)   # the worker process dies while parsing, as an OOM kill would
        return load_and_split_one(*args)


class DiesOnce:
    """An embedder factory whose first actor dies while embedding (a marker file remembers it died)."""

    def __init__(self, marker: Path, always: bool = False):
        self.marker, self.always = marker, always

    def __call__(self):
        embedder = build_embedder(EmbedderConfig(kind="hash"))
        marker, always = self.marker, self.always
        embed = embedder.embed_array

        def dying(texts, progress=None):
            if always or not marker.exists():
                marker.touch()
                os._exit(1)   # the worker process dies mid-ingest, as an OOM kill would
            return embed(texts, progress)

        embedder.embed_array = dying
        return embedder


def test_ray_ingest_builds_the_index_the_local_engine_builds(docs, tmp_path, fast_cfg):
    local = ingest(docs, tmp_path / "local", fast_cfg)
    remote = ingest(docs, tmp_path / "ray", ray_cfg(fast_cfg))
    assert remote.counts() == local.counts() and remote.chunks_total == local.chunks_total
    local_ids, local_vectors = index_content(tmp_path / "local")
    ray_ids, ray_vectors = index_content(tmp_path / "ray")
    assert ray_ids == local_ids and np.array_equal(ray_vectors, local_vectors)
    assert index_chunks(tmp_path / "ray") == index_chunks(tmp_path / "local")
    write_docs(docs, {"birds.txt": "Parrots mimic speech. Owls hunt at night."})
    (docs / "cats.txt").unlink()
    again = ingest(docs, tmp_path / "ray", ray_cfg(fast_cfg))
    assert again.added == ["birds.txt"] and again.removed == ["cats.txt"] and again.chunks_embedded >= 1


def test_a_dead_embedding_worker_is_retried_and_changes_nothing(docs, tmp_path, fast_cfg):
    from ragkit.ingest.ray_engine import RayEngine

    ingest(docs, tmp_path / "local", fast_cfg)
    cfg = ray_cfg(fast_cfg)
    engine = RayEngine(cfg, build_embedder(cfg.embedder), DiesOnce(tmp_path / "died"))
    ingest(docs, tmp_path / "ray", cfg, engine=engine)
    assert (tmp_path / "died").exists()
    assert index_content(tmp_path / "ray")[0] == index_content(tmp_path / "local")[0]


def test_workers_that_keep_dying_fail_the_ingest_and_the_previous_generation_stays(docs, tmp_path, fast_cfg):
    from ragkit.ingest.ray_engine import RayEngine

    ingest(docs, tmp_path / "idx", fast_cfg)
    before = current_generation(tmp_path / "idx")
    write_docs(docs, {"birds.txt": "Parrots mimic speech. Owls hunt at night."})
    cfg = ray_cfg(fast_cfg)
    engine = RayEngine(cfg, build_embedder(cfg.embedder), DiesOnce(tmp_path / "died", always=True))
    with pytest.raises(EmbedderError, match="embedding on Ray failed"):
        ingest(docs, tmp_path / "idx", cfg, engine=engine)
    assert current_generation(tmp_path / "idx") == before
    assert open_index(tmp_path / "idx").docstore.count() > 0


def test_splitting_runs_in_the_ray_tasks_and_a_dead_task_is_retried_with_the_same_chunks(docs, tmp_path, fast_cfg,
                                                                                            monkeypatch):
    from ragkit.ingest import splitters
    from ragkit.ingest.ray_engine import RayEngine

    cfg = replace(ray_cfg(fast_cfg), splitter=replace(fast_cfg.splitter, chunk_size=40, chunk_overlap=5, parent_size=80))
    ingest(docs, tmp_path / "local", cfg)

    def no_splitting_here(*args, **kwargs):
        raise AssertionError("the driver split a file")

    monkeypatch.setattr(splitters, "split_documents", no_splitting_here)  # in this (the driver's) process only
    engine = RayEngine(cfg, build_embedder(cfg.embedder), task=SplitDiesOnce(tmp_path / "died"))
    report = ingest(docs, tmp_path / "ray", cfg, engine=engine)
    assert (tmp_path / "died").exists() and not report.failed
    assert index_chunks(tmp_path / "ray") == index_chunks(tmp_path / "local")
    assert any(parent for *_, parent in index_chunks(tmp_path / "ray"))


def test_parse_tasks_that_keep_dying_fail_their_files_and_the_previous_generation_stays(docs, tmp_path, fast_cfg):
    from ragkit.ingest.ray_engine import RayEngine

    ingest(docs, tmp_path / "idx", fast_cfg)
    before, rows_before = current_generation(tmp_path / "idx"), index_chunks(tmp_path / "idx")
    write_docs(docs, {"birds.txt": "Parrots mimic speech. Owls hunt at night.", "cats.txt": "Cats purr."})
    cfg = ray_cfg(fast_cfg)
    engine = RayEngine(cfg, build_embedder(cfg.embedder), task=SplitDiesOnce(tmp_path / "died", always=True))
    report = ingest(docs, tmp_path / "idx", cfg, engine=engine)
    assert [(f["source"], f["kept_previous"]) for f in report.failed] == [("birds.txt", False), ("cats.txt", True)]
    assert all("its Ray task failed" in f["reason"] for f in report.failed)
    assert current_generation(tmp_path / "idx") == before and index_chunks(tmp_path / "idx") == rows_before
