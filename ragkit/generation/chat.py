"""Chat: a conversation over an index, persisted in SQLite so ``ragkit chat --session NAME`` resumes it.

Each turn is answered by :func:`ragkit.generation.ask.ask`; the conversation so far (trimmed to a token
budget, oldest turns dropped first) travels with the question so follow-ups like "and how
does it score?" make sense. Retrieval uses the new message plus the previous user message.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ragkit.config import AskConfig, effective_chain
from ragkit.generation.ask import AskResult, ask, usage_json
from ragkit.generation.citations import strip_citations
from ragkit.llm.base import ChatModel
from ragkit.paths import data_dir
from ragkit.retrieval.search import Searcher

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    session TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_session ON messages(session, id);
"""


@dataclass(frozen=True)
class SessionSummary:
    """A stored session as ``ragkit chat --list`` shows it: its name, completed turns and last use (epoch seconds)."""

    name: str
    turns: int
    last_used: float


def default_history_path() -> Path:
    """Where conversations are kept: ``$XDG_DATA_HOME/ragkit/chat.sqlite`` (or ~/.local/share)."""
    return data_dir() / "chat.sqlite"


class ChatHistory:
    """Messages of named sessions in SQLite."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path or default_history_path())
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path)
        self.conn.executescript(SCHEMA)

    def messages(self, session: str) -> list[tuple[str, str]]:
        """(role, content) pairs of a session, oldest first."""
        return list(self.conn.execute("SELECT role, content FROM messages WHERE session = ? ORDER BY id", (session,)))

    def add(self, session: str, role: str, content: str) -> None:
        """Append one message and commit, so a crash loses at most the turn in progress."""
        self.conn.execute("INSERT INTO messages(session, role, content, created) VALUES (?,?,?,?)",
                          (session, role, content, time.time()))
        self.conn.commit()

    def sessions(self) -> list[str]:
        """Names of the stored sessions."""
        return [name for (name,) in self.conn.execute("SELECT DISTINCT session FROM messages ORDER BY session")]

    def summaries(self) -> list[SessionSummary]:
        """Every stored session with its number of turns and last use, most recently used first."""
        rows = self.conn.execute("SELECT session, SUM(role = 'user'), MAX(created) FROM messages "
                                 "GROUP BY session ORDER BY MAX(created) DESC, session")
        return [SessionSummary(name, int(turns), float(last)) for name, turns, last in rows]

    def last_turns(self, session: str, count: int) -> list[tuple[str, str]]:
        """The last ``count`` (question, answer) pairs of a session, oldest first."""
        messages = self.messages(session)
        # A turn is stored as a user message followed by its answer (both written when it completes).
        pairs = [(content, messages[i + 1][1]) for i, (role, content) in enumerate(messages[:-1])
                 if role == "user" and messages[i + 1][0] == "assistant"]
        return pairs[-count:] if count > 0 else []

    def close(self) -> None:
        """Close the database."""
        self.conn.close()


def trim_history(messages: list[tuple[str, str]], budget_tokens: int, count: Callable[[str], int]) -> list[tuple[str, str]]:
    """The most recent messages whose total size fits ``budget_tokens`` (whole turns, newest kept)."""
    kept: list[tuple[str, str]] = []
    used = 0
    for role, content in reversed(messages):
        cost = count(content) + 4
        if used + cost > budget_tokens:
            break
        kept.append((role, content))
        used += cost
    return list(reversed(kept))


class ChatSession:
    """One conversation: ``turn(message)`` answers it in the light of the earlier turns."""

    def __init__(self, name: str, searcher: Searcher, llm: ChatModel | None, cfg: AskConfig, history: ChatHistory,
                 *, mode: str | None = None, filters: dict | None = None, history_share: float = 0.25):
        self.name, self.searcher, self.llm, self.cfg = name, searcher, llm, cfg
        self.history, self.mode, self.filters = history, mode, filters or {}
        window = llm.context_window if llm is not None else 2048
        self.budget = int(window * history_share)

    def _chain(self) -> str:
        return effective_chain(self.cfg.chain, self.llm is not None and self.llm.follows_instructions)

    def _count(self, text: str) -> int:
        return self.llm.count_tokens(text) if self.llm is not None else len(text.split())

    def turn(self, message: str, on_token: Callable[[str], None] | None = None,
             on_status: Callable[[str], None] | None = None) -> AskResult:
        """Answer ``message``; both it and the answer are stored only when the answer completes.

        ``on_status`` hears the stages before the answer starts (see :func:`~ragkit.generation.ask.ask`).
        """
        past = trim_history(self.history.messages(self.name), self.budget, self._count)
        question = message.strip()
        # The extract chain quotes the sentences that best match the question's words: the earlier
        # turns would make it quote the previous answer again. Retrieval still sees the topic.
        if past and self._chain() != "extract":
            lines = [f"{'User' if role == 'user' else 'Assistant'}: {strip_citations(content)}" for role, content in past]
            question = f"{question}\n\nConversation so far (for context):\n" + "\n".join(lines)
        result = ask(question, self.searcher, self.llm, self.cfg, mode=self.mode, filters=self.filters,
                     on_token=on_token, retrieval_query=self._retrieval_query(message, past), on_status=on_status,
                     asked=message.strip())
        self.history.add(self.name, "user", message.strip())
        self.history.add(self.name, "assistant", result.answer.text)
        return result

    @staticmethod
    def _retrieval_query(message: str, past: list[tuple[str, str]]) -> str:
        # A follow-up ("and why?") alone retrieves nothing useful; the previous user message
        # carries the topic.
        previous = next((content for role, content in reversed(past) if role == "user"), "")
        return f"{message.strip()} {previous}".strip()


def turn_json(session: str, message: str, result: AskResult) -> dict:
    """One chat turn as ``ragkit chat --json`` prints it: the message as typed, the answer, citations, sources, usage
    (and the rerank step, as ``ragkit ask --json`` has it, when a reranker ran)."""
    answer = result.answer.to_json()
    return {"session": session, "question": message.strip(), "answer": answer["text"],
            "citations": answer["citations"], "sources": answer["sources"], "refused": answer["refused"],
            "support": answer["support"], "answered_by": answer["answered_by"],
            "fallback_reason": answer["fallback_reason"], "usage": usage_json(result.usage),
            **({"rerank": result.rerank} if result.rerank is not None else {})}
