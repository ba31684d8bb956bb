"""Configuration: a YAML file mapped onto small frozen dataclasses, with errors that name the key.

Each section is declared once, as a frozen pydantic dataclass: unknown keys are refused, fixed
choices are ``Literal``s, numbers carry their ranges, and booleans and integers are strict (a
quoted ``"false"`` or a ``12.9`` is an error, not coerced). They stay ordinary dataclasses for
callers (``dataclasses.replace``, ``asdict``, ``fields``); building one, by hand or by ``replace``,
validates it and raises :class:`~ragkit.errors.SettingError` naming ``section.key``. Backend names
(``llm.kind``, ``embedder.kind``, ``dense.backend``, ``sparse.backend``, …) are open: registries add
them to :data:`BACKENDS`, and :func:`config_from_dict` checks them.

Every setting has a default, so no config file is needed for the embedded default. A config
file only lists what it changes::

    index: .ragkit            # where the index lives (the --index option wins)
    splitter: {kind: recursive, chunk_size: 1000, chunk_overlap: 100}
    embedder: {kind: local}   # local | openai | hash
    search: {mode: hybrid, k: 10, weights: {dense: 0.6, sparse: 0.4}}
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import field
from pathlib import Path
from typing import Literal

from pydantic import Field

from ragkit.errors import ConfigError, SettingError
from ragkit.query_config import (
    DEFAULT_FUSION_WEIGHTS,
    DENSE_WEIGHT_BY_LENGTH,
    AskConfig,
    RerankConfig,
    SearchConfig,
    checks_support,
    effective_chain,
)
from ragkit.sections import Bool, Float, Int
from ragkit.sections import section as _section
from ragkit.yamlfile import YamlFile, line_suffix, unknown_key

__all__ = ["Config", "LoaderLimits", "EmbedderConfig", "LLMConfig", "SplitterConfig", "SparseConfig",
           "DenseConfig", "PineconeConfig", "IngestConfig", "RayConfig", "SearchConfig", "RerankConfig", "AskConfig", "ConfigError",
           "SECTIONS", "BACKENDS", "register_backend_name",
           "effective_chain", "checks_support", "config_from_dict", "load_config",
           "DEFAULT_FUSION_WEIGHTS", "DENSE_WEIGHT_BY_LENGTH"]

DEFAULT_INDEX_DIR = ".ragkit"


@_section("loader")
class LoaderLimits:
    """Resource limits for loading; field names are the `loader.*` config keys."""

    max_file_mb: Float = Field(100.0, gt=0)
    pdf_max_pages: Int = Field(5000, ge=1)
    pdf_timeout_s: Float = Field(300.0, gt=0)
    pdf_max_memory_mb: Int = Field(4096, ge=1)
    pdf_array_max_elements: Int = Field(10_000_000, ge=1)  # pypdf's own 100,000 refuses real 10-Q filings
    workers: Int = Field(2, ge=0)                          # 0: PDFs load in-process, without limits
    pdf_clean_pages: Bool = True                           # drop running headers/footers, page numbers, stray ids
    pdf_tables: Bool = True                                # re-read table pages in layout mode: rows whole, periods composed


@_section("embedder")
class EmbedderConfig:
    """The ``embedder:`` section of the config (``kind``: one of BACKENDS["embedder", "kind"])."""

    kind: str = "local"
    model: str | None = None
    dimension: Int | None = Field(None, ge=1)
    base_url: str | None = None
    batch_size: Int = Field(16, ge=1)      # 32 peaked at ~1.5 GB with no speed gain; 16 at ~0.9 GB
    threads: Int = Field(0, ge=0)          # 0: all cores


@_section("llm")
class LLMConfig:
    """The ``llm:`` section (``kind``: local | openai | langchain, or a registered backend). ``model``: the
    openai model name, ``provider:model`` for langchain, or for local a shipped model's name
    (``smollm2-135m``, the default, or ``qwen2.5-coder-1.5b``; ``ragkit models`` lists them) or a .gguf path. Keys never live here: they come from the environment (``OPENAI_API_KEY``, …)."""

    kind: str = "local"
    model: str | None = None
    base_url: str | None = None
    temperature: Float = Field(0.0, ge=0, le=2)
    max_tokens: Int = Field(384, ge=1)
    context_window: Int = Field(0, ge=0)   # 0: the model's default
    timeout_s: Float = Field(60.0, gt=0)
    threads: Int = Field(0, ge=0)          # 0: all cores
    cache: Bool = True
    seed: Int = 0


@_section("splitter")
class SplitterConfig:
    """How documents are cut into chunks (``kind``: recursive | token | markdown).

    ``chunk_size`` and ``chunk_overlap`` count characters, or tokens for ``kind: token``, or
    MiniLM word pieces (the local embedder's own tokens) with ``length: wordpieces``.
    The default stays within MiniLM's 256 word pieces (~1,000 characters of English).
    ``parent_size`` (characters; 0 turns parents off) sets the sections that
    parent-document retrieval hands to the model. ``context`` puts a line naming where each chunk
    is (title or file name, heading path, PDF page) before its text in the indexes (on by default: it helped
    the filings most and SciFact a little, issue 8).
    """

    kind: Literal["recursive", "token", "markdown"] = "recursive"
    chunk_size: Int = Field(1000, ge=1)
    chunk_overlap: Int = Field(100, ge=0)
    encoding: str = "cl100k_base"
    parent_size: Int = Field(4000, ge=0)
    context: bool = True
    length: Literal["characters", "wordpieces"] = "characters"

    def __post_init__(self):
        # Runs after the fields validated, also when the section is built from a config mapping.
        if self.chunk_overlap >= self.chunk_size:
            raise SettingError(f"'splitter.chunk_overlap' ({self.chunk_overlap}) must be smaller than "
                               f"'splitter.chunk_size' ({self.chunk_size})", ("splitter", "chunk_overlap"))
        if self.kind == "token" and self.length != "characters":
            raise SettingError("'splitter.length' must be characters for kind: token (its sizes are tiktoken tokens)",
                               ("splitter", "length"))
        if 0 < self.parent_size <= self.chunk_size and self.kind != "token" and self.length == "characters":
            raise SettingError(f"'splitter.parent_size' ({self.parent_size}) must be larger than "
                               f"'splitter.chunk_size' ({self.chunk_size}), or 0 to turn parents off",
                               ("splitter", "parent_size"))


@_section("sparse")
class SparseConfig:
    """BM25 settings (bm25s; ``method`` lucene | robertson | atire | bm25l | bm25+).

    ``backend``: ``bm25s`` (in the index folder), ``pinecone`` (BM25 term weights in a sparse
    Pinecone index, ``pinecone.sparse_host``; lucene only), or a registered backend.
    """

    backend: str = "bm25s"
    method: Literal["lucene", "robertson", "atire", "bm25l", "bm25+"] = "lucene"
    k1: Float = Field(1.5, ge=0)
    b: Float = Field(0.75, ge=0, le=1)
    stemmer: str | None = "english"
    stopwords: str | None = "en"


@_section("dense")
class DenseConfig:
    """The dense index: where the vectors live, and the FAISS index built when they live here.

    ``backend``: ``faiss`` (in the index folder), ``pinecone`` (the ``pinecone:`` section), or a
    registered backend; the index fields below are FAISS's and apply to it only. ``index``: flat | hnsw | ivf | auto;
    benchmarks/scale.py measured the defaults. ``auto`` is flat (exact) below ``auto_flat_below``
    vectors, else IVF (its recall held on near-duplicate vectors where HNSW's fell). ``ivf_lists`` 0
    means about 4 x sqrt(vectors); too few vectors to train them falls back to flat, and ingest says
    so. ``hnsw_ef_search`` and ``ivf_probe`` 0 mean by size (``ragkit.store.backends.faiss.ann.search_width``).
    """

    backend: str = "faiss"
    index: Literal["flat", "hnsw", "ivf", "auto"] = "auto"
    hnsw_m: Int = Field(32, ge=4, le=256)
    hnsw_ef_construction: Int = Field(80, ge=8)
    hnsw_ef_search: Int = Field(0, ge=0)     # 0: by size (256 / 512 / 1024 at 10k / 100k / 1M vectors)
    ivf_lists: Int = Field(0, ge=0)
    ivf_probe: Int = Field(0, ge=0)          # 0: by size (128 / 256 at 100k / 1M vectors)
    auto_flat_below: Int = Field(50_000, ge=0)


@_section("pinecone")
class PineconeConfig:
    """Pinecone indexes for ``dense.backend: pinecone`` and ``sparse.backend: pinecone``. The key comes from ``PINECONE_API_KEY`` only.

    ``host`` (or ``$PINECONE_HOST``) is the index's data-plane address; without one, ``index_name``
    is looked up through the control plane. ``adopt`` lets ragkit take over a namespace that already
    holds records it did not write (they are deleted after the ingest). Upserts are cut at
    ``batch_records`` records and ``batch_mb`` MB (the service allows 1,000 and 2 MB); a 429 is retried
    ``retries`` times with doubling back-off from ``backoff_s``; ingest waits up to ``visible_timeout_s``
    for its records to be queryable.
    """

    host: str | None = None
    index_name: str | None = None
    namespace: str = "ragkit"
    metric: Literal["cosine", "dotproduct"] = "cosine"
    adopt: Bool = False
    batch_records: Int = Field(200, ge=1, le=1000)
    batch_mb: Float = Field(2.0, gt=0, le=2)
    retries: Int = Field(8, ge=0)
    backoff_s: Float = Field(0.5, ge=0)
    visible_timeout_s: Float = Field(60.0, gt=0)
    sparse_host: str | None = None          # sparse.backend: pinecone: the sparse index (null: $PINECONE_SPARSE_HOST)
    sparse_index_name: str | None = None    # or its name, looked up through the control plane


@_section("ingest")
class IngestConfig:
    """How ingest runs (``engine``: local processes, or Ray: ragkit.ingest.ray_engine), and what it writes besides chunks.

    ``questions`` (N > 0) and ``summaries`` have the ``llm:`` model write, per chunk, N questions the chunk answers and
    a one-sentence summary; each is embedded as an extra vector pointing at its chunk, and dense search scores a chunk
    by its best vector (:mod:`ragkit.ingest.multi_vector`). They cost a model call per chunk, are cached by the chunk's
    text, and are off by default: BENCHMARKS.md, "Multi-vector", says where they won.
    """

    engine: Literal["local", "ray"] = "local"
    questions: Int = Field(0, ge=0, le=10)
    summaries: Bool = False


@_section("ray")
class RayConfig:
    """Ray for ``ingest.engine: ray``: ``address`` of a cluster (None: Ray on this machine), embedding actors."""

    address: str | None = None
    workers: Int = Field(2, ge=1)


@_section("")
class Config:
    """The whole configuration."""

    index: str = Field(DEFAULT_INDEX_DIR, description="a folder path")
    loader: LoaderLimits = field(default_factory=LoaderLimits)
    splitter: SplitterConfig = field(default_factory=SplitterConfig)
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)
    sparse: SparseConfig = field(default_factory=SparseConfig)
    dense: DenseConfig = field(default_factory=DenseConfig)
    pinecone: PineconeConfig = field(default_factory=PineconeConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    rerank: RerankConfig = field(default_factory=RerankConfig)
    ask: AskConfig = field(default_factory=AskConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)


# The sections of a config file, in order, and their classes (``index`` is a plain setting).
SECTIONS: dict[str, type] = {"loader": LoaderLimits, "splitter": SplitterConfig, "embedder": EmbedderConfig,
                             "sparse": SparseConfig, "dense": DenseConfig, "pinecone": PineconeConfig,
                             "ingest": IngestConfig, "ray": RayConfig,
                             "search": SearchConfig, "rerank": RerankConfig, "ask": AskConfig, "llm": LLMConfig}


# Backend names a config may use: the built-in ones, plus any a registry adds (register_llm,
# register_embedder, …), so a config naming an unknown backend fails at load time with its file
# and key, without importing the backends themselves (they are slow to import). Building a
# section by hand does not check them: the registry names an unknown backend when asked to build it.
BACKENDS: dict[tuple[str, str], set[str]] = {("llm", "kind"): {"local", "openai", "langchain"},
                                             ("embedder", "kind"): {"local", "openai", "hash"},
                                             ("search", "rerank"): {"none", "http"},
                                             ("dense", "backend"): {"faiss", "pinecone"},
                                             ("sparse", "backend"): {"bm25s", "pinecone"}}


def register_backend_name(section: str, key: str, name: str) -> None:
    """Accept ``name`` as a value of ``section.key`` (called by the backend registries)."""
    BACKENDS.setdefault((section, key), set()).add(name)


def config_from_dict(raw: dict | None, where: str = "config", lines: dict | None = None) -> Config:
    """Validate a parsed config mapping into a :class:`Config`.

    Errors are :class:`SettingError`: ``<where>[ line N]: <reason naming the key>``, the line taken
    from ``lines`` (key path -> line, as :class:`ragkit.yamlfile.YamlFile` reads them) when given.
    """
    def fail(keypath: tuple, reason: str) -> SettingError:
        return SettingError(f"{where}{line_suffix(lines or {}, keypath)}: {reason}", keypath, reason)

    raw = raw or {}
    if not isinstance(raw, dict):
        raise fail((), f"the file must hold a mapping of sections, got {type(raw).__name__}")
    for key in raw:
        if key != "index" and key not in SECTIONS:
            raise fail((key,), unknown_key((key,), ["index", *SECTIONS], noun="section"))
    if isinstance(raw.get("index"), dict):   # ``index: {questions: 3}``: the multi-vector settings live under ingest:
        raise fail(("index",), "'index' is the index folder (a path); questions and summaries per chunk are "
                               "'ingest.questions' and 'ingest.summaries'")
    try:   # an empty section (``search:`` with nothing under it) means its defaults
        cfg = Config(**{key: value for key, value in raw.items() if value is not None or key == "index"})
    except SettingError as exc:
        raise fail(exc.keypath, exc.reason) from None
    for (section, key), names in BACKENDS.items():
        value = getattr(getattr(cfg, section), key)
        if value not in names:
            raise fail((section, key), f"'{section}.{key}' is {value!r}; choose one of {', '.join(sorted(names))}")
    return cfg


def load_config(path: str | Path | None) -> Config:
    """Load a YAML config file; ``None`` means defaults (or ``$RAGKIT_CONFIG`` when set)."""
    path = path or os.environ.get("RAGKIT_CONFIG")
    if not path:
        return Config()
    path = Path(path)
    src = YamlFile(path, what="config file")
    cfg = config_from_dict(src.raw, where=str(path), lines=src.lines)
    # A relative index path in a config file is relative to that file, like every path in it.
    if not Path(cfg.index).is_absolute() and "index" in (src.raw or {}):
        cfg = dataclasses.replace(cfg, index=str((path.parent / cfg.index)))
    return cfg
