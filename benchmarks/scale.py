"""Scale: flat, HNSW and IVF dense indexes and memory-mapped BM25 at 10k, 100k and 1M chunks.

Text: SciFact sentences recombined (each chunk: 2-4 consecutive sentences of one abstract plus
one sentence of another), so BM25 sees real term statistics at every size.
Vectors: a day of MiniLM (1M chunks at ~20-37 chunks/s here) is not affordable, so ``--base``
chunks are embedded for real with MiniLM (cached in ``out/scale/``), and every synthetic chunk
gets the vector of the real chunk it was made from, plus Gaussian noise, re-normalised
(cosine ~0.9 to its base): the copies keep MiniLM's real geometry (its clusters, its
anisotropy) while each is a distinct point. Copies of one base sit close together, so the
neighbourhoods are denser than real ones at 1M: if anything the recall here is pessimistic.
``--vectors static`` instead gives every chunk a real vector of its own (MiniLM distilled into
static word-piece vectors, ~3,700 chunks/s here; why: benchmarks/static_vectors.py), queries embedded
the same way.
Queries: SciFact *train* queries embedded with MiniLM (defaults are chosen on train data).

Per size and dense kind, in a fresh process each (so peak memory is that step's): build time,
disk size, load time, peak RSS, dense / sparse / hybrid p50 and p95 (single queries; dense
batched too), and recall@10 against flat (exact). Hybrid = dense top-300 + BM25 top-300 fused
by RRF (k=60), and ragkit's default hybrid path (``hybrid_default``): ``Searcher.dense_ranking``,
``Searcher.sparse_ranking`` (chunk BM25 plus document evidence from a BM25 index over documents built
by ``ragkit.store.documents``) and ``Searcher.fuse`` (convex, max-normalised, dense 0.6 / sparse 0.4,
by document), with the default Config. Documents: every ``CHUNKS_PER_DOCUMENT`` consecutive chunks
(the chunks are drawn at random, so the documents cost what real ones cost, not what they mean).
An existing ``sparse/`` or ``documents/`` in a size's folder is reused (the texts are deterministic:
same seed, same size). Also sweeps HNSW efSearch and IVF nprobe (recall vs
latency) to show where the defaults sit. Writes ``out/scale/scale.json`` and ``scale.png``.

    nice python benchmarks/scale.py --sizes 10000 100000
    nice python benchmarks/scale.py --sizes 1000000 --kinds flat hnsw ivf
    nice python benchmarks/scale.py --sizes 1000000 --vectors static --out benchmarks/out/scale-static
"""

from __future__ import annotations

import json
import multiprocessing
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import DEFAULT_DATA, OUT, machine_info, peak_rss_mb, percentiles, read_jsonl  # noqa: E402

NOISE_COSINE = 0.9   # how close a synthetic vector stays to the real vector it copies
DEPTH = 300          # ragkit's hybrid candidate depth (search.candidates)
CHUNKS_PER_DOCUMENT = 10   # ~1,000-character chunks of a few-page document; SciFact abstracts are 1-2, 10-Qs hundreds
SWEEP = {"hnsw": ("hnsw_ef_search", (16, 32, 64, 128, 256, 512, 1024)), "ivf": ("ivf_probe", (4, 8, 16, 32, 64, 128, 256))}


def sentences_by_doc(data: Path) -> list[list[str]]:
    """Each abstract's sentences (title first), from the BEIR corpus."""
    docs = []
    for doc in read_jsonl(data / "corpus.jsonl"):
        parts = [doc.get("title") or ""] + re.split(r"(?<=[.!?])\s+", doc.get("text") or "")
        docs.append([p.strip() for p in parts if len(p.strip()) > 20])
    return [d for d in docs if len(d) >= 2]


def base_chunks(docs: list[list[str]], n: int, seed: int = 0) -> list[tuple[int, int, int]]:
    """``n`` real chunks as (doc, first sentence, sentence count), spread over the corpus."""
    rng = np.random.default_rng(seed)
    picks = []
    for d in rng.choice(len(docs), size=n, replace=n > len(docs)):
        count = int(rng.integers(2, 5))
        start = int(rng.integers(0, max(1, len(docs[d]) - count + 1)))
        picks.append((int(d), start, count))
    return picks


def chunk_text(docs, pick) -> str:
    d, start, count = pick
    return " ".join(docs[d][start:start + count])


def base_vectors(data: Path, docs, picks, out: Path) -> np.ndarray:
    """MiniLM vectors of the real chunks (embedded once, then read from the cache)."""
    cache = out / f"base-{data.name}-{len(picks)}.npy"
    if cache.exists():
        return np.load(cache, allow_pickle=False)
    from ragkit.config import EmbedderConfig
    from ragkit.embedders import build_embedder

    vectors = build_embedder(EmbedderConfig()).embed_array([chunk_text(docs, p) for p in picks])
    np.save(cache, vectors, allow_pickle=False)
    return vectors


def query_texts(data: Path, n: int) -> list[str]:
    """The first ``n`` train queries (test queries when there is no train split)."""
    path = data / "queries_train.jsonl" if (data / "queries_train.jsonl").exists() else data / "queries.jsonl"
    return [q["text"] for q in read_jsonl(path)][:n]


def query_vectors(data: Path, n: int, out: Path) -> tuple[list[str], np.ndarray]:
    """The first ``n`` train queries (test queries when there is no train split), and their MiniLM vectors."""
    texts = query_texts(data, n)
    cache = out / f"queries-{data.name}-{len(texts)}.npy"
    if not cache.exists():
        from ragkit.config import EmbedderConfig
        from ragkit.embedders import build_embedder

        np.save(cache, build_embedder(EmbedderConfig()).embed_array(texts), allow_pickle=False)
    return texts, np.load(cache, allow_pickle=False)


def synthesize(size: int, docs, picks, base: np.ndarray | None, seed: int = 1) -> tuple[list[str], np.ndarray | None]:
    """``size`` chunks: a real chunk's sentences plus one from another abstract; its vector plus noise (no ``base``: no vectors)."""
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(picks), size)
    other = rng.integers(0, len(docs), size)
    texts = [chunk_text(docs, picks[w]) + " " + docs[o][int(rng.integers(0, len(docs[o])))]
             for w, o in zip(which, other)]
    if base is None:
        return texts, None
    d = base.shape[1]
    # noise of norm s gives cosine 1 / sqrt(1 + s^2) to the base: s from the wanted cosine
    scale = np.sqrt(1 / NOISE_COSINE ** 2 - 1) / np.sqrt(d)
    vectors = np.empty((size, d), dtype=np.float32)
    for start in range(0, size, 100_000):
        block = base[which[start:start + 100_000]] + scale * rng.standard_normal((len(which[start:start + 100_000]), d))
        vectors[start:start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return texts, vectors


def timed_queries(run, queries) -> tuple[dict, list]:
    """Per-query latency of ``run(q)`` over ``queries`` (after two warm-up calls), and its results."""
    for q in queries[:2]:
        run(q)
    times, results = [], []
    for q in queries:
        started = time.perf_counter()
        results.append(run(q))
        times.append(time.perf_counter() - started)
    return percentiles(times), results


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return peak_rss_mb()


def rrf(dense_rows, sparse_rows, k: int = 60) -> list[int]:
    scores: dict[int, float] = {}
    for ranking in (dense_rows, sparse_rows):
        for rank, row in enumerate(ranking, start=1):
            scores[row] = scores.get(row, 0.0) + 1.0 / (k + rank)
    return sorted(scores, key=scores.get, reverse=True)[:10]


class RowUnits:
    """Stands in for the docstore's ``units`` (doc_id, page per row): here a row's document number."""

    def __init__(self, row_document: np.ndarray):
        self.row_document = row_document

    def units(self, rows) -> dict[int, int]:
        return {int(r): int(self.row_document[r]) for r in rows}


def default_searcher(dense, sparse, documents):
    """ragkit's ``Searcher`` with the default Config over these indexes (no docstore: :class:`RowUnits`)."""
    from types import SimpleNamespace

    from ragkit.config import Config
    from ragkit.retrieval.search import Searcher

    searcher = Searcher.__new__(Searcher)   # its __init__ opens an index folder; this one has no docstore
    searcher.cfg, searcher._embedder = Config(), None
    searcher.index = SimpleNamespace(dense=dense, sparse=sparse, documents=documents,
                                     docstore=RowUnits(documents.row_document))
    return searcher


def default_hybrid(searcher, vector: np.ndarray, text: str) -> list[tuple[int, float]]:
    """The default hybrid search of one embedded query, as ``Searcher.search_many`` runs it (top 10 rows)."""
    depth = max(searcher.cfg.search.k, searcher.cfg.search.candidates)
    dense = searcher.dense_ranking(vector[None, :], depth, None)[0]
    sparse = searcher.sparse_ranking(text, depth, None)
    return searcher.fuse(dense, sparse)[:searcher.cfg.search.k]


def at_operating_point(index, rows: int, params: dict) -> None:
    """Search as wide as ragkit's settings say at ``rows`` vectors (an index built by an older run may say otherwise)."""
    from ragkit.store.backends.faiss.ann import hnsw_ef_search_for, ivf_probe_for, structure_of

    built = structure_of(index.index)
    if built == "hnsw":
        index.index.hnsw.efSearch = hnsw_ef_search_for(rows, params.get("hnsw_ef_search", 0))
    elif built == "ivf":
        index.index.nprobe = ivf_probe_for(rows, index.index.nlist, params.get("ivf_probe", 0))


def step(job: dict, results) -> None:
    """One (size, kind) measurement, in its own process; puts a dict on ``results``."""
    from ragkit.store.backends.bm25s import BM25Index
    from ragkit.store.backends.faiss.ann import FaissDenseIndex

    work = Path(job["work"])
    vectors = np.load(work / "vectors.npy", mmap_mode="r")
    queries, qtexts = np.load(work / "queries.npy"), json.loads((work / "queries.json").read_text())
    target = work / job["kind"]
    build_s, described = None, None   # not built in this run (--reuse-indexes)
    if not (job.get("reuse") and (target / "dense.faiss").exists()):
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        started = time.perf_counter()
        index = FaissDenseIndex(vectors.shape[1], kind=job["kind"], **job.get("params", {}))
        for start in range(0, len(vectors), 100_000):
            index.add(np.asarray(vectors[start:start + 100_000]))
        index.save(target)
        build_s = round(time.perf_counter() - started, 2)
        described = index.describe()   # as built: the kind asked for, and any fallback note
        del index
    started = time.perf_counter()
    index = FaissDenseIndex.load(target)
    load_s = time.perf_counter() - started
    at_operating_point(index, len(vectors), job.get("params", {}))
    described = described or index.describe()
    started = time.perf_counter()
    sparse = BM25Index.load(work)
    sparse_load_s = time.perf_counter() - started
    exact = np.load(work / "exact.npy")
    dense_single, dense_rows = timed_queries(lambda q: index.search(q, 10)[0][0], list(queries))
    batch = 32
    started = time.perf_counter()
    for s in range(0, len(queries), batch):
        index.search(queries[s:s + batch], 10)
    batched_ms = (time.perf_counter() - started) / len(queries) * 1000
    recall = float(np.mean([len(set(r[:10]) & set(e[:10])) / 10 for r, e in zip(dense_rows, exact)]))
    sparse_single, _ = timed_queries(lambda t: sparse.search(t, 10), qtexts)
    pairs = list(zip(queries, qtexts))
    hybrid_single, _ = timed_queries(
        lambda p: rrf(index.search(p[0], DEPTH)[0][0].tolist(), sparse.search(p[1], DEPTH)[0].tolist()), pairs)
    extra = {}
    if (work / "documents").exists():
        from ragkit.store.documents import DocumentIndex

        searcher = default_searcher(index, sparse, DocumentIndex.load(work))
        extra["sparse_with_evidence_single"], _ = timed_queries(lambda t: searcher.sparse_ranking(t, DEPTH, None), qtexts)
        extra["hybrid_default_single"], _ = timed_queries(lambda p: default_hybrid(searcher, *p), pairs)
    sweep = []
    if described["built"] in SWEEP:
        key, values = SWEEP[described["built"]]
        for value in values:
            if described["built"] == "hnsw":
                index.index.hnsw.efSearch = value
            else:
                index.index.nprobe = value
            timing, rows = timed_queries(lambda q: index.search(q, 10)[0][0], list(queries))
            sweep.append({key: value, "p50_ms": timing["p50_ms"],
                          "recall@10": round(float(np.mean([len(set(r) & set(e[:10])) / 10 for r, e in zip(rows, exact)])), 4)})
    results.put({"size": job["size"], "kind": job["kind"], "built": described, "build_s": build_s,
                 "dense_disk_mb": round((target / "dense.faiss").stat().st_size / 2**20, 1),
                 "dense_load_s": round(load_s, 3), "sparse_load_s": round(sparse_load_s, 3),
                 "peak_rss_mb": peak_mb(), "recall@10": round(recall, 4), "dense_single": dense_single,
                 "dense_batched_ms_per_query": round(batched_ms, 3), "sparse_single": sparse_single,
                 "hybrid_single": hybrid_single, **extra, "sweep": sweep})


def prepare(size: int, args, docs, picks, base, qtexts, qvecs, vectorize=None) -> tuple[Path, dict]:
    """Write a size's vectors, BM25 indexes (chunks, documents) and exact top-10s; return the folder and their numbers.

    With ``--reuse-indexes`` a folder that has them already is taken as it is.

    ``vectorize(texts)``: the chunks' vectors (``--vectors static``); without it, noisy copies of ``base``.
    """
    from ragkit.store.backends.bm25s import BM25Index
    from ragkit.store.backends.faiss.ann import FaissDenseIndex
    from ragkit.store.documents import build_document_index

    work = args.out / f"n{size}"
    if args.reuse_indexes and (work / "exact.npy").exists():   # vectors, queries and indexes from the last run
        return work, {"size": size, "reused": True}
    work.mkdir(parents=True, exist_ok=True)
    texts, vectors = synthesize(size, docs, picks, None if vectorize else base)
    row: dict = {"size": size}
    if vectorize:
        started = time.perf_counter()
        vectors = vectorize(texts)
        row["embed_s"] = round(time.perf_counter() - started, 2)
    np.save(work / "vectors.npy", vectors, allow_pickle=False)
    np.save(work / "queries.npy", qvecs, allow_pickle=False)
    (work / "queries.json").write_text(json.dumps(qtexts))
    if not (work / "sparse").exists():
        started = time.perf_counter()
        sparse = BM25Index()
        sparse.build(texts)
        sparse.save(work)
        row["sparse_build_s"] = round(time.perf_counter() - started, 2)
        del sparse
    if not (work / "documents").exists():
        started = time.perf_counter()
        doc_ids = [str(r // CHUNKS_PER_DOCUMENT) for r in range(len(texts))]
        build_document_index(texts, doc_ids, BM25Index().settings()).save(work)
        row["documents_build_s"] = round(time.perf_counter() - started, 2)
    del texts
    flat = FaissDenseIndex(vectors.shape[1])
    flat.add(vectors)
    np.save(work / "exact.npy", flat.search(qvecs, 10)[0], allow_pickle=False)
    for name in ("sparse", "documents"):
        row[f"{name}_disk_mb"] = round(sum(p.stat().st_size for p in (work / name).rglob("*")) / 2**20, 1)
    return work, row


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [("build_s", "build (s)"), ("dense_disk_mb", "dense index on disk (MB)"), ("peak_rss_mb", "peak RSS (MB)"),
               ("dense_p50", "dense p50 (ms)"), ("hybrid_p50", "hybrid p50 (ms)"), ("recall@10", "recall@10 vs flat")]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, (key, label) in zip(axes.ravel(), metrics):
        for kind in sorted({r["kind"] for r in rows}):
            mine = sorted((r for r in rows if r["kind"] == kind), key=lambda r: r["size"])
            values = [r["dense_single"]["p50_ms"] if key == "dense_p50" else r["hybrid_single"]["p50_ms"]
                      if key == "hybrid_p50" else r[key] for r in mine]
            ax.plot([r["size"] for r in mine], values, marker="o", label=kind)
        ax.set_xscale("log")
        ax.set_title(label)
        ax.set_xlabel("chunks")
    axes[0, 0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--kinds", nargs="+", default=["flat", "hnsw", "ivf"])
    parser.add_argument("--vectors", choices=("noisy", "static"), default="noisy",
                        help="noisy copies of --base MiniLM vectors, or each chunk's own static vector (see the doc)")
    parser.add_argument("--base", type=int, default=3000, help="real chunks embedded with MiniLM (--vectors noisy)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=OUT / "scale")
    parser.add_argument("--name", default="scale")
    parser.add_argument("--reuse-indexes", action="store_true",
                        help="measure the dense indexes a previous run left in --out instead of building them")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    docs = sentences_by_doc(args.data)
    picks = base_chunks(docs, args.base)
    vectorize = base = None
    if args.vectors == "static":
        import static_vectors

        table = static_vectors.piece_table(args.out / "static-minilm-pieces.npy")
        vectorize = lambda texts: static_vectors.embed(texts, table)  # noqa: E731
        qtexts = query_texts(args.data, args.queries)
        qvecs = vectorize(qtexts)
    else:
        base = base_vectors(args.data, docs, picks, args.out)
        qtexts, qvecs = query_vectors(args.data, args.queries, args.out)
    report = {"machine": machine, "settings": vars(args) | {"data": str(args.data), "out": str(args.out)},
              "sparse": [], "dense": []}
    spawn = multiprocessing.get_context("spawn")
    for size in args.sizes:
        work, sparse_row = prepare(size, args, docs, picks, base, qtexts, qvecs, vectorize)
        report["sparse"].append(sparse_row)
        print(json.dumps(sparse_row), flush=True)
        for kind in args.kinds:
            results = spawn.Queue()
            child = spawn.Process(target=step, args=({"work": str(work), "kind": kind, "size": size, "reuse": args.reuse_indexes}, results))
            child.start()
            row = results.get()
            child.join()
            report["dense"].append(row)
            print(json.dumps({k: row[k] for k in ("size", "kind", "build_s", "recall@10", "peak_rss_mb")}
                             | {"dense_p50": row["dense_single"]["p50_ms"], "hybrid_p50": row["hybrid_single"]["p50_ms"],
                                "sparse_p50": row["sparse_single"]["p50_ms"],
                                "hybrid_default_p50": row.get("hybrid_default_single", {}).get("p50_ms")}), flush=True)
            (args.out / f"{args.name}.json").write_text(json.dumps(report, indent=1))
    plot(report["dense"], args.out / f"{args.name}.png")


if __name__ == "__main__":
    main()
