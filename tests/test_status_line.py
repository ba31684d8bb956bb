"""No silent wait (issue 9, point 5): ``ragkit ask`` says what it is doing until the answer starts, on a
terminal only; never in --json or in captured output."""

from __future__ import annotations

import io
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from rich.console import Console
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.cli.status import StatusLine
from ragkit.config import AskConfig
from ragkit.generation.ask import ask
from ragkit.llm.base import ChatLLM

from conftest import REPO, write_docs
from fakes import fake_llm

runner = CliRunner()
DOCS = {"rrf.md": "Reciprocal rank fusion scores a document by summing 1 / (k + rank) over every ranking.\n\n"
                  "The constant k is 60 by default, which damps the top ranks."}


def terminal() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=80), buffer


def test_status_line_shows_each_step_on_a_terminal_and_nothing_after_stop():
    console, buffer = terminal()
    status = StatusLine(console)
    status.show("retrieving")
    status.model_loading(True)
    time.sleep(0.2)  # the spinner redraws on its own thread
    status.model_loading(False)
    assert status.text == "retrieving"
    status.stop()
    shown = buffer.getvalue()
    status.show("reading 5 sources")  # after the first token nothing more is drawn
    assert "loading the model…" in shown and buffer.getvalue() == shown
    assert "reading 5 sources" not in buffer.getvalue()


def test_status_line_is_silent_off_a_terminal_and_when_disabled():
    buffer = io.StringIO()
    for status in (StatusLine(Console(file=buffer, force_terminal=False)), StatusLine(terminal()[0], enabled=False)):
        status.show("retrieving")
        status.stop()
    assert buffer.getvalue() == ""


def test_ask_reports_each_stage_before_the_answer(searcher):
    seen: list[str] = []
    tokens: list[str] = []
    llm = fake_llm(lambda prompt: '{"queries": ["How is a fused score computed?", "What does RRF add up?", "x y z"]}'
                   if "different ways" in prompt else "It sums 1 / (k + rank) over the rankings [1].")
    ask("How does reciprocal rank fusion score a document?", searcher, llm,
        AskConfig(strategy="multi-query", chain="stuff", k=3),
        on_status=lambda text: seen.append(("status", text)), on_token=lambda t: tokens.append(t) or seen.append("token"))
    statuses = [text for kind, text in (s for s in seen if s != "token")]
    assert statuses == ["rewriting the question", "retrieving", "reading 3 sources"]
    assert seen.index("token") > len(statuses) - 1  # every status comes before the first token


def test_the_model_load_hook_brackets_the_first_uncached_call_only():
    events: list[bool] = []
    llm = ChatLLM(lambda: FakeListChatModel(responses=["one", "two"]), "fake:list", 4096, {}, None)
    llm.on_load = events.append
    assert llm.complete("hi") == "one" and events == [True, False]
    assert llm.complete("again") == "two" and events == [True, False]  # loaded once


def ingested(tmp_path) -> Path:
    """DOCS ingested through the CLI into ``tmp_path/idx`` with the hash embedder; the config file used."""
    config = tmp_path / "fast.yaml"
    config.write_text("embedder: {kind: hash}\n")
    write_docs(tmp_path / "docs", DOCS)
    assert runner.invoke(app, ["ingest", str(tmp_path / "docs"), "--index", str(tmp_path / "idx"),
                               "--config", str(config)]).exit_code == 0
    return config


def test_captured_and_json_output_hold_no_status(tmp_path):
    config = ingested(tmp_path)
    for extra in ([], ["--json"]):
        result = runner.invoke(app, ["ask", "how does fusion score a document?", "--chain", "extract", "--index",
                                     str(tmp_path / "idx"), "--config", str(config), *extra])
        assert result.exit_code == 0, result.output
        assert "retrieving" not in result.output and "…" not in result.stderr


def read_pty(fd: int, process: subprocess.Popen, timeout: float = 120) -> bytes:
    """Everything the process writes to its terminal until it exits."""
    data, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            data += chunk
        elif process.poll() is not None:
            break
    return data


def test_on_a_real_terminal_the_status_comes_first_then_is_erased_for_the_answer(tmp_path):
    config = ingested(tmp_path)
    main, child = os.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm-256color", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen([sys.executable, "-c", "from ragkit.cli import run; run()", "ask",
                                "how does fusion score a document?", "--chain", "extract", "--index",
                                str(tmp_path / "idx"), "--config", str(config)],
                               stdin=child, stdout=child, stderr=child, env=env, cwd=tmp_path)
    os.close(child)
    try:
        shown = read_pty(main, process).decode("utf-8", "replace")
    finally:
        os.close(main)
        process.wait(timeout=60)
    assert process.returncode == 0, shown
    first_status = min(shown.find(s) for s in ("opening the index…", "retrieving…") if s in shown)
    assert 0 <= first_status < shown.index("Reciprocal rank fusion scores a document")
    assert "\x1b[2K" in shown  # the status line is erased before the answer is written


@pytest.mark.parametrize("how, expected", [("rules", "choosing a filter (rules)"), ("model", "choosing a filter")])
def test_a_self_query_says_it_is_choosing_a_filter(searcher, how, expected):
    seen: list[str] = []
    llm = fake_llm(lambda prompt: '{"query": "fusion", "filter": {}}' if "<fields>" in prompt else "RRF [1].")
    llm.structured_output = True   # as llama.cpp's and OpenAI's are (the fake ignores the schema)
    ask("How does reciprocal rank fusion score a document?", searcher, llm,
        AskConfig(strategy="self-query", self_query=how, chain="extract", k=3), on_status=seen.append)
    assert seen[0] == expected
