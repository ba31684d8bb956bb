"""Tests for ragkit.ingest.loaders and ragkit.ingest.pdf: every fixture is generated here, nothing touches the network."""

from __future__ import annotations

import errno
import importlib.util
import io
import logging
import multiprocessing
import os
import shutil
import signal
import subprocess
import threading
import time
import zlib
from pathlib import Path

import fpdf.encryption
import pytest
from fpdf import FPDF
from fpdf.enums import EncryptionMethod

from ragkit.config import LoaderLimits
from ragkit.errors import FolderError, LoadError
from ragkit.ingest import pdf
from ragkit.ingest.loaders import load_file, load_files
from ragkit.ingest.scan import SourceFile, scan_folder

MB = 1024 * 1024

# ---------------------------------------------------------------- helpers

def make_pdf(words: list[str | None], user_password: str | None = None) -> bytes:
    """An fpdf2 PDF with one page per entry; None makes a page with no text."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for word in words:
        pdf.add_page()
        if word is not None:
            pdf.cell(text=f"page word {word}")
    if user_password is not None:
        pdf.set_encryption(owner_password="owner-pw", user_password=user_password)
    return bytes(pdf.output())


HAS_CRYPTOGRAPHY = importlib.util.find_spec("cryptography") is not None
NEEDS_CRYPTOGRAPHY = pytest.mark.skipif(not HAS_CRYPTOGRAPHY, reason="the cryptography package (a ragkit "
                                        "dependency, which pypdf needs for AES) is not installed here")


def _openssl_aes128(handler, key: bytes, data: bytes) -> bytearray:
    """fpdf2's AES-128 step (CBC, PKCS#7 padding, IV first) done by the openssl command."""
    iv = os.urandom(16)
    done = subprocess.run(["openssl", "enc", "-aes-128-cbc", "-K", key.hex(), "-iv", iv.hex()], input=bytes(data),
                          capture_output=True, check=True)
    return bytearray(iv + done.stdout)


def aes_pdf(words: list[str], method: EncryptionMethod, user_password: str | None, monkeypatch) -> bytes:
    """An AES-encrypted fpdf2 PDF; without the cryptography package, AES-128 is encrypted by openssl."""
    if not HAS_CRYPTOGRAPHY:
        if method != EncryptionMethod.AES_128 or not shutil.which("openssl"):
            pytest.skip("needs the cryptography package (or openssl, for AES-128) to make an AES PDF")
        monkeypatch.setattr(fpdf.encryption, "import_error", None)
        monkeypatch.setattr(fpdf.encryption.StandardSecurityHandler, "encrypt_AES_cryptography", _openssl_aes128)
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for word in words:
        pdf.add_page()
        pdf.cell(text=f"page word {word}")
    pdf.set_encryption(owner_password="owner-pw", user_password=user_password, encryption_method=method)
    return bytes(pdf.output())


def assemble_pdf(objs: list[bytes]) -> bytes:
    """A PDF file of the numbered objects ``objs`` (object 1 the catalog), with its xref table and trailer."""
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for i, obj in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % o for o in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref))
    return out.getvalue()


def raw_pdf(n_pages: int, lines: int = 1, page_extra: bytes = b"") -> bytes:
    """A hand-written PDF whose pages all share one content stream of `lines` text lines.

    Sharing the stream keeps a 2,000-page file tiny and instant to build while
    text extraction still does the work once per page (a slow PDF on demand).
    """
    content = b"BT /F1 10 Tf 20 800 Td " + b"".join(
        b"(line %d of text) Tj 0 -12 Td " % i for i in range(lines)) + b"ET"
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(n_pages))
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n_pages,
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"]
    objs += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] " + page_extra +
             b"/Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>"] * n_pages
    return assemble_pdf(objs)


def bomb_pdf(text_mb: int, level: int) -> bytes:
    """A one-page PDF whose content stream is ``text_mb`` MB of text deflated at zlib ``level``."""
    text = b"BT /F1 10 Tf 20 800 Td (" + b"A" * (text_mb * MB) + b") Tj ET"
    stream = zlib.compress(text, level)
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
            b"/Contents 5 0 R >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream"]
    return assemble_pdf(objs)


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def source(root: Path, rel: str) -> SourceFile:
    path = (root / rel).resolve()
    return SourceFile(rel, path, path.stat().st_size)


def load(root: Path, rel: str, **limits) -> list:
    return load_file(root, source(root, rel), LoaderLimits(**limits))


def reason(root: Path, rel: str, **limits) -> str:
    with pytest.raises(LoadError) as info:
        load(root, rel, **limits)
    assert "\n" not in str(info.value)
    return str(info.value)


def _pdf_task_killing_on_kill_pdf(path: str, limits: LoaderLimits):
    """Stands in for the worker task (importable by spawned workers): dies like an OOM-killed process."""
    if path.endswith("kill.pdf"):
        os.kill(os.getpid(), signal.SIGKILL)
    return pdf._pdf_task(path, limits)


def _worker_init_that_cannot_start(*initargs) -> None:
    """Stands in for the worker initializer: the worker exits before it can run anything."""
    os._exit(3)


# ---------------------------------------------------------------- scan_folder

def test_scan_folder_rejects_unusable_paths(tmp_path):
    with pytest.raises(FolderError, match="No such folder"):
        scan_folder(tmp_path / "missing")
    write(tmp_path / "a.txt", "hello")
    with pytest.raises(FolderError, match="is a file; ragkit ingest takes a folder"):
        scan_folder(tmp_path / "a.txt")


def deny_scandir(monkeypatch, *denied: Path) -> None:
    """Make os.scandir (used by scan_folder and os.walk) fail on `denied` as an unreadable folder does.

    chmod 000 would do on a real folder, but not for root, which CI runs as.
    """
    real_scandir, denied_paths = os.scandir, {os.path.realpath(p) for p in denied}

    def scandir(path="."):
        if os.path.realpath(path) in denied_paths:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return real_scandir(path)
    monkeypatch.setattr(os, "scandir", scandir)


def test_scan_folder_unreadable_root(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    write(locked / "a.txt", "alpha")
    deny_scandir(monkeypatch, locked)
    with pytest.raises(FolderError) as info:
        scan_folder(locked)
    assert str(info.value) == f"Cannot read folder {locked}: Permission denied"


def test_scan_folder_unreadable_subfolder_is_skipped(tmp_path, monkeypatch):
    root = tmp_path / "docs"
    write(root / "a.txt", "alpha")
    write(root / "locked" / "secret.txt", "never listed")
    write(root / "open" / "inner" / "shut" / "c.txt", "never listed")
    write(root / "open" / "b.md", "bravo")
    write(root / ".store" / "shut" / "d.txt", "never listed")  # reached only through the `linked` symlink
    (root / "linked").symlink_to(root / ".store", target_is_directory=True)
    deny_scandir(monkeypatch, root / "locked", root / "open" / "inner" / "shut", root / ".store" / "shut")
    scan = scan_folder(root)
    assert [f.rel for f in scan.files] == ["a.txt", "open/b.md"]
    assert [(s.rel, s.reason) for s in scan.skipped] == [
        ("linked/shut", "cannot read folder: Permission denied"),
        ("locked", "cannot read folder: Permission denied"),
        ("open/inner/shut", "cannot read folder: Permission denied"),
    ]


def test_scan_folder_walks_safely(tmp_path):
    root = tmp_path / "docs"
    outside = write(tmp_path / "secret.txt", "outside the root")
    write(root / "a.txt", "alpha")
    write(root / "sub" / "deep" / "b.md", "# bravo")
    write(root / "sub" / "c.PDF", make_pdf(["charlie"]))
    write(root / "report.docx", b"PK\x03\x04")
    write(root / "README", "no extension")
    write(root / "empty.txt", b"")
    write(root / ".hidden.txt", "hidden file")
    write(root / ".git" / "config.txt", "hidden dir")
    (root / "out.txt").symlink_to(outside)
    (root / "outdir").symlink_to(tmp_path, target_is_directory=True)
    (root / "loop1.txt").symlink_to(root / "loop2.txt")
    (root / "loop2.txt").symlink_to(root / "loop1.txt")
    (root / "broken.txt").symlink_to(root / "nowhere.txt")
    (root / "sub" / "up").symlink_to(root, target_is_directory=True)  # a folder that contains itself
    (root / "alias").symlink_to(root / "sub" / "deep", target_is_directory=True)
    (root / "same.txt").symlink_to(root / "a.txt")
    (root / "linked").symlink_to(root / "real", target_is_directory=True)
    write(root / "real" / "r.txt", "reached two ways")
    os.symlink("real/r.txt", root / "zz.txt")

    started = time.monotonic()
    scan = scan_folder(root)
    assert time.monotonic() - started < 2

    assert scan.root == root.resolve()
    assert [f.rel for f in scan.files] == ["a.txt", "real/r.txt", "sub/c.PDF", "sub/deep/b.md"]
    for f in scan.files:
        assert f.path.is_absolute() and f.path == f.path.resolve()
        assert f.path.is_relative_to(root.resolve())
        assert f.size == f.path.stat().st_size > 0
    reasons = {s.rel: s.reason for s in scan.skipped}
    assert reasons == {
        "README": "unsupported type (no extension)",
        "alias": "symlink to a folder already included",
        "broken.txt": "broken symlink (its target does not exist)",
        "empty.txt": "empty file (0 bytes)",
        "linked": "symlink to a folder already included",
        "loop1.txt": "symlink loop",
        "loop2.txt": "symlink loop",
        "out.txt": "symlink points outside the folder",
        "outdir": "symlink points outside the folder",
        "report.docx": "unsupported type .docx",
        "same.txt": "duplicate of a.txt (symlink)",
        "sub/up": "symlink loop (points to a folder that contains it)",
        "zz.txt": "duplicate of real/r.txt (symlink)",
    }
    assert [s.rel for s in scan.skipped] == sorted(reasons)


def test_scan_folder_follows_symlinked_folder_inside_root(tmp_path):
    root = tmp_path / "docs"
    write(root / ".store" / "notes.md", "kept in a hidden folder, linked from a visible name")
    (root / "notes").symlink_to(root / ".store", target_is_directory=True)
    scan = scan_folder(root)
    assert [f.rel for f in scan.files] == ["notes/notes.md"]
    assert scan.files[0].path == (root / ".store" / "notes.md").resolve()


# ---------------------------------------------------------------- text, markdown, html

def test_text_decoding_and_metadata(tmp_path):
    write(tmp_path / "bom.txt", b"\xef\xbb\xbfcaf\xc3\xa9\r\nline two\rline three")
    write(tmp_path / "wide.md", "# Título\nUTF-16 text".encode("utf-16"))
    write(tmp_path / "blank.txt", " \n\t\r\n ")
    [doc] = load(tmp_path, "bom.txt")
    assert doc.page_content == "café\nline two\nline three"
    assert doc.metadata == {"source": "bom.txt", "doc_id": "bom.txt", "type": "txt"}
    [doc] = load(tmp_path, "wide.md")
    assert doc.page_content == "# Título\nUTF-16 text"
    assert doc.metadata["type"] == "md"
    assert load(tmp_path, "blank.txt") == []


def test_text_rejects_binary_and_non_utf8(tmp_path):
    write(tmp_path / "junk.txt", bytes(range(256)) * 4)
    write(tmp_path / "latin1.txt", b"a" * 120 + "é and more".encode("latin-1"))
    write(tmp_path / "bom-latin1.txt", b"\xef\xbb\xbfab\xe9")
    assert reason(tmp_path, "junk.txt") == "binary data, not text (NUL bytes)"
    assert reason(tmp_path, "latin1.txt") == \
        "not valid UTF-8 (invalid byte 0xe9 at offset 120); save it as UTF-8"
    # The offset counts from the start of the file, BOM included, as a hex editor shows it.
    assert "invalid byte 0xe9 at offset 5" in reason(tmp_path, "bom-latin1.txt")


def test_size_limit_names_the_setting(tmp_path):
    write(tmp_path / "big.txt", "x" * 5000)
    write(tmp_path / "big.pdf", make_pdf(["a"]))
    assert reason(tmp_path, "big.txt", max_file_mb=0.001) == \
        "file is 4.9 KB, over the 0.001 MB limit (loader.max_file_mb)"
    assert "(loader.max_file_mb)" in reason(tmp_path, "big.pdf", max_file_mb=0.0001)
    assert load(tmp_path, "big.txt", max_file_mb=0.01)[0].page_content == "x" * 5000


def test_load_file_refuses_paths_outside_root_and_wraps_errors(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    secret = write(tmp_path / "secret.txt", "nope")
    with pytest.raises(LoadError, match="outside the folder"):
        load_file(root, SourceFile("secret.txt", secret, 4))
    gone = SourceFile("gone.txt", root / "gone.txt", 10)
    with pytest.raises(LoadError, match="cannot read"):
        load_file(root, gone)


def test_html_drops_code_and_keeps_text(tmp_path):
    write(tmp_path / "page.html", """<!doctype html><html><head><title> Quarterly  Notes </title>
        <style>body { color: red }</style><script>var secret = "SCRIPTTEXT";</script></head>
        <body><h1>Heading</h1>\n\n\n\n<p>First paragraph.</p><!-- a comment -->
        <noscript>enable JS</noscript><template><p>TEMPLATETEXT</p></template>
        <div>\n\n\n<p>Second paragraph.</p></div></body></html>""")
    [doc] = load(tmp_path, "page.html")
    text = doc.page_content
    for gone in ("SCRIPTTEXT", "color: red", "enable JS", "TEMPLATETEXT", "a comment"):
        assert gone not in text
    assert "Heading" in text and "First paragraph." in text and "Second paragraph." in text
    assert "\n\n\n" not in text
    assert doc.metadata == {"source": "page.html", "doc_id": "page.html", "type": "html",
                            "title": "Quarterly Notes"}


# ---------------------------------------------------------------- jsonl

def test_jsonl_corpus(tmp_path):
    write(tmp_path / "corpus.jsonl", '{"_id": "d1", "title": "Revenue", "text": "Up 5%."}\n'
                                     '\n'
                                     '{"_id": 7, "title": "", "text": "No title here."}\n'
                                     '{"_id": "d3", "text": "Title missing entirely."}\n'
                                     '{"_id": "d4", "title": "", "text": "  "}\n')
    docs = load(tmp_path, "corpus.jsonl")
    assert [d.page_content for d in docs] == ["Revenue\n\nUp 5%.", "No title here.", "Title missing entirely."]
    assert [d.metadata["doc_id"] for d in docs] == ["d1", "7", "d3"]
    assert [d.metadata["line"] for d in docs] == [1, 3, 4]
    assert docs[0].metadata == {"source": "corpus.jsonl", "doc_id": "d1", "type": "jsonl",
                                "line": 1, "title": "Revenue"}
    assert "title" not in docs[1].metadata


@pytest.mark.parametrize("bad_line, expected", [
    ('{"_id": "x", "text": ', "line 2: not valid JSON (Expecting value at column 22)"),
    ('["_id", "text"]', "line 2: expected a JSON object, got list"),
    ('{"text": "no id"}', 'line 2: missing "_id"'),
    ('{"_id": "x"}', 'line 2: missing "text"'),
    ('{"_id": "a", "text": "again"}', 'line 2: duplicate _id "a" (first on line 1)'),
    ('{"_id": "y", "text": 5}', 'line 2: "text" and "title" must be strings'),
])
def test_jsonl_malformed_line_fails_whole_file(tmp_path, bad_line, expected):
    write(tmp_path / "c.jsonl", '{"_id": "a", "text": "fine"}\n' + bad_line + '\n{"_id": "z", "text": "ok"}\n')
    assert reason(tmp_path, "c.jsonl") == expected


# ---------------------------------------------------------------- PDF (in process)

def test_pdf_pages_keep_real_page_numbers(tmp_path):
    write(tmp_path / "r.pdf", make_pdf(["alpha", None, "charlie"]))
    docs = load(tmp_path, "r.pdf")
    assert [(d.metadata["page"], d.page_content) for d in docs] == \
        [(1, "page word alpha"), (3, "page word charlie")]
    assert docs[0].metadata == {"source": "r.pdf", "doc_id": "r.pdf", "type": "pdf", "page": 1}


def test_pdf_encryption(tmp_path):
    write(tmp_path / "locked.pdf", make_pdf(["alpha"], user_password="secret"))
    write(tmp_path / "open.pdf", make_pdf(["alpha", "bravo"], user_password=""))
    assert reason(tmp_path, "locked.pdf") == "encrypted PDF (a password is needed)"
    assert [d.page_content for d in load(tmp_path, "open.pdf")] == ["page word alpha", "page word bravo"]


@NEEDS_CRYPTOGRAPHY
@pytest.mark.parametrize("method", [EncryptionMethod.AES_128, EncryptionMethod.AES_256])
def test_pdf_aes_with_only_an_owner_password_is_indexed(tmp_path, monkeypatch, method):
    # Viewers open these without a prompt (the owner password only restricts printing, copying...).
    write(tmp_path / "aes.pdf", aes_pdf(["alpha", "bravo"], method, None, monkeypatch))
    assert [d.page_content for d in load(tmp_path, "aes.pdf")] == ["page word alpha", "page word bravo"]
    [(src, docs)] = list(load_files(tmp_path, scan_folder(tmp_path).files, LoaderLimits(workers=1)))
    assert [d.page_content for d in docs] == ["page word alpha", "page word bravo"]


@pytest.mark.parametrize("method", [EncryptionMethod.AES_128, EncryptionMethod.AES_256])
def test_pdf_aes_with_a_user_password_needs_the_password(tmp_path, monkeypatch, method):
    write(tmp_path / "locked.pdf", aes_pdf(["alpha"], method, "secret", monkeypatch))
    if not HAS_CRYPTOGRAPHY:  # AES-128's password check is MD5/RC4, which pypdf does alone
        assert method == EncryptionMethod.AES_128
    assert reason(tmp_path, "locked.pdf") == "encrypted PDF (a password is needed)"


def test_pdf_aes_without_the_cryptography_package_says_what_to_install(tmp_path, monkeypatch):
    write(tmp_path / "aes.pdf", aes_pdf(["alpha"], EncryptionMethod.AES_128, None, monkeypatch))
    # pypdf's own stand-in for a missing cryptography package (what it uses when the import fails).
    monkeypatch.setattr("pypdf._encryption.CryptAES", __import__("pypdf._crypt_providers._fallback",
                                                                 fromlist=["CryptAES"]).CryptAES)
    assert reason(tmp_path, "aes.pdf") == \
        "encrypted PDF (AES): the cryptography package is not installed (pip install cryptography)"


def test_pdf_truncated_and_page_limit(tmp_path):
    good = make_pdf(["alpha", "bravo", "charlie"])
    write(tmp_path / "cut.pdf", good[: len(good) // 2])
    write(tmp_path / "three.pdf", good)
    assert reason(tmp_path, "cut.pdf").startswith("not a readable PDF: ")
    assert reason(tmp_path, "three.pdf", pdf_max_pages=2) == \
        "PDF has 3 pages, over the 2 page limit (loader.pdf_max_pages)"
    assert len(load(tmp_path, "three.pdf", pdf_max_pages=3)) == 3


def test_pdf_array_limit_comes_from_loader_limits(tmp_path):
    # pypdf's own default refuses arrays over 100,000 elements; real filings need more.
    write(tmp_path / "arr.pdf", raw_pdf(1, page_extra=b"/Junk [" + b"0 " * 100_500 + b"] "))
    [doc] = load(tmp_path, "arr.pdf")
    assert doc.page_content == "line 0 of text"
    assert reason(tmp_path, "arr.pdf", pdf_array_max_elements=100_000).startswith("not a readable PDF")


def test_pdf_warnings_are_counted_not_logged(tmp_path, caplog):
    good = make_pdf(["alpha"])
    xref = good.find(b"\nxref\n")
    write(tmp_path / "shifted.pdf", good[:xref] + b"\n% bytes that make startxref point a bit off" + good[xref:])
    with caplog.at_level(logging.DEBUG):
        [doc] = load(tmp_path, "shifted.pdf")
    assert doc.page_content == "page word alpha"
    assert doc.metadata["pdf_warnings"] >= 1
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
    assert logging.getLogger("pypdf").propagate and not logging.getLogger("pypdf").handlers


def test_pdf_timeout_in_process(tmp_path):
    write(tmp_path / "slow.pdf", raw_pdf(2000, lines=100))  # ~10 s of extraction if left alone
    started = time.monotonic()
    assert reason(tmp_path, "slow.pdf", pdf_timeout_s=0.3) == \
        "PDF parsing took longer than 0.3 s (loader.pdf_timeout_s)"
    assert time.monotonic() - started < 3
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL


# ---------------------------------------------------------------- load_files

def test_load_files_mixed_folder_uses_workers(tmp_path):
    root = tmp_path / "docs"
    write(root / "a.pdf", make_pdf(["alpha", "bravo"]))
    write(root / "b.pdf", make_pdf(["charlie"]))
    good = make_pdf(["delta"])
    write(root / "broken.pdf", good[: len(good) // 2])
    write(root / "slow.pdf", raw_pdf(2000, lines=100))
    write(root / "notes.txt", "plain text")
    write(root / "latin.txt", b"caf\xe9")
    write(root / "blank.md", "   \n")
    write(root / "c.jsonl", '{"_id": "q1", "text": "one"}\n{"_id": "q2", "text": "two"}\n')
    scan = scan_folder(root)
    limits = LoaderLimits(workers=2, pdf_timeout_s=0.5)
    started = time.monotonic()
    results = list(load_files(root, scan.files, limits))
    assert time.monotonic() - started < 8  # slow.pdf alone would take ~10 s
    assert sorted(src.rel for src, _ in results) == [f.rel for f in scan.files]  # each exactly once
    by_rel = {src.rel: res for src, res in results}
    assert [(d.metadata["page"], d.page_content) for d in by_rel["a.pdf"]] == \
        [(1, "page word alpha"), (2, "page word bravo")]
    assert by_rel["b.pdf"][0].metadata == {"source": "b.pdf", "doc_id": "b.pdf", "type": "pdf", "page": 1}
    assert str(by_rel["broken.pdf"]).startswith("not a readable PDF")
    assert str(by_rel["slow.pdf"]) == "PDF parsing took longer than 0.5 s (loader.pdf_timeout_s)"
    assert str(by_rel["latin.txt"]).startswith("not valid UTF-8 (invalid byte 0xe9 at offset 3)")
    assert by_rel["blank.md"] == []
    assert [d.metadata["doc_id"] for d in by_rel["c.jsonl"]] == ["q1", "q2"]
    assert by_rel["notes.txt"][0].page_content == "plain text"


def test_load_files_survives_a_killed_worker(tmp_path, monkeypatch):
    monkeypatch.setattr(pdf, "_pdf_task", _pdf_task_killing_on_kill_pdf)
    root = tmp_path / "docs"
    for name in ("a", "b", "kill", "d", "e"):
        write(root / f"{name}.pdf", make_pdf([name]))
    write(root / "n.txt", "text still loads")
    sources = scan_folder(root).files
    results = list(load_files(root, sources, LoaderLimits(workers=2)))
    assert sorted(src.rel for src, _ in results) == [s.rel for s in sources]
    by_rel = {src.rel: res for src, res in results}
    assert str(by_rel.pop("kill.pdf")).startswith("the PDF worker process died")
    assert by_rel.pop("n.txt")[0].page_content == "text still loads"
    assert {rel: [d.page_content for d in docs] for rel, docs in by_rel.items()} == \
        {f"{n}.pdf": [f"page word {n}"] for n in ("a", "b", "d", "e")}


def test_stopping_early_kills_the_running_parse_and_ends_the_pools_thread(tmp_path):
    # A pool thread still running at exit races CPython 3.11's exit hook ("Bad file descriptor" after Ctrl-C).
    write(tmp_path / "slow.pdf", raw_pdf(2000, lines=100))  # ~10 s of parsing if left alone
    write(tmp_path / "ok.pdf", make_pdf(["fine"]))
    loading = load_files(tmp_path, scan_folder(tmp_path).files, LoaderLimits(workers=2, pdf_timeout_s=60))
    src, docs = next(loading)
    assert src.rel == "ok.pdf" and [d.page_content for d in docs] == ["page word fine"]
    workers = multiprocessing.active_children()
    assert workers, "the slow PDF should still be parsing in a worker"
    loading.close()  # the caller stops early, as Ctrl-C does
    assert not any(w.is_alive() for w in workers)
    assert not [t for t in threading.enumerate() if type(t).__name__ == "_ExecutorManagerThread"]


@pytest.mark.integration
def test_a_decompression_bomb_is_contained_and_the_rest_loads(tmp_path):
    write(tmp_path / "bomb.pdf", bomb_pdf(300, 9))  # 300 MB of text in a file of 0.3 MB
    write(tmp_path / "ok.pdf", make_pdf(["fine"]))
    limits = LoaderLimits(workers=1, pdf_max_memory_mb=400)
    by_rel = {src.rel: res for src, res in load_files(tmp_path, scan_folder(tmp_path).files, limits)}
    assert (tmp_path / "bomb.pdf").stat().st_size < MB  # a small file: only parsing reveals the bomb
    # pypdf's decompression limit or, past it, the worker's memory cap: either way one line for this file.
    assert isinstance(by_rel["bomb.pdf"], LoadError) and str(by_rel["bomb.pdf"]).startswith((
        "not a readable PDF (page 1): Limit reached while decompressing",
        "PDF parsing ran out of memory (over 400 MB, loader.pdf_max_memory_mb)"))
    assert [d.page_content for d in by_rel["ok.pdf"]] == ["page word fine"]


def test_load_files_reports_workers_that_cannot_start(tmp_path, monkeypatch):
    monkeypatch.setattr(pdf, "_worker_init", _worker_init_that_cannot_start)
    for name in ("a", "b", "c"):
        write(tmp_path / f"{name}.pdf", make_pdf([name]))
    write(tmp_path / "n.txt", "text still loads")
    results = list(load_files(tmp_path, scan_folder(tmp_path).files, LoaderLimits(workers=2)))
    by_rel = {src.rel: res for src, res in results}
    assert len(results) == len(by_rel) == 4
    assert by_rel.pop("n.txt")[0].page_content == "text still loads"
    assert {str(err) for err in by_rel.values()} == {pdf._NO_START}


def test_load_files_without_pdfs_starts_no_process(tmp_path, monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("a process pool was started for a folder without PDFs")
    monkeypatch.setattr(pdf, "ProcessPoolExecutor", no_pool)
    write(tmp_path / "a.txt", "alpha")
    write(tmp_path / "b.md", "bravo")
    results = list(load_files(tmp_path, scan_folder(tmp_path).files))
    assert [(s.rel, [d.page_content for d in docs]) for s, docs in results] == \
        [("a.txt", ["alpha"]), ("b.md", ["bravo"])]


def test_load_files_precheck_failures_skip_the_pool(tmp_path, monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("an oversized PDF must be refused before reaching a worker")
    monkeypatch.setattr(pdf, "ProcessPoolExecutor", no_pool)
    write(tmp_path / "big.pdf", make_pdf(["a"]))
    [(src, err)] = list(load_files(tmp_path, scan_folder(tmp_path).files, LoaderLimits(max_file_mb=0.0001)))
    assert isinstance(err, LoadError) and "loader.max_file_mb" in str(err)
