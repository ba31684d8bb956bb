"""Issue 8 point 5: a plain LangChain pipeline with ragkit's embedder, on the four fusion data sets.

    nice python benchmarks/langchain_baseline.py [--sets sample,msmarco,docugami,scifact] [--out DIR]

The pipeline (langchain_corpus.py): BEIR records / PyPDFLoader pages / TextLoader and BSHTMLLoader
files -> RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200) -> three retrievers:

- langchain_bm25: ``BM25Retriever.from_documents`` (langchain_community, rank_bm25, its default
  whitespace tokenizer);
- langchain_faiss: ``FAISS.from_embeddings`` with ragkit's default embedder
  (``build_embedder(Config().embedder)``: local MiniLM), vectors cached per data set;
- langchain_ensemble: ``EnsembleRetriever([bm25, faiss], weights=[0.5, 0.5])`` (langchain_classic).

Each retriever returns k=100 chunks on BEIR sets and k=10 on QA sets. Scoring is fusion_datasets.py's
(fusion_score.score_run on the data sets of fusion_cache.specs): BEIR documents ranked by their best
chunk (nDCG@10, recall@100, MRR@10); QA sources and pages of the top chunks (source_hit@1/@5,
page_hit@5 where the question names a page). Main metrics: SciFact test and msmarco-subset nDCG@10,
docugami source_hit@5, sample_docs source_hit@1. Writes benchmarks/out/langchain_baseline.json
and prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import langchain_corpus as corpus  # noqa: E402
from fusion_cache import specs  # noqa: E402
from fusion_score import MAIN_METRIC, score_run  # noqa: E402

ORDER = ("sample", "msmarco", "docugami", "scifact")
RUNS = ("langchain_bm25", "langchain_faiss", "langchain_ensemble")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=common.OUT, help=f"output folder (default {common.OUT})")
    parser.add_argument("--sets", default=",".join(ORDER), help="comma-separated data sets, run in this order")
    return parser.parse_args()


def log(message: str) -> None:
    print(message, flush=True)


def load_chunks(dataset) -> tuple[list, dict]:
    """The data set's LangChain chunks, and load/split timings and counts."""
    raised_limit: list[str] = []
    with common.Timer() as t_load:
        docs = (corpus.beir_documents(dataset.corpus) if dataset.kind == "beir"
                else corpus.folder_documents(dataset.documents, raised_limit))
    with common.Timer() as t_split:
        chunks = corpus.split(docs)
    pdf_pages = [d for d in docs if "page" in d.metadata]
    info = {"documents": len(docs), "chunks": len(chunks), "load_s": round(t_load.s, 2), "split_s": round(t_split.s, 2)}
    if pdf_pages:
        # PyPDFLoader's printed page labels versus the 1-based page index ragkit uses.
        info["pdf_pages"] = len(pdf_pages)
        info["pdf_pages_label_differs"] = sum(d.metadata["page_label"] != str(d.metadata["page"]) for d in pdf_pages)
        info["pdf_pages_empty"] = sum(not d.page_content.strip() for d in pdf_pages)
        info["pdfs_over_pypdf_default_array_limit"] = raised_limit
    return chunks, info


def build_retrievers(chunks: list, vectors, k: int) -> tuple[dict, dict]:
    """The three LangChain retrievers over ``chunks``, and their build timings."""
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.retrievers import BM25Retriever
    from langchain_community.vectorstores import FAISS

    from ragkit.config import Config
    from ragkit.embedders import build_embedder

    with common.Timer() as t_bm25:
        bm25 = BM25Retriever.from_documents(chunks, k=k)
    with common.Timer() as t_faiss:
        store = FAISS.from_embeddings(text_embeddings=[(c.page_content, v) for c, v in zip(chunks, vectors.tolist())],
                                      embedding=build_embedder(Config().embedder),
                                      metadatas=[c.metadata for c in chunks])
    faiss = store.as_retriever(search_kwargs={"k": k})
    ensemble = EnsembleRetriever(retrievers=[bm25, faiss], weights=[0.5, 0.5])
    timings = {"bm25_from_documents_s": round(t_bm25.s, 2), "faiss_from_embeddings_s": round(t_faiss.s, 2)}
    return {"langchain_bm25": bm25, "langchain_faiss": faiss, "langchain_ensemble": ensemble}, timings


def query_run(retriever, texts: list[str]) -> tuple[list[list[int]], dict]:
    """Each query's chunk rows, best first, and the per-query latency percentiles."""
    rows, seconds = [], []
    for text in texts:
        with common.Timer() as t:
            docs = retriever.invoke(text)
        seconds.append(t.s)
        rows.append([d.metadata["row"] for d in docs])
    return rows, common.percentiles(seconds)


def run_dataset(name: str, out: Path) -> dict:
    """Every LangChain run's metrics and timings on one data set."""
    from ragkit.config import Config
    from ragkit.embedders import build_embedder

    dataset = specs(out)[name].load()
    chunks, info = load_chunks(dataset)
    log(f"{name}: {info['documents']} documents -> {info['chunks']} chunks")
    vectors, embed = corpus.cached_vectors(build_embedder(Config().embedder), [c.page_content for c in chunks],
                                           out / "langchain-baseline" / f"{name}.npz", log)
    info["embed_s"], info["embed_cached"] = round(embed["embed_s"], 1), embed["cached"]
    k = 100 if dataset.kind == "beir" else 10
    retrievers, build = build_retrievers(chunks, vectors, k)
    rankings = SimpleNamespace(dataset=dataset, units=corpus.units(chunks))
    texts = [text for _, text in dataset.queries]
    retrievers["langchain_faiss"].invoke(texts[0])  # warm-up: the first ONNX run loads the model
    runs = {}
    for run, retriever in retrievers.items():
        ranked, latency = query_run(retriever, texts)
        runs[run] = {**score_run(rankings, ranked), "latency": latency}
        log(f"  {run:20s} {MAIN_METRIC[name]} {runs[run][MAIN_METRIC[name]]:.4f}  p50 {latency['p50_ms']} ms")
    return {"queries": len(texts), "k": k, "metric": MAIN_METRIC[name], "build": {**info, **build}, "runs": runs}


def print_table(table: dict) -> None:
    names = list(table)
    header = " | ".join(f"{n} ({table[n]['metric']})" for n in names)
    print(f"\n| run | {header} |")
    print(f"|---|{'---|' * len(names)}")
    for run in RUNS:
        cells = " | ".join(f"{table[n]['runs'][run][table[n]['metric']]:.4f}" for n in names)
        print(f"| {run} | {cells} |")


def main() -> None:
    args = parse_args()
    out = args.out.resolve()
    machine = common.machine_info()
    result = {"machine": machine, "command": machine["command"],
              "pipeline": {"chunk_size": corpus.CHUNK_SIZE, "chunk_overlap": corpus.CHUNK_OVERLAP,
                           "ensemble_weights": [0.5, 0.5], "k_beir": 100, "k_qa": 10},
              "table": {}}
    for name in args.sets.split(","):
        with common.Timer() as t:
            result["table"][name] = run_dataset(name, out)
        result["table"][name]["wall_s"] = round(t.s, 1)
        log(f"{name}: done in {t.s:.1f}s")
        path = common.write_json(out, "langchain_baseline.json", result)  # after each set: a long run keeps its results
    print_table(result["table"])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
