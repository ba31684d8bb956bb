"""Parse PDFs with pypdf, under limits, in spawned worker processes.

pypdf is pure Python and a hostile or damaged PDF can make it loop or allocate without bound, so
every parse runs under limits: a page count, pypdf's array-size limit, and a SIGALRM deadline that
also applies in-process. Only a separate process can enforce a memory cap (RLIMIT_AS), a CPU-time
backstop for loops SIGALRM cannot interrupt, and survive being killed, so load_files parses PDFs in
a pool of spawned workers. When a worker dies, the pool works out which file killed it and goes on.

A spawned worker imports this module, so it imports nothing heavy beyond pypdf: not the loaders,
not the ingest pipeline (ragkit.ingest's __init__ stays empty for the same reason).

Workers never outlive the ingest, however it ends: on Linux the kernel kills them when the thread
that spawned them exits (PR_SET_PDEATHSIG), and a watchdog thread in each worker exits when its
parent is gone (any POSIX system, or when a thread other than the main one spawned them). With the
workers gone the multiprocessing resource tracker sees its pipe close and exits too. Ctrl-C stays
blocked while workers start, so a worker still importing cannot print a KeyboardInterrupt traceback:
it takes the pending Ctrl-C once its quiet handler is in place.
"""

from __future__ import annotations

import ctypes
import logging
import os
import resource
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import get_context, resource_tracker

from langchain_core.documents import Document
from pypdf import PageObject, PdfReader, apply_configuration
from pypdf.errors import DependencyError, PyPdfError

from ragkit.config import LoaderLimits
from ragkit.errors import LoadError
from ragkit.ingest.page_cleaning import clean_pages
from ragkit.ingest.pdf_tables import looks_tabular, table_page_text
from ragkit.ingest.scan import SourceFile
from ragkit.text import one_line

MB = 1024 * 1024
_DIED = "the PDF worker process died (killed by the system: out of memory, or stuck past loader.pdf_timeout_s)"
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
WATCHDOG_S = 0.5
"""How often a worker checks that the process that started it is still alive."""
_NO_START = ("PDF worker processes could not start (loader.pdf_max_memory_mb too low, or a script importing "
             "ragkit lacks an `if __name__ == '__main__':` guard)")



class _PdfTimeout(BaseException):
    """Raised by SIGALRM; a BaseException so pypdf's `except Exception` repair paths can't swallow it."""



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


def extract_pdf(path: str, limits: LoaderLimits) -> tuple[list[tuple[int, str]], int]:
    """Return ([(1-based page, text)] for pages with text, pypdf warning count); raise LoadError."""
    page_no = 0
    try:
        # The configuration is read lazily while parsing, so it must wrap the page loop too. _deadline
        # is innermost so its timer is cancelled before the other cleanups run.
        with _quiet_pypdf() as counter, apply_configuration(
                array_maximum_element_count=limits.pdf_array_max_elements), _deadline(limits.pdf_timeout_s):
            reader = PdfReader(path)
            # Many PDFs are "encrypted" with only an owner password: viewers open them without a prompt.
            if reader.is_encrypted and not reader.decrypt(""):
                raise LoadError("encrypted PDF (a password is needed)")
            if len(reader.pages) > limits.pdf_max_pages:
                raise LoadError(f"PDF has {len(reader.pages)} pages, over the {limits.pdf_max_pages} page limit "
                                "(loader.pdf_max_pages)")
            pages = []
            for page_no, page in enumerate(reader.pages, 1):
                text = _page_text(page, limits.pdf_tables)
                if text:
                    pages.append((page_no, text))
            return pages, counter.count
    except _PdfTimeout:
        raise LoadError(f"PDF parsing took longer than {limits.pdf_timeout_s:g} s (loader.pdf_timeout_s)") from None
    except MemoryError:
        raise LoadError(f"PDF parsing ran out of memory (over {limits.pdf_max_memory_mb} MB, "
                        "loader.pdf_max_memory_mb)") from None
    except DependencyError as e:  # raised on decrypt or on the first AES string, so caught for the whole parse
        raise LoadError(_missing_package(str(e))) from e
    except LoadError:
        raise
    except Exception as e:  # damaged files raise all sorts (KeyError, ValueError, ...) from inside pypdf
        where = f" (page {page_no})" if page_no else ""
        msg = str(e) if isinstance(e, PyPdfError) else f"{type(e).__name__}: {e}"
        raise LoadError(one_line(f"not a readable PDF{where}: {msg}")) from e


def _page_text(page: PageObject, tables: bool) -> str:
    """A page's text; with ``tables``, a page holding table rows is re-read in layout mode
    (:mod:`ragkit.ingest.pdf_tables`: each row one line with its label, period headers composed)."""
    plain = _tidy(page.extract_text() or "").strip()
    if not tables or not looks_tabular(plain):
        return plain
    try:
        layout = page.extract_text(extraction_mode="layout")
    except MemoryError:
        raise
    except Exception:   # layout mode has its own code paths in pypdf: a page plain mode read keeps that text
        return plain
    # Not stripped before: a layout line's leading spaces are its columns.
    return (table_page_text(_tidy(layout), plain) or plain).strip()


def _tidy(text: str) -> str:
    # Lone surrogates from broken font maps would break UTF-8 writers downstream.
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")


def _missing_package(message: str) -> str:
    # pypdf decrypts RC4 by itself, but AES needs `cryptography` (a ragkit dependency, yet it can be missing).
    if "AES" in message:
        return "encrypted PDF (AES): the cryptography package is not installed (pip install cryptography)"
    return one_line(f"PDF needs a package that is not installed: {message}")


def pdf_docs(source: SourceFile, pages: list[tuple[int, str]], warnings: int, clean: bool = True) -> list[Document]:
    """One Document per page with text, as extract_pdf returned them; with ``clean``, without page furniture.

    Cleaning (:mod:`ragkit.ingest.page_cleaning`) drops running headers and footers, page numbers,
    stray ids and line numbers; the running lines and the page label stay as ``running_header`` and
    ``page_label`` metadata.
    """
    # pdf_warnings: how many repairs pypdf made while reading the file (absent when none).
    extra = {"pdf_warnings": warnings} if warnings else {}
    base = {"source": source.rel, "doc_id": source.rel, "type": "pdf"}
    if not clean:
        return [Document(page_content=text, metadata=base | {"page": page_no} | extra) for page_no, text in pages]
    docs = []
    for page_no, page in clean_pages(pages):
        furniture = {"running_header": " · ".join(page.furniture)} if page.furniture else {}
        label = {"page_label": page.page_label} if page.page_label else {}
        docs.append(Document(page_content=page.text, metadata=base | {"page": page_no} | furniture | label | extra))
    return docs


# ---------------------------------------------------------------- worker processes

def _worker_init(max_memory_mb: int, parent_pid: int, spawned_by_main_thread: bool) -> None:
    """Runs once in each PDF worker process: die with the parent, cap memory, no core files, quiet Ctrl-C."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # as nohup leaves it: stay deaf to Ctrl-C
        signal.signal(signal.SIGINT, lambda *_: os._exit(130))  # the parent reports Ctrl-C; no traceback per worker
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked by the parent while spawning
    _die_with_parent(parent_pid, spawned_by_main_thread)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    want = max_memory_mb * MB if hard == resource.RLIM_INFINITY else min(max_memory_mb * MB, hard)
    resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _die_with_parent(parent_pid: int, spawned_by_main_thread: bool) -> None:
    # PDEATHSIG fires when the spawning *thread* exits: only the main thread lives as long as the process.
    if spawned_by_main_thread and sys.platform == "linux":
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl in this libc: the watchdog alone
            pass
    if os.getppid() != parent_pid:  # the parent died before the prctl took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="ragkit-parent-watchdog", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    # An orphan is re-parented (to init or a subreaper), so a changed parent pid means the parent is gone.
    while os.getppid() == parent_pid:
        time.sleep(WATCHDOG_S)
    os._exit(1)


@contextmanager
def _ctrl_c_deferred() -> Iterator[None]:
    """Hold Ctrl-C back while workers are spawned; deliver it afterwards.

    Blocking SIGINT in this thread is inherited by the spawned processes (the mask survives exec), so a
    worker still importing keeps it pending until _worker_init. The handler swap keeps this process
    from raising KeyboardInterrupt halfway through ProcessPoolExecutor.submit (a thread of another
    library, not blocking SIGINT, may receive the signal), which leaves the pool unable to shut down.
    An ignored SIGINT (nohup, `cmd &` in a script) stays ignored: a handler, even for a moment, would
    reach the workers as SIGINT at its default (exec resets a caught signal), and they would die of Ctrl-C.
    """
    # Started first: starting it unblocks SIGINT in this thread (multiprocessing does so around its spawn).
    resource_tracker.ensure_running()
    on_main_thread = threading.current_thread() is threading.main_thread()
    swap = on_main_thread and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    caught: list[int] = []
    old_handler = signal.signal(signal.SIGINT, lambda signum, _: caught.append(signum)) if swap else None
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        if swap:
            signal.signal(signal.SIGINT, old_handler if old_handler is not None else signal.SIG_DFL)
            if caught:
                signal.raise_signal(signal.SIGINT)  # now handled as it would have been: KeyboardInterrupt


def _pdf_task(path: str, limits: LoaderLimits) -> tuple[str, object, int]:
    """Worker entry point; returns only builtins: ("ok", [(page, text)], warnings) or ("error", reason, 0)."""
    # Backstop for a C-level loop that SIGALRM cannot interrupt: the kernel kills a CPU overrun.
    used = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(used.ru_utime + used.ru_stime + limits.pdf_timeout_s * 2 + 30)
    resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
    try:
        return ("ok", *extract_pdf(path, limits))
    except LoadError as e:
        return "error", str(e), 0


class PdfPool:
    """Parses PDFs in spawned workers; when a worker dies, finds the file that did it and carries on."""

    def __init__(self, pdfs: list[SourceFile], limits: LoaderLimits) -> None:
        self.limits, self.pending, self.suspects = limits, deque(pdfs), deque()
        self.workers = max(1, min(limits.workers, len(pdfs)))
        self.in_flight: dict[Future, tuple[SourceFile, bool]] = {}
        self.pool: ProcessPoolExecutor | None = None
        self.probe: Future | None = None

    def _fill(self) -> Iterator[tuple[SourceFile, LoadError]]:
        # ProcessPoolExecutor spawns workers inside submit(), in this thread: all spawning happens here.
        with _ctrl_c_deferred():
            errors = self._submit_more()
        yield from errors

    def _submit_more(self) -> list[tuple[SourceFile, LoadError]]:
        if self.pool is None:
            # spawn, not fork: forking a parent that runs onnxruntime/BLAS threads can deadlock the child.
            main = threading.current_thread() is threading.main_thread()
            self.pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"), initializer=_worker_init,
                                            initargs=(self.limits.pdf_max_memory_mb, os.getpid(), main))
            # A no-op queued first: if it fails too, workers cannot start at all, and no file is to blame.
            self.probe = self.pool.submit(os.getpid)
        # At most `workers` files in flight, and suspects of a crash alone, so a crash has few suspects
        # and a second crash names the culprit.
        errors = []
        while (self.suspects and not self.in_flight) or (
                not self.suspects and self.pending and len(self.in_flight) < self.workers):
            alone = bool(self.suspects)
            src = self.suspects.popleft() if alone else self.pending.popleft()
            try:
                self.in_flight[self.pool.submit(_pdf_task, str(src.path), self.limits)] = (src, alone)
            except Exception as e:
                errors.append((src, LoadError(one_line(f"could not start a PDF worker: {type(e).__name__}: {e}"))))
        return errors

    @property
    def busy(self) -> bool:
        """Whether some PDF is still waiting for its result."""
        return bool(self.in_flight or self.pending or self.suspects)

    def results(self, block: bool) -> Iterator[tuple[SourceFile, list[Document] | LoadError]]:
        """Yield the PDFs finished so far; with block=True first wait until at least one is finished.

        Each call also hands idle workers their next files, so a caller busy with other work (embedding)
        should call it now and then: a worker that finished waits for the next call.
        """
        while self.busy:
            yield from self._fill()
            if not self.in_flight:
                continue
            done = wait(self.in_flight, timeout=None if block else 0, return_when=FIRST_COMPLETED)[0]
            if not done:
                return
            yielded = yield from self._collect(done)
            if block and yielded:
                return

    def _collect(self, done: set[Future]) -> Generator[tuple[SourceFile, list[Document] | LoadError], None, int]:
        """Yield the results of ``done``; after a worker died, queue its suspects. Returns how many it yielded."""
        yielded = 0
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
                    yielded += 1
                    yield src, LoadError(one_line(f"{type(e).__name__}: {e}"))
                    continue
                yielded += 1
                yield src, LoadError(payload) if status == "error" else pdf_docs(src, payload, warnings, clean=self.limits.pdf_clean_pages)
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
                    yielded += 1
                    yield src, LoadError(_NO_START if no_start else _DIED)
                else:
                    self.suspects.append(src)
        return yielded

    def close(self) -> None:
        """Stop the workers; a parse still running when the caller stopped early is killed, not awaited.

        Returns only once the pool's manager thread has ended. One still running when the interpreter
        exits races CPython's exit hook, which can write to the wake-up pipe the thread has just closed
        (CPython 3.11 prints "OSError: Bad file descriptor" after a Ctrl-C; 3.12 guards it with a lock).
        """
        if self.pool is None:
            return
        if self.in_flight:
            # The executor has no public way to stop a running task; killing its workers breaks the
            # pool, so its manager thread ends at once instead of after the parse.
            for worker in list((getattr(self.pool, "_processes", None) or {}).values()):
                worker.kill()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = None
