"""What every command shares: the two consoles, the common options, loading the config, failing.

Imports only typer, rich and the light parts of ragkit, so that ``ragkit --help`` starts fast;
each command imports the stage it runs inside its own body. Text that comes from documents,
paths or the user is printed literally: never as rich markup (``options[debug]`` stays as is),
and never as terminal control: :func:`ragkit.text.printable` shows control characters as escapes.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NoReturn, Optional

import typer
from rich.console import Console
from rich.markup import escape

from ragkit.choices import MODES, help_list
from ragkit.errors import EXIT_ERROR, StoreError
from ragkit.text import printable

if TYPE_CHECKING:
    from ragkit.config import Config

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

# The fixed choices of command-line options, as in ragkit.config (a test keeps them equal; importing
# the config here would import pydantic, and ``ragkit --help`` must not). Typed, so click rejects
# anything else as a usage error (exit 2) and ``--help`` lists the choices.
Mode = Literal["dense", "sparse", "hybrid"]
Strategy = Literal["none", "multi-query", "rag-fusion", "hyde", "step-back", "decompose", "self-query", "ircot"]
Chain = Literal["auto", "stuff", "map-reduce", "refine", "extract"]
Expand = Literal["none", "parent", "window"]

IndexOpt = typer.Option(None, "--index", "-i", metavar="DIR",
                        help="Index folder.  [default: $RAGKIT_INDEX, else the config's index, else ./.ragkit]")
ConfigOpt = typer.Option(None, "--config", "-c", metavar="FILE",
                         help="YAML config file; it changes only what it lists.  [default: $RAGKIT_CONFIG, else none]")
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON on stdout instead of tables.")
ModeOpt = typer.Option(None, "--mode", "-m", metavar="MODE",
                       help=f"Retrieval: {help_list(MODES)}.  [default: search.mode in the config, else hybrid]")
FilterOpt = typer.Option(None, "--filter", "-f", metavar="KEY=VALUE",
                         help="Metadata filter, repeatable; globs allowed: source='notes/*.md'.")


def at_least_one(value: Optional[int]) -> Optional[int]:
    """A count option (``-k``): 1 or more, else a usage error."""
    if value is not None and value < 1:
        raise typer.BadParameter(f"{value} is not a count of 1 or more.")
    return value


def _registered(value: Optional[str], registry) -> Optional[str]:
    """A name from ``registry`` (plugins included), else a usage error naming the choices; None passes."""
    if value is not None and value not in registry:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(map(repr, sorted(registry)))}.")
    return value


def _known_llm(value: Optional[str]) -> Optional[str]:
    """``--llm``: a registered chat-model backend, else a usage error naming the choices."""
    if value is None:
        return value
    from ragkit.llm import LLMS  # the registry; imported only when --llm is given

    return _registered(value, LLMS)


LlmOpt = typer.Option(None, "--llm", metavar="KIND", envvar="RAGKIT_LLM", callback=_known_llm,
                      help="Chat model backend: local (SmolLM2, offline), openai (OPENAI_API_KEY, or any "
                           "OpenAI-compatible server with --base-url) or langchain (--model provider:model). "
                           "'ragkit models' lists them.  [default: llm.kind in the config, else local; "
                           "openai when only --base-url is given]")
ModelOpt = typer.Option(None, "--model", metavar="NAME", envvar="RAGKIT_MODEL",
                        help="Model name: gpt-4o-mini, llama3.2, anthropic:claude-sonnet-4-5 (langchain), or for local "
                             "smollm2-135m, qwen2.5-coder-1.5b or a .gguf file ('ragkit models' lists them).  [default: llm.model in the config, else the backend's]")
BaseUrlOpt = typer.Option(None, "--base-url", metavar="URL", envvar="RAGKIT_BASE_URL",
                          help="OpenAI-compatible server: Ollama http://localhost:11434/v1, vLLM, llama.cpp.  "
                               "[default: llm.base_url in the config]")


def _known_reranker(value: Optional[str]) -> Optional[str]:
    """``--rerank``: a registered reranker, else a usage error naming the choices."""
    if value is None:
        return value
    from ragkit.rerank import RERANKERS  # the registry; imported only when --rerank is given

    return _registered(value, RERANKERS)


RerankOpt = typer.Option(None, "--rerank", metavar="NAME", callback=_known_reranker,
                         help="Rerank the best search.rerank_candidates fused results (default 20) before the top k "
                              "is taken: none, or http (the /rerank endpoint of TEI, llama.cpp, vLLM, Cohere, Jina, "
                              "Voyage, set in the config's rerank: section).  [default: search.rerank in the config, "
                              "else none]")


def with_rerank(cfg: "Config", rerank: Optional[str]) -> "Config":
    """``cfg`` with ``search.rerank`` set to ``rerank`` (``--rerank``), when given."""
    if rerank is None:
        return cfg
    return dataclasses.replace(cfg, search=dataclasses.replace(cfg.search, rerank=rerank))


def rerank_failed(step: Optional[dict], where: str = "") -> None:
    """When the rerank ``step`` failed, say on stderr (after ``where``, e.g. a query id) that the results are in
    fused order; otherwise nothing."""
    from ragkit.retrieval.reranking import rerank_note  # only once a search has run

    note = rerank_note(step)
    if note:
        err.print(f"[yellow]Note:[/] {escape(printable(where + note, one_line=True))}", highlight=False)


def print_error(message: str) -> None:
    """Print ``Error: message`` on stderr; the message is shown as is (brackets are not styles, controls escaped)."""
    err.print(f"[bold red]Error:[/] {escape(printable(message, one_line=True))}", highlight=False, markup=True)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print ``Error: message`` on stderr and exit with ``code``."""
    print_error(message)
    raise typer.Exit(code)


def setup(config: Optional[Path], index: Optional[Path]) -> tuple["Config", Path]:
    """The config (``--config``, ``$RAGKIT_CONFIG`` or defaults) and the index folder to use."""
    from ragkit.config import load_config

    cfg = load_config(config)
    chosen = Path(index or os.environ.get("RAGKIT_INDEX") or cfg.index)
    if printable(chosen, one_line=True) != str(chosen):
        # faiss takes paths as UTF-8 text only, and a control character would reach every message
        raise StoreError(f"the index path {printable(chosen, one_line=True)} holds a control character or "
                         "a byte that is not UTF-8; choose another --index")
    if chosen.exists() and not chosen.is_dir():
        raise StoreError(f"the index {chosen} is a file; an index is a folder (check --index or $RAGKIT_INDEX)")
    return cfg, chosen


def llm_overrides(kind: Optional[str], model: Optional[str], base_url: Optional[str], configured: str) -> dict:
    """The ``llm:`` settings that ``--llm``/``--model``/``--base-url`` (or ``$RAGKIT_*``) change.

    ``configured`` is the config's ``llm.kind``: a base URL alone means an OpenAI-compatible server,
    so ``--base-url URL --model NAME`` is enough to use Ollama or vLLM instead of the local model.
    """
    chosen = {"kind": kind, "model": model, "base_url": base_url}
    if base_url is not None and kind is None and configured == "local":
        chosen["kind"] = "openai"
    return {key: value for key, value in chosen.items() if value is not None}


def with_llm(cfg: "Config", overrides: dict) -> "Config":
    """``cfg`` with its ``llm:`` section changed by :func:`llm_overrides`."""
    if not overrides:
        return cfg
    return dataclasses.replace(cfg, llm=dataclasses.replace(cfg.llm, **overrides))


def check_filter_keys(searcher, filters: dict) -> None:
    """A ``--filter`` key no chunk has is a typo, not an empty result: say so, with the keys there are."""
    if not filters:
        return
    from ragkit.errors import FilterError

    keys = searcher.index.docstore.metadata_keys()
    unknown = [key for key in filters if key not in keys]
    if unknown:
        raise FilterError(f"no chunk has the metadata key {unknown[0]!r}; filter on one of: {', '.join(sorted(keys))}")
