"""What a model wrote about each chunk at ingest (questions, summaries) and their vectors, cached in the index folder.

Generation costs a model call per chunk (seconds each with a local model), so every result is committed as soon as
it is written: an ingest stopped by Ctrl-C or a crash keeps what it did, and the next ingest, or one after a file
changed, asks the model only about chunks it has not seen. Keys are hashes of the chunk's text and of what the text
was asked for (kind, count, model, prompt version), so a changed chunk is a new key and an unchanged one is found
wherever it moved. Vectors are kept per embedder beside the texts. The file is a cache: it sits beside the
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
    """Texts written per chunk (by key) and their vectors (by key and embedder), in ``index_dir/generated.sqlite``."""

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

    def texts(self, keys: list[str]) -> dict[str, list[str]]:
        """The cached texts of those ``keys`` that have them."""
        found: dict[str, list[str]] = {}
        for start in range(0, len(keys), 500):   # SQLite's bound-variable limit
            part = keys[start:start + 500]
            marks = ",".join("?" * len(part))
            for key, texts in self._db.execute(f"SELECT key, texts FROM generated WHERE key IN ({marks})", part):
                found[key] = json.loads(texts)
        return found

    def put_texts(self, key: str, texts: list[str], model: str, seconds: float) -> None:
        """Store what the model wrote for ``key`` (an empty list records an unusable reply: not asked again), committed."""
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO generated VALUES (?, ?, ?, ?, ?)",
                             (key, json.dumps(texts, ensure_ascii=False), model, seconds, time.time()))

    def vectors(self, keys: list[str], embedder: str, dimension: int) -> dict[str, np.ndarray]:
        """The cached vectors (one row per text) of those ``keys`` that have them for ``embedder``."""
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(f"SELECT key, data FROM vectors WHERE embedder = ? AND dimension = ? AND key IN ({marks})",
                                    [embedder, dimension, *part])
            for key, data in rows:
                found[key] = np.frombuffer(data, dtype=np.float32).reshape(-1, dimension)
        return found

    def put_vectors(self, items: dict[str, np.ndarray], embedder: str) -> None:
        """Store vectors by key for ``embedder``, in one transaction."""
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)",
                                 [(key, embedder, int(v.shape[1]), np.ascontiguousarray(v, dtype=np.float32).tobytes())
                                  for key, v in items.items()])

    def close(self) -> None:
        """Release the database."""
        self._db.close()


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30)
    db.execute("CREATE TABLE IF NOT EXISTS generated (key TEXT PRIMARY KEY, texts TEXT, model TEXT, seconds REAL, "
               "created REAL)")
    db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT, embedder TEXT, dimension INTEGER, data BLOB, "
               "PRIMARY KEY (key, embedder))")
    db.commit()
    return db
