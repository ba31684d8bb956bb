"""Chat sessions persist in SQLite, resume by name, trim history; the CLI loop handles EOF."""

import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.config import AskConfig
from ragkit.generation.chat import ChatHistory, ChatSession, trim_history

from fakes import fake_llm


def test_session_is_saved_and_resumed(searcher, tmp_path):
    prompts = []

    def script(prompt):
        prompts.append(prompt)
        return "Saturn has rings [1]." if "Saturn" in prompt else "Cats hunt mice [1]."

    llm = fake_llm(script)
    history = ChatHistory(tmp_path / "chat.sqlite")
    first = ChatSession("s1", searcher, llm, AskConfig(), history)
    first.turn("Tell me about Saturn")
    history.close()

    again = ChatHistory(tmp_path / "chat.sqlite")
    assert again.messages("s1") == [("user", "Tell me about Saturn"), ("assistant", "Saturn has rings [1].")]
    resumed = ChatSession("s1", searcher, llm, AskConfig(), again)
    resumed.turn("and what about its rings?")
    assert "Conversation so far" in prompts[-1] and "Saturn has rings." in prompts[-1]
    assert len(again.messages("s1")) == 4 and again.sessions() == ["s1"]
    assert again.messages("other") == []


def test_an_interrupted_turn_is_not_saved(searcher, tmp_path):
    def script(prompt):
        raise KeyboardInterrupt

    llm = fake_llm(script)
    history = ChatHistory(tmp_path / "chat.sqlite")
    with pytest.raises(KeyboardInterrupt):
        ChatSession("s", searcher, llm, AskConfig(), history).turn("hello?")
    assert history.messages("s") == []


def test_history_is_trimmed_to_the_budget_newest_first():
    messages = [("user", "one two three")] * 10 + [("assistant", "newest answer")]
    kept = trim_history(messages, budget_tokens=20, count=lambda t: len(t.split()))
    assert kept[-1] == ("assistant", "newest answer") and len(kept) < len(messages)
    assert sum(len(c.split()) + 4 for _, c in kept) <= 20


def test_cli_chat_answers_and_leaves_on_eof(docs, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("embedder: {kind: hash}\nask: {chain: extract}\n")
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(docs), "--index", str(tmp_path / "idx"), "--config", str(config)]).exit_code == 0
    result = runner.invoke(app, ["chat", "--index", str(tmp_path / "idx"), "--config", str(config),
                                 "--history", str(tmp_path / "h.sqlite"), "--session", "demo"],
                           input="Which planet has rings?\n")
    assert result.exit_code == 0, result.output
    assert "Saturn" in result.stdout and "Bye." in result.stderr
    assert ChatHistory(tmp_path / "h.sqlite").messages("demo")[0] == ("user", "Which planet has rings?")


def test_the_extract_chain_quotes_for_the_new_message_not_the_earlier_turns(searcher, tmp_path):
    session = ChatSession("s", searcher, None, AskConfig(chain="extract"), ChatHistory(tmp_path / "chat.sqlite"))
    first = session.turn("Which planet has rings?")
    second = session.turn("Which animal hunts mice?")
    assert "Saturn" in first.answer.text
    # The earlier question still steers retrieval, but the quotes answer the new message.
    assert "mice" in second.answer.text and "Saturn" not in second.answer.text
