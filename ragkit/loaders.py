"""Turn a folder into LangChain Documents, safely.

scan_folder never leaves the folder; load_file / load_files give Documents or a one-line LoadError.
PDFs are parsed in spawned worker processes under memory and time limits, because pypdf on a
hostile file can loop or allocate without bound.
"""

from __future__ import annotations

import codecs
import errno
import json
import logging
import os
import re
import resource
import signal
import stat
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from bs4 import BeautifulSoup
from langchain_core.documents import Document
from pypdf import PdfReader, apply_configuration
from pypdf.errors import DependencyError, PyPdfError

MB = 1024 * 1024
SUPPORTED_EXTENSIONS = frozenset({".txt", ".md", ".markdown", ".pdf", ".html", ".htm", ".jsonl"})
_KIND = {".txt": "txt", ".md": "md", ".markdown": "md", ".pdf": "pdf", ".html": "html", ".htm": "html",
         ".jsonl": "jsonl"}
_DIED = "the PDF worker process died (killed by the system: out of memory, or stuck past loader.pdf_timeout_s)"
_NO_START = ("PDF worker processes could not start (loader.pdf_max_memory_mb too low, or a script importing "
             "ragkit lacks an `if __name__ == '__main__':` guard)")


@dataclass(frozen=True)
class LoaderLimits:
    """Resource limits for loading; field names are the `loader.*` config keys."""

    max_file_mb: float = 100.0
    pdf_max_pages: int = 5000
    pdf_timeout_s: float = 300.0
    pdf_max_memory_mb: int = 4096
    pdf_array_max_elements: int = 10_000_000  # pypdf's own 100,000 refuses real 10-Q filings
    workers: int = 2


@dataclass(frozen=True)
class SourceFile:
    """A file accepted by scan_folder: `rel` (POSIX, the `source` metadata), resolved `path`, `size`."""

    rel: str
    path: Path
    size: int


@dataclass(frozen=True)
class Skipped:
    """A path scan_folder left out, with a one-line reason for the user."""

    rel: str
    reason: str


@dataclass(frozen=True)
class ScanResult:
    """Outcome of scan_folder; `root` is resolved and both lists are sorted by rel."""

    root: Path
    files: list[SourceFile]
    skipped: list[Skipped]


class LoadError(Exception):
    """A file that could not be loaded; str(e) is a one-line reason for the user."""


class FolderError(Exception):
    """The path given to ingest is unusable (missing, not a directory, unreadable); message is user-facing."""


class _PdfTimeout(BaseException):
    """Raised by SIGALRM; a BaseException so pypdf's `except Exception` repair paths can't swallow it."""


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _inside(path: str, real_root: str) -> bool:
    return path == real_root or path.startswith(real_root.rstrip(os.sep) + os.sep)


def _join(prefix: str, sub: str) -> str:
    return "/".join(p for p in (prefix, sub.replace(os.sep, "/")) if p and p != ".")


# ---------------------------------------------------------------- scanning

def scan_folder(root: Path) -> ScanResult:
    """List loadable files under `root` recursively, and say why anything else was left out.

    Hidden names are ignored silently. Symlinks are followed only when they resolve inside the
    folder and do not lead back to a folder already scanned. Raises FolderError for a missing
    path, a file, or an unreadable folder.
    """
    root = Path(root).expanduser()
    try:
        if not root.exists():
            raise FolderError(f"No such folder: {root}")
        if root.is_file():
            raise FolderError(f"{root} is a file; ragkit ingest takes a folder (did you mean {root.parent}?)")
        if not root.is_dir():
            raise FolderError(f"{root} is not a folder")
        with os.scandir(root):
            pass
    except OSError as e:
        raise FolderError(f"Cannot read folder {root}: {e.strerror or e}") from e
    real_root = os.path.realpath(root)
    found: dict[str, tuple[str, int, bool]] = {}  # rel -> (real path, size, reached via a symlink)
    skipped: list[Skipped] = []
    visited: set[str] = set()
    walks, dir_links = deque([(str(root), "")]), deque()
    while walks or dir_links:
        if not walks:
            # Symlinked folders go last, so a folder is listed under its real name, not an alias.
            link, rel = dir_links.popleft()
            target = os.path.realpath(link)
            if not _inside(target, real_root):
                skipped.append(Skipped(rel, "symlink points outside the folder"))
            elif target in visited:
                loop = _inside(os.path.realpath(os.path.dirname(link)), target)
                skipped.append(Skipped(rel, "symlink loop (points to a folder that contains it)" if loop
                                       else "symlink to a folder already included"))
            else:
                walks.append((link, rel))
            continue
        top, prefix = walks.popleft()

        def on_error(e: OSError, top: str = top, prefix: str = prefix) -> None:
            rel = _join(prefix, os.path.relpath(e.filename or top, top)) or "."
            skipped.append(Skipped(rel, f"cannot read folder: {e.strerror or e}"))

        for dirpath, dirnames, filenames in os.walk(top, onerror=on_error, followlinks=False):
            rel_dir, real_dir = _join(prefix, os.path.relpath(dirpath, top)), os.path.realpath(dirpath)
            if real_dir in visited:
                dirnames[:] = []
                continue
            visited.add(real_dir)
            dirnames.sort()  # a stable walk order makes "which alias wins" reproducible
            for name in list(dirnames):
                if name.startswith(".") or os.path.islink(os.path.join(dirpath, name)):
                    dirnames.remove(name)
                    if not name.startswith("."):
                        dir_links.append((os.path.join(dirpath, name), _join(rel_dir, name)))
            for name in filenames:
                if not name.startswith("."):
                    _check_file(dirpath, name, _join(rel_dir, name), real_dir, real_root, found, skipped)
    # A file reachable twice (through a symlink) is indexed once, preferably under its real name.
    files, owner = [], {}
    for rel, (real, size, _) in sorted(found.items(), key=lambda kv: (kv[1][2], kv[0])):
        if real in owner:
            skipped.append(Skipped(rel, f"duplicate of {owner[real]} (symlink)"))
        else:
            owner[real] = rel
            files.append(SourceFile(rel, Path(real), size))
    return ScanResult(Path(real_root), sorted(files, key=lambda f: f.rel), sorted(skipped, key=lambda s: s.rel))


def _check_file(dirpath: str, name: str, rel: str, real_dir: str, real_root: str, found: dict, skipped: list) -> None:
    full, is_link = os.path.join(dirpath, name), os.path.islink(os.path.join(dirpath, name))
    try:
        st = os.stat(full)
    except OSError as e:
        reason = ("symlink loop" if e.errno == errno.ELOOP
                  else "broken symlink (its target does not exist)" if is_link and e.errno == errno.ENOENT
                  else f"cannot read: {e.strerror or e}")
        skipped.append(Skipped(rel, reason))
        return
    # realpath costs a syscall per path component, so only symlinks pay for it.
    real = os.path.realpath(full) if is_link else os.path.join(real_dir, name)
    suffix = os.path.splitext(name)[1].lower()
    if not _inside(real, real_root):
        skipped.append(Skipped(rel, "symlink points outside the folder"))
    elif not stat.S_ISREG(st.st_mode):
        skipped.append(Skipped(rel, "not a regular file"))  # reading a FIFO or device would block forever
    elif suffix not in SUPPORTED_EXTENSIONS:
        skipped.append(Skipped(rel, f"unsupported type {suffix}" if suffix else "unsupported type (no extension)"))
    elif st.st_size == 0:
        skipped.append(Skipped(rel, "empty file (0 bytes)"))
    else:
        found[rel] = (real, st.st_size, is_link)


# ---------------------------------------------------------------- text, html, jsonl

def load_file(root: Path, source: SourceFile, limits: LoaderLimits = LoaderLimits()) -> list[Document]:
    """Load one file into Documents (or [] when it holds no text); raises only LoadError.

    A PDF is parsed in this process: its time limit applies only on the main thread and the memory
    limit not at all. load_files parses PDFs in worker processes where both apply.
    """
    try:
        kind = _precheck(root, source, limits)
        if kind == "pdf":
            return _pdf_docs(source, *_extract_pdf(str(source.path), limits))
        if kind == "jsonl":
            return _load_jsonl(source)
        with open(source.path, "rb") as f:
            data = f.read(int(limits.max_file_mb * MB) + 1)  # it may have grown since it was stat'ed
        _check_size(len(data), limits)
        text, title = _decode_text(data), None
        if kind == "html":
            text, title = _html_text(text)
        meta = {"source": source.rel, "doc_id": source.rel, "type": kind} | ({"title": title} if title else {})
        return [Document(page_content=text, metadata=meta)] if text.strip() else []
    except LoadError:
        raise
    except MemoryError as e:
        raise LoadError("ran out of memory while loading") from e
    except Exception as e:  # one odd file must not abort a whole ingest
        raise LoadError(_one_line(f"{type(e).__name__}: {e}")) from e


def _precheck(root: Path, source: SourceFile, limits: LoaderLimits) -> str:
    suffix = Path(source.rel).suffix.lower()
    if suffix not in _KIND:
        raise LoadError(f"unsupported type {suffix or '(no extension)'}")
    # Checked again here because the tree may have changed since scan_folder ran.
    if not _inside(os.path.realpath(source.path), os.path.realpath(root)):
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


def _html_text(markup: str) -> tuple[str, str | None]:
    soup = BeautifulSoup(markup, "html.parser")
    title = " ".join(soup.title.get_text(" ").split()) if soup.title else None
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    lines = [line.strip() for line in soup.get_text("\n").splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip(), title or None


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
            doc_id = str(doc_id)
            if doc_id in first_line:
                raise LoadError(f'line {n}: duplicate _id "{_one_line(doc_id, 60)}" '
                                f"(first on line {first_line[doc_id]})")
            first_line[doc_id] = n
            content = f"{title}\n\n{text}" if title.strip() else text
            if content.strip():  # an empty record still reserves its id against duplicates
                meta = {"source": source.rel, "doc_id": doc_id, "type": "jsonl", "line": n}
                meta |= {"title": title} if title.strip() else {}
                docs.append(Document(page_content=content, metadata=meta))
    return docs


# ---------------------------------------------------------------- PDF

class _CountHandler(logging.Handler):
    count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@contextmanager
def _quiet_pypdf() -> Iterator[_CountHandler]:
    # pypdf logs a warning for every oddity it repairs; on real filings that floods the terminal.
    logger, counter = logging.getLogger("pypdf"), _CountHandler(logging.WARNING)
    old_propagate, logger.propagate = logger.propagate, False
    logger.addHandler(counter)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.propagate = old_propagate


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    # Signals reach only the main thread, and a timer someone else set must not be clobbered.
    on_main_thread = threading.current_thread() is threading.main_thread()
    if seconds <= 0 or not on_main_thread or signal.getitimer(signal.ITIMER_REAL)[0] > 0:
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise _PdfTimeout()

    old = signal.signal(signal.SIGALRM, on_alarm)
    # Keep firing after expiry: a raise that lands inside a weakref callback or __del__ is swallowed.
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old if old is not None else signal.SIG_DFL)


def _extract_pdf(path: str, limits: LoaderLimits) -> tuple[list[tuple[int, str]], int]:
    """Return ([(1-based page, text)] for pages with text, pypdf warning count); raise LoadError."""
    page_no = 0
    try:
        # The configuration is read lazily while parsing, so it must wrap the page loop too. _deadline
        # is innermost so its timer is cancelled before the other cleanups run.
        with _quiet_pypdf() as counter, apply_configuration(
                array_maximum_element_count=limits.pdf_array_max_elements), _deadline(limits.pdf_timeout_s):
            reader = PdfReader(path)
            if reader.is_encrypted:
                try:  # many PDFs are "encrypted" with an empty user password and open without a prompt
                    if not reader.decrypt(""):
                        raise LoadError("encrypted PDF (a password is needed)")
                except DependencyError as e:
                    raise LoadError(_one_line(f"encrypted PDF: {e}")) from e
            if len(reader.pages) > limits.pdf_max_pages:
                raise LoadError(f"PDF has {len(reader.pages)} pages, over the {limits.pdf_max_pages} page limit "
                                "(loader.pdf_max_pages)")
            pages = []
            for page_no, page in enumerate(reader.pages, 1):
                # Lone surrogates from broken font maps would break UTF-8 writers downstream.
                text = (page.extract_text() or "").encode("utf-8", "replace").decode("utf-8")
                text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n").strip()
                if text:
                    pages.append((page_no, text))
            return pages, counter.count
    except _PdfTimeout:
        raise LoadError(f"PDF parsing took longer than {limits.pdf_timeout_s:g} s (loader.pdf_timeout_s)") from None
    except MemoryError:
        raise LoadError(f"PDF parsing ran out of memory (over {limits.pdf_max_memory_mb} MB, "
                        "loader.pdf_max_memory_mb)") from None
    except LoadError:
        raise
    except Exception as e:  # damaged files raise all sorts (KeyError, ValueError, ...) from inside pypdf
        where = f" (page {page_no})" if page_no else ""
        msg = str(e) if isinstance(e, PyPdfError) else f"{type(e).__name__}: {e}"
        raise LoadError(_one_line(f"not a readable PDF{where}: {msg}")) from e


def _pdf_docs(source: SourceFile, pages: list[tuple[int, str]], warnings: int) -> list[Document]:
    # pdf_warnings: how many repairs pypdf made while reading the file (absent when none).
    extra = {"pdf_warnings": warnings} if warnings else {}
    return [Document(page_content=text, metadata={"source": source.rel, "doc_id": source.rel, "type": "pdf",
                                                  "page": page_no} | extra) for page_no, text in pages]


def _worker_init(max_memory_mb: int) -> None:
    """Runs once in each PDF worker process: cap memory, no core files, quiet Ctrl-C."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    want = max_memory_mb * MB if hard == resource.RLIM_INFINITY else min(max_memory_mb * MB, hard)
    resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(130))  # the parent reports Ctrl-C; no traceback per worker


def _pdf_task(path: str, limits: LoaderLimits) -> tuple[str, object, int]:
    """Worker entry point; returns only builtins: ("ok", [(page, text)], warnings) or ("error", reason, 0)."""
    # Backstop for a C-level loop that SIGALRM cannot interrupt: the kernel kills a CPU overrun.
    used = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(used.ru_utime + used.ru_stime + limits.pdf_timeout_s * 2 + 30)
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    try:
        return ("ok", *_extract_pdf(path, limits))
    except LoadError as e:
        return "error", str(e), 0


class _PdfPool:
    """Parses PDFs in spawned workers; when a worker dies, finds the file that did it and carries on."""

    def __init__(self, pdfs: list[SourceFile], limits: LoaderLimits) -> None:
        self.limits, self.pending, self.suspects = limits, deque(pdfs), deque()
        self.workers = max(1, min(limits.workers, len(pdfs)))
        self.in_flight: dict[Future, tuple[SourceFile, bool]] = {}
        self.pool: ProcessPoolExecutor | None = None
        self.probe: Future | None = None

    def _fill(self) -> Iterator[tuple[SourceFile, LoadError]]:
        if self.pool is None:
            # spawn, not fork: forking a parent that runs onnxruntime/BLAS threads can deadlock the child.
            self.pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"), initializer=_worker_init,
                                            initargs=(self.limits.pdf_max_memory_mb,))
            # A no-op queued first: if it fails too, workers cannot start at all, and no file is to blame.
            self.probe = self.pool.submit(os.getpid)
        # At most `workers` files in flight, and suspects of a crash alone, so a crash has few suspects
        # and a second crash names the culprit.
        while (self.suspects and not self.in_flight) or (
                not self.suspects and self.pending and len(self.in_flight) < self.workers):
            alone = bool(self.suspects)
            src = self.suspects.popleft() if alone else self.pending.popleft()
            try:
                self.in_flight[self.pool.submit(_pdf_task, str(src.path), self.limits)] = (src, alone)
            except Exception as e:
                yield src, LoadError(_one_line(f"could not start a PDF worker: {type(e).__name__}: {e}"))

    def results(self, block: bool) -> Iterator[tuple[SourceFile, list[Document] | LoadError]]:
        """Yield finished PDFs: all of them with block=True, else only those already done."""
        while self.in_flight or self.pending or self.suspects:
            yield from self._fill()
            if not self.in_flight:
                continue
            done = wait(self.in_flight, timeout=None if block else 0, return_when=FIRST_COMPLETED)[0]
            if not done:
                return
            broken: list[tuple[SourceFile, bool]] = []
            while done:
                for fut in done:
                    src, alone = self.in_flight.pop(fut)
                    try:
                        status, payload, warnings = fut.result()
                    except BrokenProcessPool:
                        broken.append((src, alone))
                        continue
                    except Exception as e:
                        yield src, LoadError(_one_line(f"{type(e).__name__}: {e}"))
                        continue
                    yield src, LoadError(payload) if status == "error" else _pdf_docs(src, payload, warnings)
                # A broken pool fails every task in flight: collect them all, then start a fresh pool.
                done = wait(self.in_flight)[0] if broken else set()
            if broken:
                no_start = self.probe.exception() is not None
                self.pool.shutdown(wait=True, cancel_futures=True)
                self.pool = None
                if no_start:
                    lost = [src for src, _ in broken] + [*self.suspects, *self.pending]
                    self.suspects.clear()
                    self.pending.clear()
                    broken = [(src, True) for src in lost]
                for src, alone in broken:
                    if alone:
                        yield src, LoadError(_NO_START if no_start else _DIED)
                    else:
                        self.suspects.append(src)

    def close(self) -> None:
        """Stop the workers, without waiting for a running task if the caller stopped early."""
        if self.pool is not None:
            self.pool.shutdown(wait=not self.in_flight, cancel_futures=True)
            self.pool = None


def load_files(root: Path, sources: list[SourceFile],
               limits: LoaderLimits = LoaderLimits()) -> Iterator[tuple[SourceFile, list[Document] | LoadError]]:
    """Load many files, yielding (source, Documents or LoadError) exactly once per source, in no fixed order.

    PDFs are parsed in `limits.workers` spawned processes, where the memory and time limits are
    enforced, while the other files load in this process. With workers <= 0 PDFs load in-process.
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
    runner = _PdfPool(pdfs, limits) if pdfs else None
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
        if runner:
            yield from runner.results(block=True)
    finally:
        if runner:
            runner.close()
