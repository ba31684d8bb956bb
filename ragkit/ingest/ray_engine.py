"""Ingest on Ray (``ingest.engine: ray``): files parsed and split as Ray tasks, chunks embedded by a Ray Data actor pool.

What moves and what stays: parsing and splitting (each file a task, retried when its worker
dies; the driver receives the file's chunks and parent sections) and embedding (``map_batches``
over a pool of ``ray.workers`` actors, each loading the embedder once) run on Ray, which is this
machine in local mode or a cluster at ``ray.address``. A chunk's id is fixed in the task from
its source, place and text, so a retried task yields the same chunks and ids. The driver keeps
what must be decided in one place: which files changed, the order of the chunks, and writing
one generation through the same writer as the local engine. Any failure Ray does not retry
away reaches ingest as an error (a failed file, or an embedding error) before anything is
written, so the previous generation stays live.

Objects travel between Ray processes in Ray's own serialisation; nothing is persisted that way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from ragkit.config import Config, LoaderLimits, SplitterConfig
from ragkit.embedders import RagkitEmbeddings, build_embedder
from ragkit.errors import EmbedderError, LoadError
from ragkit.ingest.scan import SourceFile
from ragkit.ingest.split_files import SplitFile, load_and_split_one

TASK_RETRIES = 2      # a parse-and-split task whose worker dies runs again (a file's chunks do not depend on the attempt)
ACTOR_RESTARTS = 2    # likewise an embedding actor
EMBED_BATCH = 64      # chunks per actor call (the embedder sorts each batch by length)


def start_ray(address: str | None) -> None:
    """Connect to the cluster at ``address``, or start Ray on this machine; quiet, and once per process."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False


def run_task(task: Callable[..., SplitFile | LoadError], *args) -> SplitFile | LoadError:
    """What each Ray task runs: ``task(*args)``, by default :func:`load_and_split_one` (one file, with
    the loader's own limits and worker processes)."""
    return task(*args)


class EmbedActor:
    """One embedding model in one Ray actor; called with batches of ``{"row", "text"}``."""

    def __init__(self, factory: Callable[[], RagkitEmbeddings]):
        self.embedder = factory()

    def __call__(self, batch: dict) -> dict:
        """The batch's rows and their vectors."""
        vectors = self.embedder.embed_array([str(t) for t in batch["text"]])
        return {"row": batch["row"], "vector": vectors}


class RayEmbeddings:
    """Embeds like ``identity`` (same model id and dimension), but on a Ray Data actor pool."""

    def __init__(self, identity: RagkitEmbeddings, factory: Callable[[], RagkitEmbeddings], workers: int):
        self.model_id, self.dimension = identity.model_id, identity.dimension
        self.factory, self.workers = factory, workers

    def embed_array(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Vectors of ``texts`` in their order (rows are numbered, the pool returns them in any order)."""
        import ray

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        data = ray.data.from_items([{"row": n, "text": text} for n, text in enumerate(texts)])
        embedded = data.map_batches(EmbedActor, fn_constructor_args=(self.factory,), batch_size=EMBED_BATCH,
                                    concurrency=self.workers, num_cpus=1, batch_format="numpy",
                                    max_restarts=ACTOR_RESTARTS, max_task_retries=ACTOR_RESTARTS)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        try:
            for batch in embedded.iter_batches(batch_format="numpy", batch_size=None):
                vectors[batch["row"]] = batch["vector"]
        except Exception as exc:  # a Ray failure: ingest stops before writing, the live generation stays
            raise EmbedderError(f"embedding on Ray failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from None
        if progress:
            progress(len(texts))
        return vectors


class RayEngine:
    """The Ray engine's two halves: a ``load_and_split_files`` replacement and an embedder (see the module notes)."""

    def __init__(self, cfg: Config, identity: RagkitEmbeddings,
                 factory: Callable[[], RagkitEmbeddings] | None = None,
                 task: Callable[..., SplitFile | LoadError] = load_and_split_one):
        start_ray(cfg.ray.address)
        self.task = task  # what a task runs for one file (tests: one whose worker dies)
        workers = cfg.ray.workers
        # Each actor gets its share of the cores, so the pool does not oversubscribe them.
        threads = cfg.embedder.threads or max(1, (os.cpu_count() or 1) // workers)
        embedder_cfg = replace(cfg.embedder, threads=threads)
        self.embedder = RayEmbeddings(identity, factory or (lambda: build_embedder(embedder_cfg)), workers)

    def load_and_split_files(self, root: Path, sources: list[SourceFile], limits: LoaderLimits, splitter: SplitterConfig,
                             idle: Callable[[], bool] | None = None
                             ) -> Iterator[tuple[SourceFile, SplitFile | LoadError]]:
        """(source, its chunks and parents, or LoadError) once per source, as the tasks finish (``idle`` is not needed)."""
        import ray

        remote = ray.remote(run_task).options(max_retries=TASK_RETRIES, retry_exceptions=False)
        pending = {remote.remote(self.task, str(root), source, limits, splitter): source for source in sources}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            source = pending.pop(done[0])
            try:
                yield source, ray.get(done[0])
            except ray.exceptions.RayError as exc:  # the task's worker died more often than it is retried
                yield source, LoadError(f"{source.rel}: its Ray task failed ({type(exc).__name__})")
