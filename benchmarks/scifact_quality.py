"""SciFact retrieval quality of ragkit (sparse, dense, hybrid) against LangChain baselines, in one run.

    python benchmarks/scifact_quality.py [--data DIR] [--reuse] [--skip-baselines]

1. Ingests SciFact's corpus.jsonl with the default config (local MiniLM embedder, recursive
   splitter 1000/150, bm25s lucene + English stemming) into benchmarks/out/scifact-index
   (reused as is with --reuse when it already holds the whole corpus).
2. For each ragkit mode: nDCG@10, recall@100, MRR@10 over the 300 test queries, documents
   ranked by their best chunk (first occurrence of a doc_id among --depth ranked chunks;
   default max(200, search.candidates), so hybrid fuses the same lists as a k=10 search),
   cross-checked against ranx; then single-query latency (``search_many([q])``, k=10,
   modes interleaved per query), p50/p95.
3. Baselines in the same process, on whole documents (title + "\\n\\n" + text) with the same
   local embedder: LangChain ``EnsembleRetriever`` over ``BM25Retriever`` + ``FAISS``
   (weights 0.5/0.5, its defaults), ``BM25Retriever`` alone and ``FAISS`` alone.
4. Diagnostics (not baselines; they explain where chunking costs or gains): bm25s on whole
   documents with ragkit's tokenizer, and RRF of that with the whole-document FAISS ranking.

Writes benchmarks/out/scifact_quality.json and prints a table. Takes ~25-35 min on 2 shared
cores (mostly embedding: 10,760 chunks for ragkit, 5,183 whole documents for the baseline);
~8-11 min with --reuse.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402  (sets warning filters before langchain imports)
from common import Timer, doc_text, peak_rss_mb, percentiles, ranx_evaluate  # noqa: E402

from ragkit.evaluation.metrics import dedupe_ranked, evaluate  # noqa: E402

METRICS = ("ndcg@10", "recall@100", "mrr@10")
TARGETS = {"sparse": 0.67, "dense": 0.64, "hybrid": 0.71}  # nDCG@10
MODES = ("sparse", "dense", "hybrid")


def index_doc_count(index_dir: Path) -> int | None:
    """Distinct doc_ids in a built index, or None when there is no index there."""
    from ragkit.errors import StoreError
    from ragkit.store.index import open_index

    try:
        index = open_index(index_dir)
    except (StoreError, FileNotFoundError, OSError):
        return None
    try:
        return index.docstore.conn.execute("SELECT COUNT(DISTINCT doc_id) FROM chunks").fetchone()[0]
    finally:
        index.close()


def same_chunks(index_dir: Path, cfg, corpus: list[dict]) -> tuple[bool, str]:
    """Would today's splitter cut the corpus into exactly the chunks stored in the index?

    The chunk ids hash source, doc_id, offset and text, so equal id sets mean equal chunks
    (and, with the same embedder, equal vectors): the index is as good as a fresh ingest for
    search even if ragkit's code changed since it was built. Documents are built as ragkit's
    jsonl loader builds them.
    """
    from langchain_core.documents import Document

    from ragkit.ingest.splitters import split_documents
    from ragkit.store.index import open_index

    docs = []
    for line, d in enumerate(corpus, start=1):
        meta = {"source": "corpus.jsonl", "doc_id": str(d["_id"]), "type": "jsonl", "line": line}
        if (d.get("title") or "").strip():
            meta["title"] = d["title"]
        docs.append(Document(page_content=doc_text(d), metadata=meta))
    wanted = {c.metadata["chunk_id"] for c in split_documents(docs, cfg.splitter)}
    index = open_index(index_dir)
    try:
        stored = {c.chunk_id for c in index.docstore.iter_chunks()}
        recorded = index.manifest["embedder"]["id"]
    finally:
        index.close()
    from ragkit.embedders import build_embedder

    if recorded != build_embedder(cfg.embedder).model_id:
        return False, f"embedder {recorded} differs from the configured one"
    if wanted != stored:
        return False, f"{len(wanted ^ stored)} chunk ids differ from what today's splitter produces"
    return True, f"all {len(stored)} chunk ids match today's splitter"


def build_index(args, cfg, corpus: list[dict]) -> dict:
    from ragkit.ingest.pipeline import ingest

    index_dir: Path = args.index
    corpus_len = len(corpus)
    if args.reuse:
        have = index_doc_count(index_dir)
        if have == corpus_len:
            ok, why = same_chunks(index_dir, cfg, corpus)
            if ok:
                print(f"reusing {index_dir} ({have} documents; {why})", flush=True)
                return {"reused": True, "check": why}
            print(f"--reuse: {why}: rebuilding", flush=True)
        else:
            print(f"--reuse: {index_dir} holds {have} documents, not {corpus_len}: rebuilding", flush=True)
    if index_dir.exists():
        shutil.rmtree(index_dir)
    folder = common.make_corpus_folder(args.data, args.out / f"scifact-corpus{'-' + str(args.limit) if args.limit else ''}",
                                       args.limit)
    print(f"ingesting {folder} -> {index_dir} (embedding every chunk; this is the long part)", flush=True)
    with Timer() as t:
        report = ingest(folder, index_dir, cfg, rebuild=True)
    if report.failed:
        sys.exit(f"error: ingest failed: {report.failed}")
    print(f"  ingest {t.s:.1f}s, {report.chunks_total} chunks, timings {report.timings}", flush=True)
    return {"reused": False, "wall_s": round(t.s, 2), "timings": report.timings, "counts": report.counts(),
            "chunks_total": report.chunks_total, "chunks_embedded": report.chunks_embedded}


def score(qrels, run) -> dict:
    ours = evaluate(qrels, run, METRICS)
    theirs = ranx_evaluate(qrels, run, METRICS)
    return {"metrics": {m: round(v, 4) for m, v in ours.items()},
            "ranx": {m: round(v, 4) for m, v in theirs.items()},
            "max_abs_diff_vs_ranx": max(abs(ours[m] - theirs[m]) for m in METRICS)}


def ragkit_eval(args, cfg, qids, texts, qrels) -> dict:
    from ragkit.retrieval.search import Searcher

    searcher = Searcher(args.index, cfg)
    out: dict = {"chunks_in_index": searcher.index.docstore.count()}
    for mode in MODES:
        with Timer() as t:
            results = searcher.search_many(texts, mode=mode, k=args.depth)
        run = {qid: dedupe_ranked([r.doc_id for r in res])[:100] for qid, res in zip(qids, results)}
        distinct = sorted(len(v) for v in run.values())
        entry = score(qrels, run)
        entry.update({"batch_search_s": round(t.s, 3), "chunk_depth": args.depth,
                      "distinct_docs_min": distinct[0], "distinct_docs_median": distinct[len(distinct) // 2],
                      "queries_under_100_docs": sum(1 for d in distinct if d < 100)})
        out[mode] = entry
        print(f"  {mode:7s} {entry['metrics']}  (ranx {entry['ranx']})  batch {t.s:.1f}s", flush=True)

    # Latency: one query per call, as a user types them; modes interleaved per query so that
    # load changes on the shared machine hit all modes alike. One warm-up call per mode
    # (it builds the query embedder).
    for mode in MODES:
        searcher.search_many([texts[0]], mode=mode, k=args.latency_k)
    times: dict[str, list[float]] = {m: [] for m in MODES}
    for q in texts:
        for mode in MODES:
            start = time.perf_counter()
            searcher.search_many([q], mode=mode, k=args.latency_k)
            times[mode].append(time.perf_counter() - start)
    for mode in MODES:
        out[mode]["latency"] = {**percentiles(times[mode]), "k": args.latency_k}
        print(f"  {mode:7s} latency {out[mode]['latency']}", flush=True)
    searcher.close()
    return out


def timed_queries(retriever, texts, qids) -> tuple[dict, list[float]]:
    run, times = {}, []
    for qid, q in zip(qids, texts):
        start = time.perf_counter()
        docs = retriever.invoke(q)
        times.append(time.perf_counter() - start)
        run[qid] = dedupe_ranked([d.metadata["doc_id"] for d in docs])[:100]
    return run, times


def baselines_eval(args, cfg, corpus, qids, texts, qrels) -> dict:
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.retrievers import BM25Retriever
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document

    from ragkit.embedders import LocalMiniLMEmbeddings
    from ragkit.retrieval.fusion import reciprocal_rank_fusion
    from ragkit.store.backends.bm25s import BM25Index

    docs = [Document(page_content=doc_text(d), metadata={"doc_id": str(d["_id"])}) for d in corpus]
    out: dict = {}
    with Timer() as t_bm25:
        bm25 = BM25Retriever.from_documents(docs, k=100)
    print(f"  BM25Retriever.from_documents {t_bm25.s:.1f}s", flush=True)
    print(f"  FAISS.from_documents: embedding {len(docs)} whole documents ...", flush=True)
    with Timer() as t_faiss:
        store = FAISS.from_documents(docs, LocalMiniLMEmbeddings())
    print(f"  FAISS.from_documents {t_faiss.s:.1f}s", flush=True)
    faiss_ret = store.as_retriever(search_kwargs={"k": 100})
    ensemble = EnsembleRetriever(retrievers=[bm25, faiss_ret], weights=[0.5, 0.5])
    build = {"bm25_from_documents_s": round(t_bm25.s, 2), "faiss_from_documents_s": round(t_faiss.s, 2)}

    runs = {}
    for name, retriever in (("langchain_bm25", bm25), ("langchain_faiss", faiss_ret),
                            ("langchain_ensemble", ensemble)):
        faiss_ret.invoke(texts[0])  # warm-up (first ONNX run)
        run, times = timed_queries(retriever, texts, qids)
        runs[name] = run
        entry = score(qrels, run)
        entry["latency"] = {**percentiles(times), "k": 100}
        out[name] = entry
        print(f"  {name:20s} {entry['metrics']}  (ranx {entry['ranx']})  p50 {entry['latency']['p50_ms']} ms",
              flush=True)
    out["build"] = build

    # Diagnostics: ragkit's BM25 (same tokenizer and parameters) on whole documents, and RRF
    # (ragkit's fusion, k=60, 100 candidates a side) of that with the whole-document FAISS run.
    sparse = BM25Index(**{k: v for k, v in asdict(cfg.sparse).items() if k != "backend"})
    sparse.build([doc.page_content for doc in docs])
    ids = [doc.metadata["doc_id"] for doc in docs]
    whole_bm25 = {qid: [ids[r] for r in sparse.search(q, 100)[0].tolist()] for qid, q in zip(qids, texts)}
    entry = score(qrels, whole_bm25)
    out["diag_bm25s_whole_docs"] = entry
    print(f"  {'diag bm25s whole':20s} {entry['metrics']}", flush=True)
    fused = {qid: [d for d, _ in reciprocal_rank_fusion([runs["langchain_faiss"][qid], whole_bm25[qid]],
                                                         k=cfg.search.rrf_k)][:100] for qid in qids}
    entry = score(qrels, fused)
    out["diag_rrf_whole_docs"] = entry
    print(f"  {'diag RRF whole':20s} {entry['metrics']}", flush=True)
    return out


def print_table(result: dict) -> None:
    rows = []
    for mode in MODES:
        e = result["ragkit"][mode]
        rows.append((f"ragkit {mode}", e, e["latency"]))
    for name in ("langchain_ensemble", "langchain_bm25", "langchain_faiss", "diag_bm25s_whole_docs",
                 "diag_rrf_whole_docs"):
        if name in result.get("baselines", {}):
            e = result["baselines"][name]
            rows.append((name, e, e.get("latency")))
    print()
    print(f"{'system':26s} {'nDCG@10':>8s} {'R@100':>7s} {'MRR@10':>7s} {'ranx nDCG':>9s} {'p50 ms':>8s} {'p95 ms':>8s}")
    for name, e, lat in rows:
        m = e["metrics"]
        p50 = f"{lat['p50_ms']:8.1f}" if lat else f"{'-':>8s}"
        p95 = f"{lat['p95_ms']:8.1f}" if lat else f"{'-':>8s}"
        print(f"{name:26s} {m['ndcg@10']:8.4f} {m['recall@100']:7.4f} {m['mrr@10']:7.4f} "
              f"{e['ranx']['ndcg@10']:9.4f} {p50} {p95}")
    print()
    for mode, target in TARGETS.items():
        got = result["ragkit"][mode]["metrics"]["ndcg@10"]
        print(f"target {mode} nDCG@10 >= {target}: {got:.4f} {'MET' if got >= target else 'MISSED'}")
    print(f"peak RSS: {result['peak_rss_mb']}")


def main() -> None:
    parser = common.parser(__doc__)
    common.add_data_arg(parser)
    parser.add_argument("--index", type=Path, default=None, help="index folder (default <out>/scifact-index)")
    parser.add_argument("--reuse", action="store_true", help="reuse the index when it already holds the corpus")
    parser.add_argument("--depth", type=int, default=None,
                        help="chunks retrieved per query for the metrics (default: max(200, search.candidates), "
                             "so that hybrid fuses exactly the candidate lists a k=10 search fuses)")
    parser.add_argument("--latency-k", type=int, default=10, help="k for the single-query latency calls (10)")
    parser.add_argument("--skip-baselines", action="store_true", help="ragkit only (saves ~7 min of embedding)")
    parser.add_argument("--limit", type=int, default=None,
                        help="first N documents only: a smoke test, the numbers are not comparable")
    args = parser.parse_args()
    common.require_dataset(args.data)
    args.out = args.out.resolve()
    if args.index is None:
        args.index = args.out / ("scifact-index" if not args.limit else f"scifact-index-limit{args.limit}")
    from ragkit.config import Config

    cfg = Config()
    if args.depth is None:
        # Hybrid retrieves max(k, candidates) a side: k <= candidates keeps a k=10 user's fusion.
        args.depth = max(200, cfg.search.candidates)
    machine = common.machine_info()
    corpus = common.load_corpus(args.data, args.limit)
    qids, texts, qrels = common.load_test_queries(args.data)
    print(f"SciFact: {len(corpus)} documents, {len(qids)} test queries; {machine['cpu_model']}, "
          f"{machine['nproc']} CPUs, load {machine['loadavg_start']}", flush=True)

    result: dict = {"machine": machine, "dataset": {"path": str(args.data), "documents": len(corpus),
                                                    "queries": len(qids), "limit": args.limit},
                    "config": {"splitter": asdict(cfg.splitter), "embedder": asdict(cfg.embedder),
                               "sparse": asdict(cfg.sparse), "search": asdict(cfg.search)},
                    "targets_ndcg@10": TARGETS}
    with Timer() as t:
        result["ingest"] = build_index(args, cfg, corpus)
        result["ragkit"] = ragkit_eval(args, cfg, qids, texts, qrels)
    result["ragkit_wall_s"] = round(t.s, 1)
    result["peak_rss_mb"] = {"after_ragkit": peak_rss_mb()}
    if not args.skip_baselines:
        print("baselines (same process, same embedder, whole documents):", flush=True)
        with Timer() as t:
            result["baselines"] = baselines_eval(args, cfg, corpus, qids, texts, qrels)
        result["baselines_wall_s"] = round(t.s, 1)
    result["peak_rss_mb"]["end"] = peak_rss_mb()
    result["targets_met"] = {m: result["ragkit"][m]["metrics"]["ndcg@10"] >= v for m, v in TARGETS.items()}
    path = common.write_json(args.out, "scifact_quality.json" if not args.limit else
                             f"scifact_quality-limit{args.limit}.json", result)
    print_table(result)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
