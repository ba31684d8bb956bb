"""``ragkit chat`` as a user meets it: in a real terminal (a pty) and with piped input, each answer
shown once; sessions listed, reopened with their last turns; /help, /sources, /exit."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.generation.chat import ChatHistory
from ragkit.llm import LLMS

from conftest import REPO
from fakes import fake_llm

QUESTIONS = ["Which planet has rings?", "Which animal hunts mice?"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
runner = CliRunner()


@pytest.fixture
def chat_env(docs, tmp_path, fast_cfg):
    """An ingested index, a config with the model-free extract chain, and a history file."""
    from ragkit.ingest.pipeline import ingest

    ingest(docs, tmp_path / "idx", fast_cfg)
    config = tmp_path / "chat.yaml"
    config.write_text("embedder: {kind: hash}\nsplitter: {chunk_size: 300, chunk_overlap: 30}\nask: {chain: extract}\n")
    return {"index": tmp_path / "idx", "config": config, "history": tmp_path / "chat.sqlite"}


def chat_args(env, session="demo", *extra):
    return ["chat", "--index", str(env["index"]), "--config", str(env["config"]),
            "--history", str(env["history"]), "--session", session, *extra]


def subprocess_env(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_CACHE_HOME=str(tmp_path / "cache"), COLUMNS="120", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    return env


def command(env):
    return [sys.executable, "-c", "from ragkit.cli import app; app()", *chat_args(env)]


def run_in_pty(argv, typed: str, env: dict, timeout: float = 120.0) -> tuple[int, str]:
    """Run ``argv`` with stdin, stdout and stderr on a pseudo-terminal; return (exit code, what the terminal showed)."""
    master, slave = os.openpty()
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO, close_fds=True)
    os.close(slave)
    os.write(master, typed.encode())
    shown = bytearray()
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                process.kill()
                pytest.fail(f"no output for {timeout} s; so far: {shown.decode(errors='replace')[-2000:]}")
            try:
                piece = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not piece:
                break
            shown += piece
    finally:
        os.close(master)
    return process.wait(timeout=timeout), ANSI.sub("", shown.decode(errors="replace")).replace("\r\n", "\n")


def stored_answers(env, session="demo") -> list[str]:
    history = ChatHistory(env["history"])
    try:
        return [content for role, content in history.messages(session) if role == "assistant"]
    finally:
        history.close()


def test_in_a_terminal_each_answer_is_shown_once(chat_env, tmp_path):
    typed = "".join(q + "\n" for q in QUESTIONS) + "/sources\n/help\n/exit\n"
    code, shown = run_in_pty(command(chat_env), typed, subprocess_env(tmp_path))
    assert code == 0, shown
    answers = stored_answers(chat_env)
    assert len(answers) == 2 and "Saturn" in answers[0] and "mice" in answers[1]
    for answer in answers:
        assert shown.count(answer) == 1, shown  # the bug this guards: the answer again, glued to itself
        assert f"ragkit> {answer}\n" in shown
    assert shown.count("Sources") == 3  # two answers, then /sources
    assert "/sources  show the last answer's sources again" in shown and "Bye." not in shown


def test_with_piped_input_each_answer_is_shown_once_and_stdout_holds_only_answers(chat_env, tmp_path):
    done = subprocess.run(command(chat_env), input="".join(q + "\n" for q in QUESTIONS), capture_output=True,
                          text=True, env=subprocess_env(tmp_path), cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    answers = stored_answers(chat_env)
    assert len(answers) == 2
    for answer in answers:
        assert done.stdout.count(answer) == 1, done.stdout
    assert "you>" not in done.stdout and done.stderr.count("you>") == 3 and "Bye." in done.stderr


def test_chat_json_prints_one_object_per_turn(chat_env):
    result = runner.invoke(app, chat_args(chat_env, "demo", "--json"), input="".join(q + "\n" for q in QUESTIONS))
    assert result.exit_code == 0, result.output
    turns = [json.loads(line) for line in result.stdout.splitlines()]
    assert [t["question"] for t in turns] == QUESTIONS and [t["session"] for t in turns] == ["demo", "demo"]
    assert [t["answer"] for t in turns] == stored_answers(chat_env)
    first = turns[0]
    assert first["citations"] and first["sources"][first["citations"][0] - 1]["source"] == "space/planets.txt"
    assert first["usage"] == {"llm_calls": 0, "cached_calls": 0, "prompt_tokens": 0, "completion_tokens": 0}


def test_list_shows_sessions_with_turns_and_last_use(chat_env):
    assert runner.invoke(app, chat_args(chat_env, "old"), input=QUESTIONS[0] + "\n").exit_code == 0
    assert runner.invoke(app, chat_args(chat_env, "new"), input="".join(q + "\n" for q in QUESTIONS)).exit_code == 0
    result = runner.invoke(app, ["chat", "--history", str(chat_env["history"]), "--list", "--json"])
    listed = json.loads(result.stdout)
    assert [(s["name"], s["turns"]) for s in listed] == [("new", 2), ("old", 1)]  # most recently used first
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", listed[0]["last_used"])
    table = runner.invoke(app, ["chat", "--history", str(chat_env["history"]), "--list"]).stdout
    assert re.search(r"new\s+.\s+2\s+.\s+\d{4}-\d\d-\d\d \d\d:\d\d", table) and "old" in table
    nowhere = chat_env["history"].with_name("none.sqlite")
    empty = runner.invoke(app, ["chat", "--history", str(nowhere), "--list"])
    assert empty.exit_code == 0 and "No sessions yet" in empty.stderr and not nowhere.exists()
    assert json.loads(runner.invoke(app, ["chat", "--history", str(nowhere), "--list", "--json"]).stdout) == []


def test_reopening_a_session_shows_its_last_turns(chat_env):
    questions = ["Which planet has rings?", "Which animal hunts mice?", "What is the Sun?", "Which dog learns commands?"]
    runner.invoke(app, chat_args(chat_env), input="".join(q + "\n" for q in questions))
    result = runner.invoke(app, chat_args(chat_env), input="/exit\n")
    assert result.exit_code == 0
    assert "(4 earlier turns)" in result.stderr and "Last 3 of 4 turns:" in result.stderr
    assert f"you> {questions[0]}" not in result.stderr
    for question, answer in zip(questions[1:], stored_answers(chat_env)[1:]):
        assert f"you> {question}\nragkit> {answer}" in result.stderr
    assert result.stdout == ""


def test_commands_help_sources_and_unknown(chat_env):
    result = runner.invoke(app, chat_args(chat_env), input="/sources\n/help\n/nonsense\n/exit\nnever asked\n")
    assert result.exit_code == 0
    assert "No answer yet" in result.stderr and "unknown command /nonsense" in result.stderr
    for name in ("/help", "/sources", "/exit"):
        assert name in result.stderr
    assert stored_answers(chat_env) == []  # /exit left before the last line


def test_a_streamed_model_answer_is_shown_once_and_a_removed_citation_is_only_noted(chat_env, monkeypatch):
    monkeypatch.setitem(LLMS, "fake", lambda cfg, cache_path: fake_llm(lambda p: "Saturn has rings [1][9].", None, cfg))
    result = runner.invoke(app, chat_args(chat_env, "demo", "--llm", "fake", "--chain", "stuff"),
                           input="Which planet has rings?\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("Saturn has rings") == 1 and "Checked answer" not in result.stdout
    assert "1 citation(s) to nothing retrieved were removed" in result.stdout
    assert stored_answers(chat_env) == ["Saturn has rings [1]."]
