"""``ragkit ask`` and ``ragkit chat``."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer
from rich.markup import escape

from ragkit.cli.common import (
    BaseUrlOpt,
    Chain,
    ConfigOpt,
    Expand,
    FilterOpt,
    IndexOpt,
    JsonOpt,
    LlmOpt,
    Mode,
    ModelOpt,
    ModeOpt,
    Strategy,
    at_least_one,
    err,
    fail,
    llm_overrides,
    out,
    print_error,
    setup,
    with_llm,
)
from ragkit.errors import EXIT_INTERRUPTED, RagkitError

if TYPE_CHECKING:
    from ragkit.config import Config

StrategyOpt = typer.Option(None, "--strategy", "-s", metavar="STRATEGY",
                           help="Rewrite the question first: none, multi-query (N rewrites), rag-fusion (their "
                                "fused rankings), hyde (a hypothetical answer), step-back (a broader question) or "
                                "decompose (sub-questions).  [default: ask.strategy in the config, else none]")
ChainOpt = typer.Option(None, "--chain", metavar="CHAIN",
                        help="How the answer is written: auto, stuff (one prompt), map-reduce, refine, or extract "
                             "(no model: quotes the best sentences).  [default: ask.chain in the config, else auto: "
                             "extract with the tiny local model, stuff with any other]")
ExpandOpt = typer.Option(None, "--expand", metavar="HOW",
                         help="Hand the model more than each chunk: none, parent (its section) or window (the "
                              "sentences around the best match).  [default: ask.expand in the config, else none]")
KOpt = typer.Option(None, "-k", "--top-k", metavar="N", callback=at_least_one,
                    help="Chunks handed to the model.  [default: ask.k in the config, else 5]")


def _ask_settings(cfg: "Config", strategy, chain, expand, k, llm: dict) -> "Config":
    """``cfg`` changed by the command line: the ``ask:`` options, then the model (``llm`` from
    :func:`~ragkit.cli.common.llm_overrides`), then ``chain: auto`` resolved for that model."""
    from ragkit.config import effective_chain

    ask_cfg = dataclasses.replace(cfg.ask, **{key: value for key, value in
                                              (("strategy", strategy), ("chain", chain), ("expand", expand), ("k", k))
                                              if value is not None})
    cfg = with_llm(dataclasses.replace(cfg, ask=ask_cfg), llm)
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
    question: str = typer.Argument(..., metavar="QUESTION", help="Your question, in quotes.", show_default=False),
    index: Optional[Path] = IndexOpt,
    config: Optional[Path] = ConfigOpt,
    strategy: Optional[Strategy] = StrategyOpt,
    chain: Optional[Chain] = ChainOpt,
    expand: Optional[Expand] = ExpandOpt,
    llm: Optional[str] = LlmOpt,
    model: Optional[str] = ModelOpt,
    base_url: Optional[str] = BaseUrlOpt,
    mode: Optional[Mode] = ModeOpt,
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
      ragkit ask "what is HyDE?" --base-url http://localhost:11434/v1 --model llama3.2
    """
    from ragkit.generation.ask import ask as run_ask
    from ragkit.retrieval.search import Searcher, parse_filters

    cfg, index_dir = setup(config, index)
    cfg = _ask_settings(cfg, strategy, chain, expand, k, llm_overrides(llm, model, base_url, cfg.llm.kind))
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
    session: str = typer.Option("default", "--session", metavar="NAME", help="Conversation name; the same name resumes it."),
    index: Optional[Path] = IndexOpt,
    config: Optional[Path] = ConfigOpt,
    strategy: Optional[Strategy] = StrategyOpt,
    chain: Optional[Chain] = ChainOpt,
    expand: Optional[Expand] = ExpandOpt,
    llm: Optional[str] = LlmOpt,
    model: Optional[str] = ModelOpt,
    base_url: Optional[str] = BaseUrlOpt,
    mode: Optional[Mode] = ModeOpt,
    k: Optional[int] = KOpt,
    history: Optional[Path] = typer.Option(None, "--history", metavar="FILE",
                                           help="SQLite file of conversations.  "
                                                "[default: ~/.local/share/ragkit/chat.sqlite]"),
) -> None:
    """Talk with your documents. Ctrl-C stops an answer; Ctrl-D (or /exit) leaves; the session is saved.

    Examples:

    \b
      ragkit chat
      ragkit chat --session thesis --strategy multi-query
      ragkit chat --base-url http://localhost:11434/v1 --model llama3.2
    """
    from ragkit.generation.chat import ChatHistory, ChatSession
    from ragkit.retrieval.search import Searcher

    cfg, index_dir = setup(config, index)
    cfg = _ask_settings(cfg, strategy, chain, expand, k, llm_overrides(llm, model, base_url, cfg.llm.kind))
    searcher = Searcher(index_dir, cfg)
    conversation = ChatSession(session, searcher, _model(cfg), cfg.ask, ChatHistory(history), mode=mode)
    earlier = conversation.history.messages(session)
    err.print(f"Session [bold]{escape(session)}[/] ({len(earlier) // 2} earlier turns). Ctrl-D or /exit to leave.")
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
