"""The model-call cache: answers in one SQLite file (no pickle), keyed by a hash of the whole request.

Several ragkit processes may share one cache file (WAL), and the eval runner calls from worker
threads, so every access takes the cache's own lock.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path


class LLMCache:
    """Answers by request key, with the token counts of the call that produced them.

    The database is opened on first use, so building a cache touches no file.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    @staticmethod
    def key(request: dict) -> str:
        """The cache key of a request (model id, messages, parameters): a SHA-256 of its canonical JSON."""
        return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def get(self, key: str) -> str | None:
        """The cached answer for ``key``, or None."""
        with self._lock:
            row = self._conn().execute("SELECT text FROM llm_cache WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, model_id: str, text: str, prompt_tokens: int, completion_tokens: int) -> None:
        """Store (or replace) the answer for ``key``."""
        with self._lock, self._conn() as db:  # the connection as context manager commits
            db.execute("INSERT OR REPLACE INTO llm_cache VALUES (?, ?, ?, ?, ?, ?)",
                       (key, model_id, text, prompt_tokens, completion_tokens, time.time()))

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False + our lock: the eval runner may call from worker threads
            db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")  # several ragkit processes may share one cache
            db.execute("CREATE TABLE IF NOT EXISTS llm_cache (key TEXT PRIMARY KEY, model_id TEXT, text TEXT,"
                       " prompt_tokens INTEGER, completion_tokens INTEGER, created REAL)")
            db.commit()
            self._db = db
        return self._db
