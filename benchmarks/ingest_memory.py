"""Peak memory of writing a generation's vectors, before and after the issue-12 memory work.

Each measurement runs in a fresh Python process (so peaks do not leak between runs): it makes
``--rows`` x ``--dimension`` unit vectors and their (tiny) chunks, resets the kernel's peak-RSS
mark (``/proc/self/clear_refs``), writes one generation through ``write_generation`` and reads
``VmHWM``. Reported: peak RSS during the write minus RSS just before it (the input vectors are
already counted in the latter), in MB and as a multiple of the vectors' bytes, and the same for
anonymous memory alone (RssAnon, sampled: see :func:`anon_peak_while`). Scenarios:
``fresh`` writes the vectors into a new index; ``carry`` writes a second generation carrying
every vector of the first (the input vectors are freed first: only the old index holds them);
``stream`` runs what a fresh ingest runs after loading: the streaming embedder (a stand-in model
returning random unit vectors, files arriving last first in 200 files of equal size) and then the
write, measured from before the first embedding call (the chunks exist already).
The "before" tree is ``git archive`` of ``--before`` (default: the commit this work started
from), run with the same interpreter side by side.

    nice python benchmarks/ingest_memory.py                 # 200k x 384, flat and ivf
    nice python benchmarks/ingest_memory.py --rows 20000    # quicker
    nice python benchmarks/ingest_memory.py --scenarios stream --before 8a74e4c   # the disk-backed vectors
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"
BEFORE = "49ab34f"


def status_kb(field: str) -> int:
    """A ``/proc/self/status`` field in kB (VmRSS, VmHWM, RssAnon, ...)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def anon_peak_while(work) -> tuple[object, int]:
    """Run ``work()``; return its result and the largest RssAnon (kB) seen, sampled every 5 ms.

    VmHWM also counts file-backed pages (a memory-mapped index read through), which the
    kernel can drop; RssAnon is the process's own memory, the part that runs out.
    """
    import threading

    peak, done = [status_kb("RssAnon")], threading.Event()

    def sample():
        while not done.wait(0.005):
            peak[0] = max(peak[0], status_kb("RssAnon"))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        result = work()
    finally:
        done.set()
        thread.join()
    return result, max(peak[0], status_kb("RssAnon"))


def worker(rows: int, dimension: int, kind: str, scenario: str) -> dict:
    """One write in this process; returns the RSS before it and the peak during it (MB)."""
    import numpy as np
    from langchain_core.documents import Document

    from ragkit.store.generations import current_generation
    from ragkit.store.manifest import IndexSettings
    from ragkit.store.writer import GenerationContent, write_generation

    identity = SimpleNamespace(model_id="memory-benchmark", dimension=dimension)
    dense = {"kind": kind, **({"ivf_lists": 256} if kind == "ivf" else {})}
    settings = IndexSettings(embedder=identity, splitter={}, sparse={}, dense_backend="faiss",
                             sparse_backend="bm25s", dense=dense)
    if scenario == "stream":
        return stream_then_write(rows, settings)
    vectors = np.random.default_rng(0).standard_normal((rows, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    files = {"a.txt": {"size": 1, "mtime": 0.0, "sha256": "0" * 64}}
    chunks = [Document(page_content=f"w{n % 97} w{n % 89}",
                       metadata={"chunk_id": f"c{n}", "source": "a.txt", "doc_id": "a.txt"}) for n in range(rows)]
    index_dir = Path(tempfile.mkdtemp(dir=OUT, prefix="ingest-memory-"))
    content = GenerationContent(carry_from=None, keep_sources=frozenset(), chunks=chunks, parents=[],
                                vectors=vectors, files=files)
    if scenario == "carry":
        write_generation(index_dir, content, settings, stats={})
        del content, vectors
        content = GenerationContent(carry_from=current_generation(index_dir), keep_sources=frozenset({"a.txt"}),
                                    chunks=[], parents=[], vectors=np.zeros((0, dimension), np.float32), files=files)
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    before, anon_before = status_kb("VmRSS"), status_kb("RssAnon")
    _, anon_peak = anon_peak_while(lambda: write_generation(index_dir, content, settings, stats={}))
    peak = status_kb("VmHWM")
    subprocess.run(["rm", "-rf", str(index_dir)], check=True)
    return {"rss_before_mb": before / 1024, "peak_mb": peak / 1024, "extra_mb": (peak - before) / 1024,
            "anon_extra_mb": (anon_peak - anon_before) / 1024}


class RandomEmbedder:
    """A stand-in model: random unit vectors, as fast as numpy makes them (the memory is the point)."""

    def __init__(self, dimension: int):
        import numpy as np

        self.model_id, self.dimension, self.rng = "memory-benchmark", dimension, np.random.default_rng(0)

    def embed_array(self, texts, progress=None):
        """Unit vectors, one per text."""
        import numpy as np

        vectors = self.rng.standard_normal((len(texts), self.dimension)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        if progress:
            progress(len(texts))
        return vectors


def stream_then_write(rows: int, settings) -> dict:
    """Embed ``rows`` chunks with the streaming embedder, then write them: RSS before, peak during (MB)."""
    import inspect

    from langchain_core.documents import Document

    from ragkit.ingest.report import SilentProgress
    from ragkit.ingest.streaming import StreamingEmbedder
    from ragkit.store.writer import GenerationContent, write_generation

    files = 200
    per_file = rows // files
    chunks = {f: [Document(page_content=f"w{n % 97} w{n % 89}", metadata={"chunk_id": f"f{f}c{n}", "source": f"f{f}.txt",
                                                                         "doc_id": f"f{f}.txt"}) for n in range(per_file)]
              for f in range(files)}
    records = {f"f{f}.txt": {"size": 1, "mtime": 0.0, "sha256": "0" * 64} for f in range(files)}
    index_dir = Path(tempfile.mkdtemp(dir=OUT, prefix="ingest-memory-"))
    spill = {"spill_dir": index_dir} if "spill_dir" in inspect.signature(StreamingEmbedder).parameters else {}

    def run():
        stream = StreamingEmbedder(RandomEmbedder(settings.embedder.dimension), SilentProgress(), step=per_file, **spill)
        for f in reversed(range(files)):  # the last file arrives first
            stream.add(f, chunks[f])
            stream.embed_some()
        ordered, vectors = stream.finish()
        write_generation(index_dir, GenerationContent(carry_from=None, keep_sources=frozenset(), chunks=ordered,
                                                      parents=[], vectors=vectors, files=records), settings, stats={})

    Path("/proc/self/clear_refs").write_text("5")
    before, anon_before = status_kb("VmRSS"), status_kb("RssAnon")
    _, anon_peak = anon_peak_while(run)
    peak = status_kb("VmHWM")
    subprocess.run(["rm", "-rf", str(index_dir)], check=True)
    return {"rss_before_mb": before / 1024, "peak_mb": peak / 1024, "extra_mb": (peak - before) / 1024,
            "anon_extra_mb": (anon_peak - anon_before) / 1024}


def measure(tree: Path, args: argparse.Namespace, kind: str, scenario: str) -> dict:
    """Run :func:`worker` in a fresh process with ``tree`` first on the path."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", "--rows", str(args.rows),
               "--dimension", str(args.dimension), "--kind", kind, "--scenario", scenario]
    done = subprocess.run(command, env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def before_tree(commit: str) -> Path:
    """The ``commit`` tree, unpacked in a temporary directory (no git worktree is made)."""
    target = Path(tempfile.mkdtemp(prefix="ingest-memory-before-"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def main() -> None:
    """Parse the arguments; as a worker measure once, else measure every case before and after."""
    parser = common.parser(__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--kinds", default="flat,ivf")
    parser.add_argument("--scenarios", default="fresh,carry,stream")
    parser.add_argument("--before", default=BEFORE)
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--kind", default="flat")
    parser.add_argument("--scenario", default="fresh")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.worker:
        print(json.dumps(worker(args.rows, args.dimension, args.kind, args.scenario)))
        return
    trees = {"before": before_tree(args.before), "after": REPO}
    vector_mb = args.rows * args.dimension * 4 / 2**20
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
          f"{os.cpu_count()} cores, after={commit} (+ working tree), before={args.before}; "
          f"{args.rows} x {args.dimension} vectors = {vector_mb:.0f} MB; ivf with 256 lists")
    print("kind  scenario  tree    rss_before_MB  peak_MB  extra_MB  extra/vectors  anon_extra/vectors")
    results = []
    for kind in args.kinds.split(","):
        for scenario in args.scenarios.split(","):
            for name, tree in trees.items():
                row = {"kind": kind, "scenario": scenario, "tree": name, **measure(tree, args, kind, scenario)}
                results.append(row)
                print(f"{kind:5} {scenario:9} {name:7} {row['rss_before_mb']:13.0f} {row['peak_mb']:8.0f} "
                      f"{row['extra_mb']:9.0f} {row['extra_mb'] / vector_mb:13.2f} {row['anon_extra_mb'] / vector_mb:19.2f}", flush=True)
    (OUT / "ingest_memory.json").write_text(json.dumps({"rows": args.rows, "dimension": args.dimension,
                                                         "commit": commit, "before": args.before,
                                                         "results": results}, indent=1))
    subprocess.run(["rm", "-rf", str(trees["before"])], check=True)


if __name__ == "__main__":
    main()
