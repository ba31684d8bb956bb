"""The LangChain baseline's documents, chunks and cached chunk vectors (used by langchain_baseline.py).

Loading is what a plain LangChain pipeline does: BEIR corpora one Document per record (title +
newline + text), PDFs with ``PyPDFLoader`` (one Document per page), Markdown/text with
``TextLoader`` and HTML with ``BSHTMLLoader``. Each chunk carries ``row`` (its position), so a
retrieved Document maps back to ``(doc_id, page, source)`` as ragkit's rankings do.

PyPDFLoader's ``page`` is the 0-based index into the PDF's pages; ragkit numbers the same pages
from 1 (``ragkit.ingest.pdf.extract_pdf``), so the chunk's page is ``page + 1``. The printed page
label (``page_label``) is not used: it is the document's own numbering, which can differ.

Embedding is the slow step, so each data set's chunk vectors are cached as ``<cache>/<set>.npz``
(numeric and string arrays only, read with ``allow_pickle=False``) under a key hashing the
embedder's id and every chunk text: any change to loading or splitting re-embeds.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np
from langchain_core.documents import Document

CHUNK_SIZE, CHUNK_OVERLAP = 1000, 200
TEXT_SUFFIXES = {".md", ".txt"}


def beir_documents(corpus: Path) -> list[Document]:
    """One Document per corpus record: title + newline + text, metadata doc_id."""
    docs = []
    with open(corpus, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                text = f"{record.get('title') or ''}\n{record.get('text') or ''}"
                docs.append(Document(page_content=text, metadata={"doc_id": str(record["_id"])}))
    return docs


def pdf_pages(path: Path, source: str, raised_limit: list[str] | None = None) -> list[Document]:
    """PyPDFLoader's pages of one PDF with ragkit's 1-based page number and the relative source.

    pypdf's default array-size limit (100,000 elements) refuses real 10-Q filings, so a file that
    hits it is read again under ragkit's ``loader.pdf_array_max_elements``; its name is appended
    to ``raised_limit``.
    """
    from langchain_community.document_loaders import PyPDFLoader
    from pypdf import apply_configuration
    from pypdf.errors import LimitReachedError

    from ragkit.config import Config

    try:
        pages = PyPDFLoader(str(path)).load()
    except LimitReachedError:
        if raised_limit is not None:
            raised_limit.append(source)
        with apply_configuration(array_maximum_element_count=Config().loader.pdf_array_max_elements):
            pages = PyPDFLoader(str(path)).load()
    return [Document(page_content=p.page_content,
                     metadata={"source": source, "page": int(p.metadata["page"]) + 1,
                               "page_label": str(p.metadata.get("page_label", ""))}) for p in pages]


def folder_documents(folder: Path, raised_limit: list[str] | None = None) -> list[Document]:
    """Every PDF, Markdown, text and HTML file under ``folder`` with its loader; source = relative path.

    PDFs that needed pypdf's array-size limit raised are appended to ``raised_limit`` (see pdf_pages).
    """
    from langchain_community.document_loaders import BSHTMLLoader, TextLoader

    docs: list[Document] = []
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        source, suffix = path.relative_to(folder).as_posix(), path.suffix.lower()
        if suffix == ".pdf":
            docs.extend(pdf_pages(path, source, raised_limit))
            continue
        if suffix in TEXT_SUFFIXES:
            loaded = TextLoader(str(path), encoding="utf-8").load()
        elif suffix in {".html", ".htm"}:
            loaded = BSHTMLLoader(str(path), open_encoding="utf-8").load()
        else:
            continue
        docs.extend(Document(page_content=d.page_content, metadata={"source": source}) for d in loaded)
    return docs


def split(docs: list[Document]) -> list[Document]:
    """RecursiveCharacterTextSplitter(1000, 200) chunks, each numbered by ``metadata['row']``."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    chunks = splitter.split_documents(docs)
    for row, chunk in enumerate(chunks):
        chunk.metadata["row"] = row
    return chunks


def units(chunks: list[Document]) -> dict[int, tuple[str, object, str]]:
    """row -> (doc_id, page, source), the shape fusion_score.score_run reads."""
    out = {}
    for chunk in chunks:
        meta = chunk.metadata
        source = meta.get("source", "")
        out[meta["row"]] = (meta.get("doc_id", source), meta.get("page"), source)
    return out


def chunks_key(model_id: str, texts: list[str]) -> str:
    """A hash of the embedder id and every chunk text, in order."""
    digest = hashlib.sha256(model_id.encode())
    for text in texts:
        encoded = text.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "little"))
        digest.update(encoded)
    return digest.hexdigest()


def cached_vectors(embedder, texts: list[str], cache: Path, log) -> tuple[np.ndarray, dict]:
    """The chunk vectors from ``cache`` when its key matches ``texts``, else embedded (and cached)."""
    key = chunks_key(getattr(embedder, "model_id", type(embedder).__name__), texts)
    if cache.is_file():
        data = np.load(cache, allow_pickle=False)
        if str(data["key"]) == key and data["vectors"].shape[0] == len(texts):
            return data["vectors"], {"cached": True, "embed_s": float(data["embed_s"])}
        log(f"  {cache.name}: chunks changed, re-embedding")
    done, start, last = 0, time.perf_counter(), [0.0]

    def progress(n: int) -> None:
        nonlocal done
        done += n
        now = time.perf_counter() - start
        if now - last[0] >= 30 or done == len(texts):
            last[0] = now
            log(f"  embedded {done}/{len(texts)} chunks, {done / max(now, 1e-9):.1f}/s")

    vectors = embedder.embed_array(texts, progress=progress).astype(np.float32)
    embed_s = time.perf_counter() - start
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=vectors, key=np.array(key), embed_s=np.array(embed_s))
    return vectors, {"cached": False, "embed_s": embed_s}
