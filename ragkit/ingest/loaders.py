"""Turn scanned files into LangChain Documents: load_file / load_files give Documents or a one-line LoadError.

PDFs are parsed by ragkit.ingest.pdf, in spawned worker processes under memory and time limits, because
pypdf on a hostile file can loop or allocate without bound.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

from bs4 import BeautifulSoup
from langchain_core.documents import Document

from ragkit.config import LoaderLimits
from ragkit.errors import LoadError
from ragkit.ingest.pdf import MB, PdfPool, extract_pdf, pdf_docs
from ragkit.ingest.scan import SourceFile, inside
from ragkit.text import one_line

_KIND = {".txt": "txt", ".md": "md", ".markdown": "md", ".pdf": "pdf", ".html": "html", ".htm": "html",
         ".jsonl": "jsonl"}


# ---------------------------------------------------------------- text, html, jsonl

def load_file(root: Path, source: SourceFile, limits: LoaderLimits = LoaderLimits()) -> list[Document]:
    """Load one file into Documents (or [] when it holds no text); raises only LoadError.

    A PDF is parsed in this process: its time limit applies only on the main thread and the memory
    limit not at all. load_files parses PDFs in worker processes where both apply.
    """
    try:
        kind = _precheck(root, source, limits)
        if kind == "pdf":
            return pdf_docs(source, *extract_pdf(str(source.path), limits), clean=limits.pdf_clean_pages)
        if kind == "jsonl":
            return _load_jsonl(source)
        with open(source.path, "rb") as f:
            data = f.read(int(limits.max_file_mb * MB) + 1)  # it may have grown since it was stat'ed
        _check_size(len(data), limits)
        text, title = _decode_text(data), None
        if kind == "html":
            text, title = _html_text(text)
        elif kind == "md":
            title = _markdown_title(text)
        meta = {"source": source.rel, "doc_id": source.rel, "type": kind} | ({"title": title} if title else {})
        return [Document(page_content=text, metadata=meta)] if text.strip() else []
    except LoadError:
        raise
    except MemoryError as e:
        raise LoadError("ran out of memory while loading") from e
    except OSError as e:  # unreadable (permissions, removed, I/O): the reason, not the path again
        raise LoadError(f"cannot read: {e.strerror or type(e).__name__}") from e
    except Exception as e:  # one odd file must not abort a whole ingest
        raise LoadError(one_line(f"{type(e).__name__}: {e}")) from e


def _precheck(root: Path, source: SourceFile, limits: LoaderLimits) -> str:
    suffix = Path(source.rel).suffix.lower()
    if suffix not in _KIND:
        raise LoadError(f"unsupported type {suffix or '(no extension)'}")
    # Checked again here because the tree may have changed since scan_folder ran.
    if not inside(os.path.realpath(source.path), os.path.realpath(root)):
        raise LoadError("path resolves outside the folder")
    try:
        st = os.stat(source.path)
    except OSError as e:
        raise LoadError(f"cannot read: {e.strerror or e}") from e
    if not stat.S_ISREG(st.st_mode):
        raise LoadError("not a regular file")
    _check_size(st.st_size, limits)
    return _KIND[suffix]


def _check_size(size: int, limits: LoaderLimits) -> None:
    if size > limits.max_file_mb * MB:
        shown = f"{size / MB:.1f} MB" if size >= MB / 10 else f"{size / 1024:.1f} KB"
        raise LoadError(f"file is {shown}, over the {limits.max_file_mb:g} MB limit (loader.max_file_mb)")


def _decode_text(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise LoadError(f"not valid UTF-16 (bad data at offset {e.start})") from e
    else:
        if b"\x00" in data[:8192]:
            raise LoadError("binary data, not text (NUL bytes)")
        skip = 3 if data.startswith(codecs.BOM_UTF8) else 0
        try:
            text = data[skip:].decode("utf-8")
        except UnicodeDecodeError as e:
            at = e.start + skip  # an offset in the file, as a hex editor shows it
            raise LoadError(f"not valid UTF-8 (invalid byte 0x{data[at]:02x} at offset {at}); save it as UTF-8") from e
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


_BOILERPLATE_TAGS = ["script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "button",
                     "dialog", "svg"]
_BOILERPLATE_ROLES = {"navigation", "banner", "contentinfo", "search", "dialog", "complementary"}


def _html_text(markup: str) -> tuple[str, str | None]:
    """A page's text without its navigation, headers, footers, scripts and pop-ups, and its title.

    Documentation sites wrap each page in menus and help pop-ups (mdBook's pages began "Keyboard shortcuts
    Press ← or → …"); when the page marks its content (``<main>``, ``role="main"``, else ``<article>``), only
    that is kept.
    """
    soup = BeautifulSoup(markup, "html.parser")
    title = " ".join(soup.title.get_text(" ").split()) if soup.title else None
    for tag in soup(_BOILERPLATE_TAGS):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": True}):
        if not tag.decomposed and str(tag.get("role", "")).lower() in _BOILERPLATE_ROLES:
            tag.decompose()
    content = soup.find_all("main") or soup.find_all(attrs={"role": "main"}) or soup.find_all("article")
    parts = content or [soup]
    lines = [line.strip() for part in parts for line in part.get_text("\n").splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip(), title or None


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

_MD_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def _markdown_title(text: str) -> str | None:
    """A markdown file's title: its first heading, if it has one."""
    match = _MD_HEADING.search(text)
    return " ".join(match.group(1).split()) or None if match else None


def _load_jsonl(source: SourceFile) -> list[Document]:
    docs: list[Document] = []
    first_line: dict[str, int] = {}
    with open(source.path, "rb") as f:  # streamed line by line: corpora run to 100 MB
        for n, raw in enumerate(f, 1):
            raw = raw[3:] if n == 1 and raw.startswith(codecs.BOM_UTF8) else raw
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8").rstrip("\r\n")  # so JSON errors give this line's columns
            except UnicodeDecodeError as e:
                raise LoadError(f"line {n}: not valid UTF-8 (invalid byte 0x{raw[e.start]:02x} "
                                f"at column {e.start + 1})") from e
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise LoadError(f"line {n}: not valid JSON ({e.msg} at column {e.colno})") from e
            if not isinstance(rec, dict):
                raise LoadError(f"line {n}: expected a JSON object, got {type(rec).__name__}")
            missing = [key for key in ("_id", "text") if key not in rec]
            if missing:
                raise LoadError(f'line {n}: missing "{missing[0]}"')
            doc_id, text, title = rec["_id"], rec["text"], rec.get("title") or ""
            if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)) or doc_id == "":
                raise LoadError(f'line {n}: "_id" must be a non-empty string or integer')
            if not isinstance(text, str) or not isinstance(title, str):
                raise LoadError(f'line {n}: "text" and "title" must be strings')
            # JSON may escape a lone surrogate ("\\ud800"): not Unicode text, so it could not be stored.
            doc_id, title, text = (_LONE_SURROGATE.sub("\ufffd", s) for s in (str(doc_id), title, text))
            if doc_id in first_line:
                raise LoadError(f'line {n}: duplicate _id "{one_line(doc_id, 60)}" '
                                f"(first on line {first_line[doc_id]})")
            first_line[doc_id] = n
            content = f"{title}\n\n{text}" if title.strip() else text
            if content.strip():  # an empty record still reserves its id against duplicates
                meta = {"source": source.rel, "doc_id": doc_id, "type": "jsonl", "line": n}
                meta |= {"title": title} if title.strip() else {}
                docs.append(Document(page_content=content, metadata=meta))
    return docs


# ---------------------------------------------------------------- many files

def load_files(root: Path, sources: list[SourceFile], limits: LoaderLimits = LoaderLimits(),
               idle: Callable[[], bool] | None = None) -> Iterator[tuple[SourceFile, list[Document] | LoadError]]:
    """Load many files, yielding (source, Documents or LoadError) exactly once per source, in no fixed order.

    PDFs are parsed in `limits.workers` spawned processes, where the memory and time limits are
    enforced, while the other files load in this process. With workers <= 0 PDFs load in-process.
    Once only PDFs are left, ``idle()`` is called before each look for finished ones: the caller's
    chance to work (embed) while the workers parse. It returns whether it did some work; when it
    did not, load_files waits for the next PDF instead of asking again.
    """
    pdfs, others = [], []
    for src in sources:
        if limits.workers > 0 and src.rel.lower().endswith(".pdf"):
            try:
                _precheck(root, src, limits)  # refuse oversized files before they reach a worker
                pdfs.append(src)
            except LoadError as e:
                others.append((src, e))
        else:
            others.append((src, None))
    runner = PdfPool(pdfs, limits) if pdfs else None
    try:
        if runner:
            yield from runner.results(block=False)  # start the workers before the cheap files
        for src, error in others:
            if error is None:
                try:
                    yield src, load_file(root, src, limits)
                except LoadError as e:
                    yield src, e
            else:
                yield src, error
            if runner:
                yield from runner.results(block=False)
        while runner and runner.busy:
            yield from runner.results(block=not (idle and idle()))
    finally:
        if runner:
            runner.close()
