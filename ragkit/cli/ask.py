"""``ragkit ask`` and ``ragkit chat``."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

from ragkit.cli.common import ConfigOpt, IndexOpt, JsonOpt, err, fail, out, print_error, setup
from ragkit.errors import EXIT_INTERRUPTED, RagkitError

if TYPE_CHECKING:
    from ragkit.config import Config

StrategyOpt = typer.Option(None, "--strategy", "-s", help="none | multi-query | rag-fusion | hyde | step-back | decompose")
ChainOpt = typer.Option(None, "--chain", help="auto (default: extract with the tiny local model, else stuff) | stuff | map-reduce | refine | extract (no model: quotes the best sentences)")
ExpandOpt = typer.Option(None, "--expand", help="none | parent (hand the model each chunk's parent section) | window (sentences around the best match)")
LlmOpt = typer.Option(None, "--llm", help="local (SmolLM2, offline) | openai (OPENAI_API_KEY; llm.base_url for Ollama/vLLM/llama.cpp) | langchain (llm.model: provider:model)")
ModeOpt = typer.Option(None, "--mode", "-m", help="dense | sparse | hybrid (default hybrid)")
KOpt = typer.Option(None, "-k", help="Chunks handed to the model (default 5).")
FilterOpt = typer.Option(None, "--filter", "-f", help="KEY=VALUE metadata filter, repeatable.")


def _ask_settings(cfg: "Config", strategy, chain, expand, llm, k) -> "Config":
    from ragkit.config import effective_chain

    ask_cfg = dataclasses.replace(cfg.ask, **{key: value for key, value in
                                              (("strategy", strategy), ("chain", chain), ("expand", expand), ("k", k))
                                              if value is not None})
    cfg = dataclasses.replace(cfg, ask=ask_cfg)
    if llm is not None:
        cfg = dataclasses.replace(cfg, llm=dataclasses.replace(cfg.llm, kind=llm))
    chosen = effective_chain(cfg.ask.chain, cfg.llm.kind)
    return dataclasses.replace(cfg, ask=dataclasses.replace(cfg.ask, chain=chosen))


def _model(cfg: "Config"):
    """The chat model, or None when nothing needs one (extract chain, no transform)."""
    if cfg.ask.chain == "extract" and cfg.ask.strategy == "none":
        return None
    from ragkit.llm import build_llm

    return build_llm(cfg.llm)


class TokenEcho:
    """An ``on_token`` callback: writes each streamed piece to stdout at once and keeps the text."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    def __call__(self, piece: str) -> None:
        self.pieces.append(piece)
        sys.stdout.write(piece)
        sys.stdout.flush()

    @property
    def text(self) -> str:
        """Everything streamed so far."""
        return "".join(self.pieces)


def ask(
    question: str = typer.Argument(..., help="Your question, in quotes."),
    index: Optional[Path] = IndexOpt,
    config: Optional[Path] = ConfigOpt,
    strategy: Optional[str] = StrategyOpt,
    chain: Optional[str] = ChainOpt,
    expand: Optional[str] = ExpandOpt,
    llm: Optional[str] = LlmOpt,
    mode: Optional[str] = ModeOpt,
    k: Optional[int] = KOpt,
    filters: Optional[List[str]] = FilterOpt,
    trace: bool = typer.Option(False, "--trace", help="Show generated queries, each retriever's ranks and the fused ranks."),
    as_json: bool = JsonOpt,
) -> None:
    """Answer a question from the index, citing sources as [n] = file:page.

    Examples:

    \b
      ragkit ask "how does reciprocal rank fusion score a document?"
      ragkit ask "what limits protect PDF parsing?" --strategy multi-query --expand parent --trace
      ragkit ask "what is HyDE?" --chain extract --json
    """
    from ragkit.generation.ask import ask as run_ask
    from ragkit.retrieval.search import Searcher, parse_filters

    cfg, index_dir = setup(config, index)
    cfg = _ask_settings(cfg, strategy, chain, expand, llm, k)
    parsed = parse_filters(filters)
    searcher = Searcher(index_dir, cfg)
    model = _model(cfg)
    echo = TokenEcho()
    try:
        result = run_ask(question, searcher, model, cfg.ask, mode=mode, filters=parsed,
                         on_token=None if as_json else echo)
    except KeyboardInterrupt:
        if echo.text:
            sys.stdout.write("\n")
        fail("interrupted", EXIT_INTERRUPTED)
    if as_json:
        out.print_json(json.dumps(result.to_json()))
    else:
        _print_answer(result, echo.text, trace)


def _print_answer(result, streamed: str, trace: bool) -> None:
    """The answer (unless it was streamed as is), its sources and, with ``--trace``, the trace."""
    from ragkit.cli.render import answer_sources, trace_view

    if not streamed:
        out.print(result.answer.text, highlight=False, markup=False)
    else:
        sys.stdout.write("\n")
        if streamed.strip() != result.answer.text.strip():
            # The streamed draft had citations to nothing retrieved, or a later step was overridden.
            out.print("[bold]Checked answer:[/] ", end="")
            out.print(result.answer.text, highlight=False, markup=False)
    out.print(answer_sources(result))
    if trace:
        err.print(trace_view(result))


def chat(
    session: str = typer.Option("default", "--session", help="Conversation name; the same name resumes it."),
    index: Optional[Path] = IndexOpt,
    config: Optional[Path] = ConfigOpt,
    strategy: Optional[str] = StrategyOpt,
    chain: Optional[str] = ChainOpt,
    expand: Optional[str] = ExpandOpt,
    llm: Optional[str] = LlmOpt,
    mode: Optional[str] = ModeOpt,
    k: Optional[int] = KOpt,
    history: Optional[Path] = typer.Option(None, "--history", help="SQLite file of conversations (default ~/.local/share/ragkit/chat.sqlite)."),
) -> None:
    """Talk with your documents. Ctrl-C stops an answer; Ctrl-D (or /exit) leaves; the session is saved."""
    from ragkit.generation.chat import ChatHistory, ChatSession
    from ragkit.retrieval.search import Searcher

    cfg, index_dir = setup(config, index)
    cfg = _ask_settings(cfg, strategy, chain, expand, llm, k)
    searcher = Searcher(index_dir, cfg)
    conversation = ChatSession(session, searcher, _model(cfg), cfg.ask, ChatHistory(history), mode=mode)
    earlier = conversation.history.messages(session)
    err.print(f"Session [bold]{session}[/] ({len(earlier) // 2} earlier turns). Ctrl-D or /exit to leave.")
    while True:
        try:
            message = input("you> ")
        except (EOFError, KeyboardInterrupt):
            err.print("\nBye.")
            return
        if message.strip() in ("/exit", "/quit"):
            return
        if not message.strip():
            continue
        _chat_turn(conversation, message)


def _chat_turn(conversation, message: str) -> None:
    """One exchange: the streamed answer and its sources; an error or Ctrl-C ends only this turn."""
    from ragkit.cli.render import answer_sources

    sys.stdout.write("ragkit> ")
    try:
        result = conversation.turn(message, on_token=TokenEcho())
    except KeyboardInterrupt:
        err.print("\n[interrupted — this turn was not saved]", markup=False)  # brackets, not a style
        return
    except RagkitError as exc:  # one bad turn does not end the conversation
        err.print()  # end the partly streamed line
        print_error(str(exc))
        return
    if result.answer.chain == "extract" or not result.answer.text:
        sys.stdout.write(result.answer.text)
    sys.stdout.write("\n")
    out.print(answer_sources(result))


def register(app: typer.Typer) -> None:
    """Add ``ask`` and ``chat`` to ``app``."""
    app.command()(ask)
    app.command()(chat)
