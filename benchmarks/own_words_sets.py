"""The data sets of benchmarks/own_words.py (issue 18), each split into a calibration and a test half, and LangChain's
pipeline on them (the baseline of ``own_words.py --langchain``).

Every set names the corpus its index is built from (one index per corpus, shared by its sets), its main
retrieval metric, and whether its questions carry answers to check. Splits, fixed before any scoring:

- scifact: cal = the train queries, test = the test queries;
- msmarco, docugami (the 195 reference questions): every other question, in file order (cal first) /
  by the id's number (even: cal);
- entities, paraphrase and grounded sets: the cal/test files written with the set;
- docugami-short: its answers-cal / answers-test files; sample: no split (17 questions, both halves).

Needs only the ragkit API that every version since issue 9 has (Searcher, ask, load_beir, load_qa), so
the same definitions run against an older checkout (``own_words.py --before``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = REPO.parent / "shared" / "datasets"
PARA = HERE / "paraphrase"
SPLITS = ("cal", "test")


@dataclass(frozen=True)
class EvalSet:
    """One data set: the corpus its index holds, its main metric, whether answers are checked, a loader by split."""

    name: str
    corpus: str
    metric: str
    answers: bool
    load: Callable[[str], object]


def corpus_folder(corpus: str, work: Path) -> Path:
    """The folder ``ragkit ingest`` reads for ``corpus`` (BEIR corpora are copied into ``work``: a symlink out of
    the folder is refused by the loader)."""
    folders = {"pdfs": SHARED / "pdfs", "docugami": SHARED / "docugami-sec-10q" / "docs", "sample": REPO / "sample_docs"}
    if corpus in folders:
        return folders[corpus]
    source = {"scifact": SHARED / "scifact", "msmarco": SHARED / "msmarco-subset"}[corpus] / "corpus.jsonl"
    folder = work / f"{corpus}-corpus"
    if not (folder / "corpus.jsonl").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, folder / "corpus.jsonl")
    return folder


def _every_other(dataset, split: str, by_id: bool = False):
    def even(position: int, qid: str) -> bool:
        digits = "".join(c for c in qid if c.isdigit())
        return (int(digits) if by_id and digits else position) % 2 == 0
    dataset.queries = [q for i, q in enumerate(dataset.queries) if even(i, q[0]) == (split == "cal")]
    return dataset


def _scifact(split: str):
    from ragkit.evaluation.datasets import load_beir
    root = SHARED / "scifact"
    queries, qrels = ("queries_train.jsonl", "qrels_train.tsv") if split == "cal" else ("queries.jsonl", "qrels.tsv")
    return load_beir("scifact", root / "corpus.jsonl", root / queries, root / qrels)


def _msmarco(split: str):
    from ragkit.evaluation.datasets import load_beir
    root = SHARED / "msmarco-subset"
    return _every_other(load_beir("msmarco", root / "corpus.jsonl", root / "queries.jsonl", root / "qrels.tsv"), split)


def _entities(split: str):
    from ragkit.evaluation.datasets import load_beir
    root = PARA / "entities"
    return load_beir("entities", SHARED / "msmarco-subset" / "corpus.jsonl", root / f"queries-{split}.jsonl",
                     root / f"qrels-{split}.tsv")


def _docugami(split: str):
    from ragkit.evaluation.datasets import load_qa
    root = SHARED / "docugami-sec-10q"
    return _every_other(load_qa("docugami", root / "docs", root / "qa.jsonl", fields={"answers": "answer"}), split,
                        by_id=True)


def _qa(name: str, corpus: str, path: Callable[[str], Path]) -> Callable[[str], object]:
    def load(split: str):
        from ragkit.evaluation.datasets import load_qa
        return load_qa(name, corpus_folder(corpus, Path(".")), path(split))
    return load


SETS = {s.name: s for s in (
    EvalSet("scifact", "scifact", "ndcg@10", False, _scifact),
    EvalSet("msmarco", "msmarco", "ndcg@10", False, _msmarco),
    EvalSet("entities", "msmarco", "ndcg@10", False, _entities),
    EvalSet("docugami", "docugami", "source_hit@5", False, _docugami),
    EvalSet("sample", "sample", "source_hit@1", True, _qa("sample", "sample", lambda _: HERE / "sample_docs_qa.jsonl")),
    EvalSet("grounded-pdfs", "pdfs", "page_hit@5", True, _qa("grounded-pdfs", "pdfs", lambda s: HERE / "grounded" / f"pdfs-{s}.jsonl")),
    EvalSet("grounded-docugami", "docugami", "page_hit@5", True,
            _qa("grounded-docugami", "docugami", lambda s: HERE / "grounded" / f"docugami-{s}.jsonl")),
    EvalSet("para-pdfs", "pdfs", "page_hit@5", True, _qa("para-pdfs", "pdfs", lambda s: PARA / f"pdfs-{s}.jsonl")),
    EvalSet("para-docugami", "docugami", "page_hit@5", True,
            _qa("para-docugami", "docugami", lambda s: PARA / f"docugami-{s}.jsonl")),
    EvalSet("docugami-short", "docugami", "source_hit@5", True,
            _qa("docugami-short", "docugami", lambda s: HERE / "docugami_short" / f"answers-{s}.jsonl")),
)}


def missing_data() -> list[str]:
    """The shared data folders that are not there (the script stops naming them)."""
    needed = [SHARED / "scifact" / "corpus.jsonl", SHARED / "msmarco-subset" / "corpus.jsonl",
              SHARED / "docugami-sec-10q" / "docs", SHARED / "pdfs"]
    return [str(p) for p in needed if not p.exists()]


# LangChain's own pipeline on a set: the baseline of ``own_words.py --langchain``. Loading is what a plain
# LangChain pipeline does (BEIR: one Document per record, title + newline + text; PyPDFLoader, one Document
# per page, numbered from 1 as ragkit numbers them; TextLoader, BSHTMLLoader), RecursiveCharacterTextSplitter
# 1000/200, BM25Retriever + FAISS (ragkit's embedder) in an EnsembleRetriever 0.5/0.5. Embedding is the slow
# step, so the chunk vectors are cached (.npz, no pickle) under a key hashing the embedder id and every text.

def _langchain_documents(dataset) -> list:
    """The set's corpus as LangChain Documents, each with doc_id or source (and page)."""
    from langchain_community.document_loaders import BSHTMLLoader, PyPDFLoader, TextLoader
    from langchain_core.documents import Document
    from pypdf import apply_configuration

    from ragkit.config import Config

    if dataset.kind == "beir":
        records = [json.loads(line) for line in Path(dataset.corpus).read_text(encoding="utf-8").splitlines() if line.strip()]
        return [Document(page_content=f"{r.get('title') or ''}\n{r.get('text') or ''}", metadata={"doc_id": str(r["_id"])})
                for r in records]
    docs, folder = [], Path(dataset.documents)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        source, suffix = path.relative_to(folder).as_posix(), path.suffix.lower()
        if suffix == ".pdf":   # pypdf's default array limit refuses real 10-Q filings: ragkit's limit
            with apply_configuration(array_maximum_element_count=Config().loader.pdf_array_max_elements):
                pages = PyPDFLoader(str(path)).load()
            docs += [Document(page_content=p.page_content, metadata={"source": source, "page": int(p.metadata["page"]) + 1})
                     for p in pages]
        elif suffix in {".md", ".txt", ".html", ".htm"}:
            loader = TextLoader(str(path), encoding="utf-8") if suffix in {".md", ".txt"} else BSHTMLLoader(
                str(path), open_encoding="utf-8")
            docs += [Document(page_content=d.page_content, metadata={"source": source}) for d in loader.load()]
    return docs


def _cached_vectors(embedder, texts: list[str], cache: Path):
    """The chunk vectors from ``cache`` when its key matches ``texts``, else embedded (and cached)."""
    import numpy as np

    digest = hashlib.sha256(getattr(embedder, "model_id", type(embedder).__name__).encode())
    for text in texts:
        encoded = text.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "little") + encoded)
    if cache.is_file():
        data = np.load(cache, allow_pickle=False)
        if str(data["key"]) == digest.hexdigest() and data["vectors"].shape[0] == len(texts):
            return data["vectors"]
    vectors = embedder.embed_array(texts).astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=vectors, key=np.array(digest.hexdigest()))
    return vectors


def langchain_hits(dataset, cache: Path) -> list[list[SimpleNamespace]]:
    """Per query, LangChain's EnsembleRetriever's chunks (doc_id, page, source), best first."""
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.retrievers import BM25Retriever
    from langchain_community.vectorstores import FAISS
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from ragkit.config import Config
    from ragkit.embedders import build_embedder

    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(
        _langchain_documents(dataset))
    embedder = build_embedder(Config().embedder)
    vectors = _cached_vectors(embedder, [c.page_content for c in chunks], cache)
    k = 100 if dataset.kind == "beir" else 10
    for row, chunk in enumerate(chunks):
        chunk.metadata["row"] = row
    store = FAISS.from_embeddings(text_embeddings=[(c.page_content, v) for c, v in zip(chunks, vectors.tolist())],
                                  embedding=embedder, metadatas=[c.metadata for c in chunks])
    ensemble = EnsembleRetriever(retrievers=[BM25Retriever.from_documents(chunks, k=k),
                                             store.as_retriever(search_kwargs={"k": k})], weights=[0.5, 0.5])
    hits = []
    for _, text in dataset.queries:
        metas = [chunks[d.metadata["row"]].metadata for d in ensemble.invoke(text)]
        hits.append([SimpleNamespace(doc_id=m.get("doc_id", m.get("source", "")), page=m.get("page"),
                                     source=m.get("source", "")) for m in metas])
    return hits
