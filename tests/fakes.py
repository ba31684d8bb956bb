"""Test doubles: a scripted chat model, a scripted reranker and an in-memory dense store. Registered as
``llm.kind: fake``, ``search.rerank: fake`` and ``dense.backend: memory`` by conftest.

Never imported by the product: fakes live in the tests.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from ragkit.config import LLMConfig, RerankConfig
from ragkit.errors import LLMError, StoreError
from ragkit.llm.base import ChatLLM, message_text
from ragkit.rerank import Reranker
from ragkit.store.base import DenseStore, empty_result
from ragkit.store.generations import current_generation
from ragkit.store.manifest import read_manifest
from ragkit.text import tokenize

FAKE_CONTEXT = 8192


class ScriptedChatModel(BaseChatModel):
    """A chat model that answers from a script: a list (in order, never cycling) or ``f(prompt_text)``.

    Streams word by word (whitespace kept), so streaming code paths can be tested.
    """

    script: Any
    _position: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "ragkit-scripted"

    def _answer(self, messages: list[BaseMessage]) -> str:
        if callable(self.script):
            return str(self.script("\n\n".join(message_text(m.content) for m in messages)))
        if self._position >= len(self.script):
            raise LLMError("fake model script exhausted")
        self._position += 1
        return str(self.script[self._position - 1])

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self._answer(messages)))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for piece in re.findall(r"\s*\S+|\s+", self._answer(messages)):
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))


def fake_llm(script: Any, cache_dir: Path | None = None, cfg: LLMConfig | None = None) -> ChatLLM:
    """A :class:`ChatLLM` around a :class:`ScriptedChatModel`; cached only when ``cache_dir`` is given.

    The answers depend on a script the cache key cannot see, so a shared cache would replay
    another test's answers: no cache unless asked for.
    """
    cfg = cfg or LLMConfig(kind="fake")
    model = ScriptedChatModel(script=script if callable(script) else list(script))
    cache = Path(cache_dir) / "llm_cache.sqlite" if cache_dir is not None and cfg.cache else None
    params = {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens, "seed": cfg.seed}
    return ChatLLM(model, "fake:scripted", cfg.context_window or FAKE_CONTEXT, params, cache, kind=cfg.kind)


def build_fake(cfg: LLMConfig, cache_path: Path | None) -> ChatLLM:
    """The ``fake`` registry entry: a scripted model answering every prompt with a fixed cited sentence."""
    return fake_llm(lambda prompt: "Scripted answer [1].", None, cfg)


# --------------------------------------------------------------------------- rerankers


def overlap_scores(query: str, texts: list[str]) -> list[float]:
    """A cross-encoder's job done by counting: each text's share of the query's (stemmed) terms."""
    wanted = set(tokenize([query])[0])
    return [len(wanted & set(tokens)) / max(len(wanted), 1) for tokens in tokenize(list(texts))]


class ScriptedReranker(Reranker):
    """A reranker whose scores come from ``script(query, texts)`` (default :func:`overlap_scores`); it records every call.

    ``script`` may return anything, or raise: the stage's checks and fallbacks are what tests exercise.
    """

    name = "fake"
    model_id = "fake:scripted-reranker"

    def __init__(self, script=None):
        self.script = script or overlap_scores
        self.calls: list[tuple[str, list[str]]] = []

    def rerank(self, query: str, texts) -> list[float]:
        """The script's answer for ``(query, texts)``."""
        self.calls.append((query, list(texts)))
        return self.script(query, list(texts))


FAKE_RERANKERS: list[ScriptedReranker] = []   # every reranker built by the registry entry, newest last


def build_fake_reranker(cfg: RerankConfig) -> ScriptedReranker:
    """The ``fake`` reranker registry entry: scores by query-term overlap, unless ``rerank.model`` is ``reverse``
    (the fused order turned upside down, so a test sees every rank move)."""
    reverse = cfg.model == "reverse"
    reranker = ScriptedReranker((lambda query, texts: [float(i) for i in range(len(texts))]) if reverse else None)
    FAKE_RERANKERS.append(reranker)
    return reranker


# --------------------------------------------------------------------------- stores


class MemoryDense(DenseStore):
    """``dense.backend: memory``: vectors kept in this process's memory (a dict standing in for a vector
    database), searched exactly; a generation holds only the name of its collection.

    Written against :class:`~ragkit.store.base.DenseStore` alone, to show what a new backend takes:
    the abstract methods, plus the hooks it wants (``where``, ``stats``, ``finish_ingest``).
    """

    remote = True                         # the vectors are not in the index folder
    file_name = "memory-dense.json"
    COLLECTIONS: ClassVar[dict[str, tuple[str, np.ndarray]]] = {}   # collection -> (index folder, vectors)

    def __init__(self, dimension: int, collection: str | None = None):
        self.dimension = int(dimension)
        self.collection = collection
        self.blocks: list[np.ndarray] = []

    @property
    def size(self) -> int:
        """Number of vectors."""
        return sum(len(block) for block in self.blocks)

    def add(self, vectors: np.ndarray) -> None:
        """Append vectors."""
        self.blocks.append(np.asarray(vectors, dtype=np.float32).reshape(-1, self.dimension))

    def vectors(self, rows: np.ndarray | None = None) -> np.ndarray:
        """All vectors, or those of ``rows``."""
        matrix = np.concatenate(self.blocks) if self.blocks else np.zeros((0, self.dimension), np.float32)
        return matrix if rows is None else matrix[np.asarray(rows, dtype=np.int64)]

    def search(self, queries: np.ndarray, k: int, allowed_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact inner-product search; ties broken by row."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        rows = np.arange(self.size) if allowed_rows is None else np.unique(np.asarray(allowed_rows, dtype=np.int64))
        if not len(rows) or k <= 0:
            return empty_result(len(queries))
        scores = queries @ self.vectors(rows).T
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return rows[top], np.take_along_axis(scores, top, axis=1)

    def save(self, directory: Path) -> None:
        """Keep the vectors in memory under a new collection; the generation names it."""
        self.collection = uuid.uuid4().hex
        self.COLLECTIONS[self.collection] = (str(Path(directory).parent.resolve()), self.vectors())
        (Path(directory) / self.file_name).write_text(json.dumps({"collection": self.collection, "dimension": self.dimension}))

    @classmethod
    def load(cls, directory: Path) -> "MemoryDense":
        """The generation's collection (StoreError when this process does not hold it)."""
        described = json.loads((Path(directory) / cls.file_name).read_text())
        if described["collection"] not in cls.COLLECTIONS:
            raise StoreError(f"in-memory collection {described['collection']} is gone (another process?)")
        store = cls(described["dimension"], described["collection"])
        store.blocks = [cls.COLLECTIONS[store.collection][1]]
        return store

    def where(self) -> dict:
        """The collection, for the manifest."""
        return {"memory": {"collection": self.collection}}

    def stats(self) -> dict:
        """For ``ragkit info``: the vectors the collection holds now."""
        return {"records": len(self.COLLECTIONS.get(self.collection, ((), ()))[1])}

    @classmethod
    def finish_ingest(cls, index_dir: Path, options: dict) -> None:
        """Drop this index folder's collections but the live generation's."""
        live = read_manifest(current_generation(index_dir))["dense"].get("memory", {}).get("collection")
        for name, (owner, _) in list(cls.COLLECTIONS.items()):
            if owner == str(Path(index_dir).resolve()) and name != live:
                del cls.COLLECTIONS[name]
