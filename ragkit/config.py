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
import functools
import os
from dataclasses import field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, Strict, ValidationError
from pydantic.dataclasses import dataclass as pydantic_dataclass

from ragkit.choices import CHAINS, EXPANSIONS, FUSIONS, MODES, NORMALIZATIONS, REFUSALS, ROUTES, SELF_QUERY, STRATEGIES
from ragkit.errors import ConfigError, SettingError
from ragkit.yamlfile import YamlFile, describe, line_suffix, unknown_key

__all__ = ["Config", "LoaderLimits", "EmbedderConfig", "LLMConfig", "SplitterConfig", "SparseConfig",
           "DenseConfig", "PineconeConfig", "IngestConfig", "RayConfig", "SearchConfig", "RerankConfig", "AskConfig", "ConfigError",
           "SECTIONS", "BACKENDS", "register_backend_name",
           "effective_chain", "checks_support", "config_from_dict", "load_config"]

DEFAULT_INDEX_DIR = ".ragkit"

# YAML already types every value, so a quoted "false" or a 12.9 where a count belongs is a mistake
# to report, not to coerce (pydantic's lax mode reads "false" as False and "12" as 12).
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]     # an integer is a number too: timeout_s: 60 is fine
Bool = Annotated[bool, Strict()]
Weight = Annotated[Float, Field(ge=0)]


def _section(name: str):
    """Make ``cls`` a frozen pydantic dataclass: building it (or ``dataclasses.replace``) validates every
    field and raises :class:`SettingError` naming ``name.key``; unknown keys are refused."""
    def make(cls):
        cls = pydantic_dataclass(frozen=True, config=ConfigDict(extra="forbid"))(cls)
        validate = cls.__init__

        @functools.wraps(validate)
        def __init__(self, *args, **kwargs):
            try:
                validate(self, *args, **kwargs)
            except ValidationError as exc:
                keypath, reason = describe(exc.errors(), cls, prefix=(name,) if name else ())
                raise SettingError(reason, keypath) from None

        cls.__init__ = __init__
        return cls
    return make


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
    """How ingest runs (``engine``: local processes, or Ray: ragkit.ingest.ray_engine)."""

    engine: Literal["local", "ray"] = "local"


@_section("ray")
class RayConfig:
    """Ray for ``ingest.engine: ray``: ``address`` of a cluster (None: Ray on this machine), embedding actors."""

    address: str | None = None
    workers: Int = Field(2, ge=1)


DEFAULT_FUSION_WEIGHTS = {"dense": 0.6, "sparse": 0.4}   # fixed weights: a side search.weights does not give
DENSE_WEIGHT_BY_LENGTH = ((8, 0.7), (20, 0.2))
"""Default weighting (``search.weights`` empty): the dense weight by the query's distinct terms (stemmed, stopwords
out), 0.7 up to 8, linearly down to 0.2 at 20+; sparse gets the rest. Short queries (names) give BM25 too few words;
long ones carry their page's exact terms, which one embedding blurs. Chosen on the calibration halves of ten sets
(``benchmarks/own_words.py --choose-weights``: least lost to the better single retriever on the worst set)."""


@_section("search")
class SearchConfig:
    """Query-time defaults: mode, k, fusion (method, weights, normalisation, unit), candidate depth, route.

    The hybrid default — convex fusion of max-normalised scores, by document unit, sparse scores with
    document evidence, weights by query length (:data:`DENSE_WEIGHT_BY_LENGTH`) — was chosen on the calibration
    halves of nine data sets (BENCHMARKS.md). ``weights`` given (``{dense: 0.6, sparse: 0.4}``) fixes them.
    """

    mode: Literal[tuple(MODES)] = "hybrid"
    k: Int = Field(10, ge=1)
    rrf_k: Int = Field(60, ge=0)
    weights: dict[Literal["dense", "sparse"], Weight] = Field(   # empty: by query length (DENSE_WEIGHT_BY_LENGTH)
        default_factory=dict, description="a mapping of weights, e.g. {dense: 0.6, sparse: 0.4}")
    candidates: Int = Field(300, ge=1)
    fusion_unit: Literal["document", "chunk"] = "document"   # document (doc_id + page) | chunk
    fusion: Literal[tuple(FUSIONS)] = "convex"              # ragkit.choices.FUSIONS says what each does
    normalization: Literal[tuple(NORMALIZATIONS)] = "max"   # how convex puts both sides' scores on one scale
    # Sparse scores add the chunk's document's BM25 (each part scaled by its best): 1 counts both alike, 0 = chunk alone.
    document_weight: Float = Field(1.0, ge=0, le=10)
    # A reranker (ragkit.rerank; none | http | a registered name) re-scores the best rerank_candidates fused
    # results; its order decides the top k. 20 is a common default, not measured here: no reranker runs locally.
    rerank: str = "none"
    rerank_candidates: Int = Field(20, ge=1)
    route: Literal[tuple(ROUTES)] = "chunks"   # documents: route_documents documents first (ragkit.retrieval.route)
    route_documents: Int = Field(20, ge=1)


@_section("rerank")
class RerankConfig:
    """The ``rerank:`` section: the endpoint ``search.rerank: http`` calls (the ``/rerank`` API of Cohere, Jina,
    Voyage, Hugging Face TEI, vLLM and llama.cpp's server). ``api`` is the request's shape: ``cohere``
    ``{model, query, documents, top_n}`` (Cohere, Jina, vLLM, llama.cpp), ``voyage`` (``top_k``), ``tei``
    ``{query, texts}``; every response shape is read. The key is read from the variable ``api_key_env``
    names (none: no key sent); 429 and 5xx are retried ``retries`` times, doubling from ``backoff_s``."""

    url: str | None = None
    model: str | None = None
    api: Literal["cohere", "voyage", "tei"] = "cohere"
    api_key_env: str | None = None
    timeout_s: Float = Field(30.0, gt=0)
    retries: Int = Field(2, ge=0)
    backoff_s: Float = Field(0.5, ge=0)


@_section("ask")
class AskConfig:
    """The ``ask:`` section: how questions are answered (--strategy, --chain, --expand, -k override it)."""

    strategy: Literal[tuple(STRATEGIES)] = "none"
    self_query: Literal[tuple(SELF_QUERY)] = "model"   # rules: no model (ragkit.retrieval.self_query)
    chain: Literal[tuple(CHAINS)] = "auto"   # auto: see effective_chain
    expand: Literal[tuple(EXPANSIONS)] = "none"
    k: Int = Field(5, ge=1)                 # chunks handed to the generation chain
    depth: Int = Field(50, ge=1)            # chunks retrieved per query before fusion
    n_queries: Int = Field(3, ge=1, le=10)  # rewrites / sub-questions asked of the model
    ircot_steps: Int = Field(3, ge=1, le=10)  # reasoning sentences, each searched (ragkit.generation.ircot)
    window: Int = Field(2, ge=0)            # sentences either side for --expand window
    # Model chains refuse before the model when the sources do not hold the answer (ragkit.choices.REFUSALS).
    refuse: Literal[tuple(REFUSALS)] = "auto"
    # Token caps on the answer and on each step before it (a map, a refine step, a sub-answer), and a wall-clock
    # budget for the whole ask, past which the answer is extract's quotes with a note (0: none; issue 20).
    answer_tokens: Int = Field(256, ge=1)
    step_tokens: Int = Field(128, ge=1)
    budget_seconds: Float = Field(90.0, ge=0)


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


def effective_chain(chain: str, follows_instructions: bool) -> str:
    """``auto`` is ``stuff`` with a model that follows instructions and ``extract`` with any other (or none).

    The shipped local models' stuff answers trail extract's quotes (BENCHMARKS.md, "Models"); a capable
    model should write the answer.
    """
    if chain != "auto":
        return chain
    return "stuff" if follows_instructions else "extract"


def checks_support(refuse: str, follows_instructions: bool) -> bool:
    """Whether a model chain checks that the sources support an answer before calling the model (``ask.refuse``)."""
    return refuse == "always" or (refuse == "auto" and not follows_instructions)


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
