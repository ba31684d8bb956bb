"""Configuration: a YAML file mapped onto small frozen dataclasses, with errors that name the key.

Every setting has a default, so no config file is needed for the embedded default. A config
file only lists what it changes::

    index: .ragkit            # where the index lives (the --index option wins)
    splitter: {kind: recursive, chunk_size: 1000, chunk_overlap: 100}
    embedder: {kind: local}   # local | openai | hash
    search: {mode: hybrid, k: 10, weights: {dense: 1.0, sparse: 1.0}}
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ragkit.errors import ConfigError

DEFAULT_INDEX_DIR = ".ragkit"


@dataclass(frozen=True)
class LoaderLimits:
    """Resource limits for loading; field names are the `loader.*` config keys."""

    max_file_mb: float = 100.0
    pdf_max_pages: int = 5000
    pdf_timeout_s: float = 300.0
    pdf_max_memory_mb: int = 4096
    pdf_array_max_elements: int = 10_000_000  # pypdf's own 100,000 refuses real 10-Q filings
    workers: int = 2


@dataclass(frozen=True)
class EmbedderConfig:
    """The ``embedder:`` section of the config."""

    kind: str = "local"
    model: str | None = None
    dimension: int | None = None
    base_url: str | None = None
    batch_size: int = 16     # 32 peaked at ~1.5 GB with no speed gain; 16 at ~0.9 GB
    threads: int = 0


@dataclass(frozen=True)
class LLMConfig:
    """The ``llm:`` section (``kind``: local | openai | fake). ``model``: the openai model name, or a
    .gguf path replacing the shipped local model. Keys never live here: ``OPENAI_API_KEY``."""

    kind: str = "local"
    model: str | None = None
    base_url: str | None = None
    temperature: float = 0.0
    max_tokens: int = 384
    context_window: int = 0
    timeout_s: float = 60.0
    threads: int = 0
    cache: bool = True
    seed: int = 0


@dataclass(frozen=True)
class SplitterConfig:
    """How documents are cut into chunks (``kind``: recursive | token | markdown).

    ``chunk_size`` and ``chunk_overlap`` count characters, or tokens for ``kind: token``.
    The default stays within MiniLM's 256 word pieces (~1,000 characters of English).
    ``parent_size`` (characters; 0 turns parents off) sets the sections that
    parent-document retrieval hands to the model.
    """

    kind: str = "recursive"
    chunk_size: int = 1000
    chunk_overlap: int = 100
    encoding: str = "cl100k_base"
    parent_size: int = 4000


@dataclass(frozen=True)
class SparseConfig:
    """BM25 settings (bm25s; ``method`` lucene | robertson | atire | bm25l | bm25+)."""

    method: str = "lucene"
    k1: float = 1.5
    b: float = 0.75
    stemmer: str | None = "english"
    stopwords: str | None = "en"


@dataclass(frozen=True)
class SearchConfig:
    """Query-time defaults: mode, k, reciprocal rank fusion constant, weights, candidate depth."""

    mode: str = "hybrid"
    k: int = 10
    rrf_k: int = 60
    weights: dict = field(default_factory=lambda: {"dense": 1.0, "sparse": 1.0})
    candidates: int = 300
    fusion_unit: str = "document"   # document (doc_id + page) | chunk
    fusion: str = "rrf"             # rrf | convex (weighted sum of min-max normalised scores)


@dataclass(frozen=True)
class AskConfig:
    """The ``ask:`` section: how questions are answered (--strategy, --chain, --expand, -k override it)."""

    strategy: str = "none"      # none | multi-query | rag-fusion | hyde | step-back | decompose
    chain: str = "auto"         # auto | stuff | map-reduce | refine | extract (auto: see effective_chain)
    expand: str = "none"        # none | parent | window
    k: int = 5                  # chunks handed to the generation chain
    depth: int = 50             # chunks retrieved per query before fusion
    n_queries: int = 3          # rewrites / sub-questions asked of the model
    window: int = 2             # sentences either side for --expand window


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    index: str = DEFAULT_INDEX_DIR
    loader: LoaderLimits = field(default_factory=LoaderLimits)
    splitter: SplitterConfig = field(default_factory=SplitterConfig)
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)
    sparse: SparseConfig = field(default_factory=SparseConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    ask: AskConfig = field(default_factory=AskConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)


_SECTIONS = {
    "loader": LoaderLimits,
    "splitter": SplitterConfig,
    "embedder": EmbedderConfig,
    "sparse": SparseConfig,
    "search": SearchConfig,
    "ask": AskConfig,
    "llm": LLMConfig,
}
_CHOICES = {
    ("splitter", "kind"): ("recursive", "token", "markdown"),
    ("search", "mode"): ("dense", "sparse", "hybrid"),
    ("search", "fusion_unit"): ("document", "chunk"),
    ("search", "fusion"): ("rrf", "convex"),
    ("sparse", "method"): ("lucene", "robertson", "atire", "bm25l", "bm25+"),
    ("ask", "strategy"): ("none", "multi-query", "rag-fusion", "hyde", "step-back", "decompose"),
    ("ask", "chain"): ("auto", "stuff", "map-reduce", "refine", "extract"),
    ("ask", "expand"): ("none", "parent", "window"),
}


# Backend names a config may use: the built-in ones, plus any a registry adds (register_llm,
# register_embedder, …), so a config naming an unknown backend fails at load time with its file
# and key, without importing the backends themselves (they are slow to import).
BACKENDS: dict[tuple[str, str], set[str]] = {("llm", "kind"): {"local", "openai"},
                                             ("embedder", "kind"): {"local", "openai", "hash"}}


def register_backend_name(section: str, key: str, name: str) -> None:
    """Accept ``name`` as a value of ``section.key`` (called by the backend registries)."""
    BACKENDS.setdefault((section, key), set()).add(name)


def _choices(section: str, key: str) -> tuple[str, ...] | None:
    if (section, key) in BACKENDS:
        return tuple(sorted(BACKENDS[(section, key)]))
    return _CHOICES.get((section, key))


def _build_section(name: str, cls: type, raw: Any, where: str):
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: '{name}' must be a mapping of settings, got {type(raw).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{name}.{unknown[0]}'; known keys: {', '.join(sorted(known))}")
    values = {}
    defaults = cls()
    for key, value in raw.items():
        default = getattr(defaults, key)
        if default is not None and value is not None and not isinstance(default, dict):
            try:
                value = type(default)(value) if not isinstance(default, bool) else bool(value)
            except (TypeError, ValueError):
                kind = {"int": "an integer", "float": "a number", "str": "a string"}.get(type(default).__name__, "valid")
                raise ConfigError(f"{where}: '{name}.{key}' must be {kind}, got {value!r}") from None
        choices = _choices(name, key)
        if choices and value not in choices:
            raise ConfigError(f"{where}: '{name}.{key}' is {value!r}; choose one of {', '.join(choices)}")
        values[key] = value
    return cls(**values)


def effective_chain(chain: str, llm_kind: str) -> str:
    """``auto`` is ``extract`` with the tiny local model and ``stuff`` with any other.

    Measured on sample_docs (BENCHMARKS.md): with SmolLM2-135M, extract put the answer in its
    text for 13 of 14 answerable questions, stuff for 0; a capable model should write the answer.
    """
    if chain != "auto":
        return chain
    return "extract" if llm_kind == "local" else "stuff"


def config_from_dict(raw: dict | None, where: str = "config") -> Config:
    """Validate a parsed config mapping into a :class:`Config`."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the file must hold a mapping of sections, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(_SECTIONS) - {"index"})
    if unknown:
        raise ConfigError(f"{where}: unknown section '{unknown[0]}'; known: index, {', '.join(_SECTIONS)}")
    sections = {name: _build_section(name, cls, raw.get(name), where) for name, cls in _SECTIONS.items()}
    index = raw.get("index", DEFAULT_INDEX_DIR)
    if not isinstance(index, str):
        raise ConfigError(f"{where}: 'index' must be a path string")
    cfg = Config(index=index, **sections)
    if cfg.splitter.chunk_overlap >= cfg.splitter.chunk_size:
        raise ConfigError(f"{where}: splitter.chunk_overlap ({cfg.splitter.chunk_overlap}) must be "
                          f"smaller than splitter.chunk_size ({cfg.splitter.chunk_size})")
    if 0 < cfg.splitter.parent_size <= cfg.splitter.chunk_size and cfg.splitter.kind != "token":
        raise ConfigError(f"{where}: splitter.parent_size ({cfg.splitter.parent_size}) must be larger than "
                          f"splitter.chunk_size ({cfg.splitter.chunk_size}), or 0 to turn parents off")
    return cfg


def load_config(path: str | Path | None) -> Config:
    """Load a YAML config file; ``None`` means defaults (or ``$RAGKIT_CONFIG`` when set)."""
    path = path or os.environ.get("RAGKIT_CONFIG")
    if not path:
        return Config()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    cfg = config_from_dict(raw, where=str(path))
    # A relative index path in a config file is relative to that file, like every path in it.
    if not Path(cfg.index).is_absolute() and "index" in (raw or {}):
        cfg = dataclasses.replace(cfg, index=str((path.parent / cfg.index)))
    return cfg
