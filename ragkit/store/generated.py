"""What a model wrote about each chunk at ingest (questions, summaries) and the vectors of what was kept, cached.

Generation costs a model call per chunk (seconds each with a local model), so every result is committed as soon as
it is written: an ingest stopped by Ctrl-C or a crash keeps what it did, and the next ingest, or one after a file
changed, asks the model only about chunks it has not seen. Keys are hashes of the chunk's text and of what the text
was asked for (kind, count, model, prompt version), so a changed chunk is a new key and an unchanged one is found
wherever it moved. Replies are kept raw and cleaned when read; the vectors of the texts kept are cached per text and
embedder. The file is a cache: it sits beside the
generations, not in one, and a damaged one is set aside and started anew (the texts are written again).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

import numpy as np

FILE_NAME = "generated.sqlite"


def generated_key(kind: str, passage: str, recipe: dict) -> str:
    """The key of what was asked about ``passage``: a SHA-256 of the kind, the recipe (count, model, prompt
    version, parameters) and the passage."""
    body = json.dumps({"kind": kind, "recipe": recipe, "passage": passage}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8", "backslashreplace")).hexdigest()


class GeneratedCache:
    """Model replies per chunk (by key, raw: cleaned when read, so a better cleaning rule needs no new call) and the
    vectors of the texts kept from them (by text and embedder), in ``index_dir/generated.sqlite``."""

    def __init__(self, index_dir: Path):
        self.path = Path(index_dir) / FILE_NAME
        self.note: str | None = None   # set when a damaged file was set aside
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            return _connect(self.path)
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{FILE_NAME}.damaged-{int(time.time())}")
            self.path.replace(aside)
            self.note = f"the cache of generated questions and summaries was unreadable ({exc}); set aside as {aside.name}"
            return _connect(self.path)

    def replies(self, keys: list[str]) -> dict[str, str]:
        """The cached replies of those ``keys`` that have one."""
        return dict(self._select("SELECT key, reply FROM replies WHERE key IN ({})", [], keys))

    def put_reply(self, key: str, reply: str, model: str, seconds: float) -> None:
        """Store the model's reply for ``key``, committed at once (a stopped ingest keeps it)."""
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?)",
                             (key, reply, model, seconds, time.time()))

    def vectors(self, text_keys: list[str], embedder: str, dimension: int) -> dict[str, np.ndarray]:
        """The cached vectors of those ``text_keys`` (see :func:`text_key`) that have one for ``embedder``."""
        found = self._select("SELECT key, data FROM vectors WHERE embedder = ? AND dimension = ? AND key IN ({})",
                             [embedder, dimension], text_keys)
        return {key: np.frombuffer(data, dtype=np.float32) for key, data in found}

    def put_vectors(self, items: dict[str, np.ndarray], embedder: str) -> None:
        """Store one vector per text key for ``embedder``, in one transaction."""
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)",
                                 [(key, embedder, int(v.shape[-1]), np.ascontiguousarray(v, dtype=np.float32).tobytes())
                                  for key, v in items.items()])

    def _select(self, sql: str, params: list, keys: list[str]) -> list[tuple]:
        rows: list[tuple] = []
        for start in range(0, len(keys), 500):   # SQLite's bound-variable limit
            part = keys[start:start + 500]
            rows += self._db.execute(sql.format(",".join("?" * len(part))), [*params, *part]).fetchall()
        return rows

    def close(self) -> None:
        """Release the database."""
        self._db.close()


def text_key(kind: str, text: str) -> str:
    """The key of one kept text's vector: its kind counts (an embedder may embed a question as a query)."""
    return hashlib.sha256(f"{kind}\0{text}".encode("utf-8", "backslashreplace")).hexdigest()


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30)
    db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, reply TEXT, model TEXT, seconds REAL, "
               "created REAL)")
    db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT, embedder TEXT, dimension INTEGER, data BLOB, "
               "PRIMARY KEY (key, embedder))")
    db.commit()
    return db
