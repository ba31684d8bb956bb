"""Hostile names and contents (issue 13): one bad file never stops an ingest, and nothing from a
document, a file name or a query reaches the terminal as control.

The fixture is a folder a hostile user could hand over: a name that is not UTF-8, an unreadable
file, escape sequences (clear screen, window title, OSC-8 hyperlink, BEL, a one-byte C1 CSI, a bidi
override) and rich's ``[/]`` in names and contents, a newline in a name that tries to forge a
summary line, a file that fails with ``[/]`` in its path, and a JSONL line with a lone surrogate.
The folder's own name holds an escape sequence too, so every path printed is hostile.

The CliRunner output is not a terminal, so rich adds no escape codes of its own: any control
character in the human output came from the fixture.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import stat

import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.errors import FilterError
from ragkit.ingest.scan import scan_folder
from ragkit.retrieval.search import parse_filters
from ragkit.text import printable

runner = CliRunner()

ESCAPES = "\x1b[2J\x1b]0;pwned\x07 \x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\ \x9b31m \u202egnp.exe"
CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e")
NAMES = {  # name in the folder -> what ragkit calls it (the `source`)
    b"good.txt": "good.txt",
    b"bad\xffname.txt": "bad\\xffname.txt",   # not UTF-8: the byte is written as \xff
    "title\x1b]0;pwned\x07.txt".encode(): "title\x1b]0;pwned\x07.txt",
    "forged\nfailed fake.txt: lies.txt".encode(): "forged\nfailed fake.txt: lies.txt",
    b"brack[/]et.txt": "brack[/]et.txt",      # a folder "brack[" holding "]et.txt"
    b"escapes.md": "escapes.md",
    b"surrogate.jsonl": "surrogate.jsonl",
}
FAILING = {"locked.txt": "cannot read: Permission denied",
           "broken[/]fail.jsonl": "line 1: not valid JSON (Expecting value at column 1)"}


def run(*args, input=None):
    return runner.invoke(app, [str(a) if not isinstance(a, bytes) else os.fsdecode(a) for a in args], input=input)


def _write(folder: bytes, name: bytes, data: bytes) -> None:
    path = os.path.join(folder, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    """The hostile folder (bytes path) with its unreadable file made unreadable even for root."""
    folder = os.path.join(os.fsencode(tmp_path), "docs\x1b[31m".encode())
    for number, name in enumerate(NAMES):
        _write(folder, name, f"otters hold hands while they sleep, says file {number}\n".encode())
    _write(folder, b"escapes.md", f"# Otters {ESCAPES}\n\nOtters [/] and [bold]markup[/bold] too.\n".encode())
    _write(folder, b"surrogate.jsonl", b'{"_id": "s1", "text": "otters \\ud800 lone surrogate"}\n')
    _write(folder, b"broken[/]fail.jsonl", b"not json\n")
    _write(folder, b"locked.txt", b"otters locked away\n")
    locked = os.path.join(folder, b"locked.txt")
    os.chmod(locked, 0)
    if os.geteuid() == 0:
        # root reads mode-000 files, so mode 000 alone proves nothing here: opening the file is made
        # to fail the way it fails for any other user (PermissionError, errno 13).
        real_open, denied = builtins.open, os.fsdecode(locked)

        def open_unless_locked(file, *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and os.fspath(file) == denied:
                raise PermissionError(13, "Permission denied", denied)
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", open_unless_locked)
    yield os.fsdecode(folder)
    os.chmod(locked, stat.S_IRUSR | stat.S_IWUSR)


@pytest.fixture
def config(fast_config):
    return fast_config


@pytest.fixture
def index(hostile, tmp_path, config):
    index = tmp_path / "idx"
    result = run("ingest", hostile, "--index", index, "--config", config)
    assert result.exit_code == 3, result.output
    return index


def assert_clean(result) -> None:
    """No traceback, no exception, and no control character in what a human sees."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    for text in (result.stdout, result.stderr):
        assert "Traceback" not in text
        for control in CONTROLS:
            assert control not in text, f"{control!r} reached the terminal:\n{text}"


def flat(text: str) -> str:
    """Output without table borders and wrapping: only the characters shown."""
    return "".join(ch for ch in text if not ch.isspace() and ch not in "│┃┆")


# --------------------------------------------------------------------------- ingest


def test_the_rest_of_a_hostile_folder_is_indexed_and_each_bad_file_gets_one_line(hostile, tmp_path, config):
    result = run("ingest", hostile, "--index", tmp_path / "idx", "--config", config)
    assert result.exit_code == 3, result.output      # partial: some files failed, the rest is indexed
    assert_clean(result)
    lines = result.stderr.splitlines()
    assert "failed locked.txt: cannot read: Permission denied" in lines
    assert "failed broken[/]fail.jsonl: line 1: not valid JSON (Expecting value at column 1)" in lines
    assert "7 added, 0 updated, 0 unchanged, 0 removed, 2 failed" in result.stdout

    again = run("ingest", hostile, "--index", tmp_path / "idx", "--config", config, "--json", "--rebuild")
    assert again.exit_code == 3
    data = json.loads(again.stdout)   # exact JSON: the names as they are, control characters included
    assert sorted(data["added_files"]) == sorted(NAMES.values())
    assert {f["source"]: f["reason"] for f in data["failed_files"]} == FAILING


def test_a_missing_folder_is_named_escaped(tmp_path, config):
    result = run("ingest", tmp_path / "nope\x1b[2J", "--index", tmp_path / "idx", "--config", config)
    assert result.exit_code == 1
    assert_clean(result)
    assert result.stderr.strip() == f"Error: No such folder: {tmp_path}/nope\\x1b[2J"


def test_a_newline_in_a_name_cannot_forge_a_summary_line(hostile, tmp_path, config):
    _write(os.fsencode(hostile), b"skip\nfailed good.txt: forged.exe", b"otters")
    result = run("ingest", hostile, "--index", tmp_path / "idx", "--config", config)
    assert_clean(result)
    assert "skipped skip\\nfailed good.txt: forged.exe: unsupported type .exe" in result.stderr.splitlines()
    assert not any(line.startswith("failed good.txt") for line in result.stderr.splitlines())


def test_an_unreadable_file_keeps_its_indexed_version(tmp_path, config, monkeypatch):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.txt").write_text("otters float on their backs")
    assert run("ingest", folder, "--index", tmp_path / "idx", "--config", config).exit_code == 0
    (folder / "notes.txt").write_text("otters float on their backs, changed")
    real_open = builtins.open   # as root, mode 000 cannot make a file unreadable: see the hostile fixture

    def deny(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.fspath(file).endswith("notes.txt"):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    result = run("ingest", folder, "--index", tmp_path / "idx", "--config", config, "--json")
    assert result.exit_code == 3
    data = json.loads(result.stdout)
    assert data["failed_files"] == [{"source": "notes.txt", "reason": "cannot read: Permission denied",
                                     "kept_previous": True}]
    assert data["files_total"] == 1


def test_a_name_that_is_not_utf8_is_indexed_under_an_escaped_name(tmp_path):
    folder = os.fsencode(tmp_path / "docs")
    _write(folder, b"caf\xe9.txt", b"latin-1 name")
    _write(folder, b"caf\\xe9.txt", b"a real backslash in the name")   # reads the same once escaped
    scan = scan_folder(tmp_path / "docs")
    assert [f.rel for f in scan.files] == ["caf\\xe9.txt"]
    assert os.fsencode(scan.files[0].path).endswith(b"caf\\xe9.txt")   # sorted: the backslash name is first
    assert [(s.rel, s.reason) for s in scan.skipped] == [
        ("caf\\xe9.txt", "its name, shown escaped, is the same as another file's")]


def test_an_index_path_that_is_not_utf8_is_one_line_error(hostile, tmp_path, config):
    result = run("ingest", hostile, "--index", os.path.join(os.fsencode(tmp_path), b"idx\xfe"), "--config", config)
    assert result.exit_code == 1
    assert_clean(result)
    assert result.stderr.strip().splitlines() == [
        f"Error: the index path {tmp_path}/idx\\xfe holds a control character or a byte that is not UTF-8; "
        "choose another --index"]


# --------------------------------------------------------------------------- search, ask, chat, info


def test_search_shows_controls_escaped_and_brackets_literally(index, config):
    result = run("search", "otters [/] [bold]x", "-k", "20", "--index", index, "--config", config)
    assert result.exit_code == 0, result.output
    assert_clean(result)
    shown = flat(result.stdout)
    for name in ("bad\\xffname.txt", "title\\x1b]0;pwned\\x07.txt", "forged\\nfailedfake.txt:lies.txt",
                 "brack[/]et.txt"):
        assert name in shown
    assert "\\x1b[2J\\x1b]0;pwned\\x07" in shown and "\\x9b31m\\u202egnp.exe" in shown
    assert "Otters[/]and[bold]markup[/bold]too." in shown
    assert "otters[/][bold]x" in shown    # the query, in the title


def test_search_json_is_exact(index, config):
    result = run("search", "otters", "-k", "20", "--index", index, "--config", config, "--json")
    assert result.exit_code == 0
    found = json.loads(result.stdout)
    assert {r["source"] for r in found} == set(NAMES.values())
    escapes = next(r for r in found if r["source"] == "escapes.md")
    assert ESCAPES in escapes["text"]
    surrogate = next(r for r in found if r["source"] == "surrogate.jsonl")
    assert "otters \ufffd lone surrogate" in surrogate["text"]     # a lone surrogate is not text: replaced


def test_ask_extract_quotes_controls_escaped(index, config):
    result = run("ask", "what do otters do pwned click", "--chain", "extract", "-k", "8",
                 "--index", index, "--config", config)
    assert result.exit_code == 0, result.output
    assert_clean(result)
    shown = flat(result.stdout)
    assert "\\x1b[2J" in shown and "title\\x1b]0;pwned\\x07.txt" in shown


def test_chat_escapes_the_session_name_and_the_answers(index, config, tmp_path):
    args = ("chat", "--session", "s\x1b[2J", "--chain", "extract", "--history", tmp_path / "chat.sqlite",
            "--index", index, "--config", config)
    result = run(*args, input="what do otters do pwned click\n")
    assert result.exit_code == 0, result.output
    assert_clean(result)
    assert "Session s\\x1b[2J" in result.stderr
    reopened = run(*args, input="")       # the recap of the last turns
    assert_clean(reopened)
    assert "what do otters do pwned click" in reopened.stderr


def test_info_shows_the_hostile_folder_escaped(index, config):
    result = run("info", "--index", index, "--config", config)
    assert result.exit_code == 0
    assert_clean(result)
    assert "docs\\x1b[31m" in flat(result.stdout)


def test_printable_escapes_controls_and_keeps_text():
    assert printable("a\tb\nc\x1b[2J\x07\x9b\u202e\x7f") == "a\tb\nc\\x1b[2J\\x07\\x9b\\u202e\\x7f"
    assert printable("a\tb\nc\r", one_line=True) == "a\\tb\\nc\\r"
    assert printable("caf\udce9") == "caf\\xe9"      # os.fsdecode's stand-in for an undecodable byte
    assert printable("Zoë [/] 東京 😀") == "Zoë [/] 東京 😀"


# --------------------------------------------------------------------------- the two small ones


def test_a_bom_does_not_cost_the_first_batch_query(index, config, tmp_path):
    queries = tmp_path / "queries.jsonl"
    queries.write_bytes(b"\xef\xbb\xbf" + b'{"_id": "q1", "text": "otters"}\n{"_id": "q2", "text": "sleep"}\n')
    result = run("search", "--queries", queries, "--index", index, "--config", config)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["query_id"] for line in result.stdout.splitlines()] == ["q1", "q2"]


def test_a_filter_key_given_twice_is_refused(index, config):
    assert parse_filters(["source=a.md", "source = a.md"]) == {"source": "a.md"}   # the same twice is harmless
    with pytest.raises(FilterError, match="given twice"):
        parse_filters(["source=a.md", "source=b.md"])
    result = run("search", "otters", "--filter", "source=good.txt", "--filter", "source=escapes.md",
                 "--index", index, "--config", config)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: --filter source is given twice ('good.txt' and 'escapes.md')")
    assert len(result.stderr.strip().splitlines()) == 1


def test_eval_tables_and_sessions_show_names_escaped():
    from rich.console import Console

    from ragkit.cli.render import results_tables, sessions_table
    from ragkit.evaluation.runner import RunOutcome

    outcomes = [RunOutcome(name="run\x1b]0;t\x07", dataset="set\x1b[2J", n_queries=2, metrics={"recall@5": 0.5}),
                RunOutcome(name="other\nline", dataset="set\x1b[2J", status="failed", error="boom")]
    session = type("Summary", (), {"name": "s\x9b31m", "turns": 1, "last_used": 0.0})()
    console = Console(record=True, width=200, file=io.StringIO())
    for table in [*results_tables(outcomes), sessions_table([session])]:
        console.print(table)
    shown = console.export_text()
    assert not any(control in shown for control in CONTROLS)
    assert "set\\x1b[2J" in shown and "run\\x1b]0;t\\x07" in shown and "other\\nline (failed)" in shown
    assert "s\\x9b31m" in shown
