"""Ingest on Ray (ingest.engine: ray) in Ray's local mode: the same index as the local engine, the
same chunk ids when a worker dies and its work is retried, and a clean failure (the previous
generation live) when the embedding actors keep dying. Ray takes ~8 s to start here: integration tier."""

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
