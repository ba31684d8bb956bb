"""``ragkit ask`` and ``ragkit chat``."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer
from rich.markup import escape

from ragkit.choices import CHAINS, EXPANSIONS, STRATEGIES, help_list
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
    RerankOpt,
    Strategy,
    at_least_one,
    check_filter_keys,
    err,
    fail,
    llm_overrides,
    out,
    print_error,
    printable,
    rerank_failed,
    setup,
    with_llm,
    with_rerank,
)
from ragkit.errors import EXIT_INTERRUPTED, RagkitError

if TYPE_CHECKING:
    from ragkit.config import Config

StrategyOpt = typer.Option(None, "--strategy", "-s", metavar="STRATEGY",
                           help=f"Rewrite the question first: {help_list(STRATEGIES)}.  "
                                "[default: ask.strategy in the config, else none]")
ChainOpt = typer.Option(None, "--chain", metavar="CHAIN",
                        help=f"How the answer is written: {help_list(CHAINS)}.  [default: ask.chain in the config, "
                             "else auto]")
ExpandOpt = typer.Option(None, "--expand", metavar="HOW",
                         help=f"Hand the model more than each chunk: {help_list(EXPANSIONS)}.  "
                              "[default: ask.expand in the config, else none]")
KOpt = typer.Option(None, "-k", "--top-k", metavar="N", callback=at_least_one,
                    help="Chunks handed to the model.  [default: ask.k in the config, else 5]")


def _ask_settings(cfg: "Config", strategy, chain, expand, k, llm: dict) -> "Config":
    """``cfg`` changed by the command line: the ``ask:`` options, then the model (``llm`` from
    :func:`~ragkit.cli.common.llm_overrides`), then ``chain: auto`` resolved for that model."""
    from ragkit.config import effective_chain
    from ragkit.extras import follows_instructions

    ask_cfg = dataclasses.replace(cfg.ask, **{key: value for key, value in
                                              (("strategy", strategy), ("chain", chain), ("expand", expand), ("k", k))
                                              if value is not None})
    cfg = with_llm(dataclasses.replace(cfg, ask=ask_cfg), llm)
    chosen = effective_chain(cfg.ask.chain, follows_instructions(cfg.llm.kind, cfg.llm.model))
    return dataclasses.replace(cfg, ask=dataclasses.replace(cfg.ask, chain=chosen))


def _model(cfg: "Config"):
    """The chat model, or None when nothing needs one (extract chain, no transform that calls a model)."""
    from ragkit.retrieval.transforms import transform_uses_model

    if cfg.ask.chain == "extract" and not transform_uses_model(cfg.ask):
        return None
    from ragkit.llm import build_llm

    return build_llm(cfg.llm)


class Writing:
    """An ``on_token`` callback that shows none of the model's text while it is written: the status line counts
    it instead, and the answer is printed once it has passed the checks (nothing unvetted reaches the screen)."""

    EVERY = 8   # pieces between two updates of the line

    def __init__(self, status) -> None:
        self.status, self.pieces = status, 0

    def __call__(self, piece: str) -> None:
        self.pieces += 1
        if self.pieces % self.EVERY == 1:
            self.status.show(f"the model is writing ({self.pieces} tokens); the answer is shown once it is checked")


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
    rerank: Optional[str] = RerankOpt,
    trace: bool = typer.Option(False, "--trace", help="Show generated queries, each retriever's ranks, the fused ranks "
                                                      "and the rerank step (each source's rank before and after; "
                                                      "with --json: include them as \"trace\")."),
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
    from ragkit.cli.status import StatusLine

    # No silent wait: something shows within a second of Enter, until the first answer token.
    status = StatusLine(err, enabled=not as_json)
    status.show("opening the index")
    try:
        result = _run_ask(question, config, index, (strategy, chain, expand, k, llm, model, base_url, rerank),
                          mode, filters, None if as_json else Writing(status), status)
    except KeyboardInterrupt:
        status.stop()
        fail("interrupted", EXIT_INTERRUPTED)
    finally:
        status.stop()
    if as_json:
        out.print_json(json.dumps(result.to_json(trace=trace)))
    else:
        _print_answer(result, trace)


def _run_ask(question: str, config, index, options: tuple, mode, filters, echo, status):
    """Load the config, index and model and answer, telling ``status`` what is happening."""
    from ragkit.generation.ask import ask as run_ask
    from ragkit.retrieval.search import Searcher, parse_filters

    strategy, chain, expand, k, llm, model_name, base_url, rerank = options
    cfg, index_dir = setup(config, index)
    cfg = _ask_settings(with_rerank(cfg, rerank), strategy, chain, expand, k,
                        llm_overrides(llm, model_name, base_url, cfg.llm.kind))
    parsed = parse_filters(filters)
    searcher = Searcher(index_dir, cfg)
    check_filter_keys(searcher, parsed)
    model = _model(cfg)
    if model is not None:
        model.on_load = status.model_loading
    return run_ask(question, searcher, model, cfg.ask, mode=mode, filters=parsed, on_token=echo,
                   on_status=status.show)


def _print_answer(result, trace: bool) -> None:
    """The checked answer, its sources and, with ``--trace``, the trace."""
    from ragkit.cli.render import answer_sources, trace_view

    _show_answer(result)
    if result.answer.sources:   # a refusal lists none: no empty table under it
        out.print(answer_sources(result))
    rerank_failed(result.rerank)   # its sources are in fused order
    if trace:
        err.print(trace_view(result))


def _show_answer(result, prompt: str = "") -> None:
    """The answer, once: a model chain's answer that failed a check is never shown; the quotes that replace it
    say that they are a fallback, and why."""
    answer = result.answer
    if answer.fallback_reason:
        out.print(f"[bold]Quoted from the sources[/] (extract chain, a fallback): the model's answer was not shown "
                  f"because {escape(answer.fallback_reason)}.", highlight=False)
    if prompt:
        out.print(prompt, end="", highlight=False, markup=False)
    out.print(printable(answer.text), highlight=False, markup=False)
    if answer.support == "weak":
        out.print(f"[yellow]Weak support[/]: {escape(answer.support_reason)}. The quotes may not answer the "
                  "question; check the cited pages.", highlight=False)


CHAT_COMMANDS = {"/help": "list these commands", "/sources": "show the last answer's sources again",
                 "/exit": "leave (also /quit or Ctrl-D); the session is saved"}
RECAP_TURNS = 3  # earlier turns shown when a session is reopened


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
    rerank: Optional[str] = RerankOpt,
    history: Optional[Path] = typer.Option(None, "--history", metavar="FILE",
                                           help="SQLite file of conversations.  "
                                                "[default: ~/.local/share/ragkit/chat.sqlite]"),
    list_sessions: bool = typer.Option(False, "--list", help="List the stored sessions (name, turns, last used) and exit."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per turn on stdout: question, answer, citations, sources, usage."),
) -> None:
    """Talk with your documents. /help lists the commands; Ctrl-C stops an answer; Ctrl-D or /exit leaves; the session is saved.

    Examples:

    \b
      ragkit chat
      ragkit chat --session thesis --strategy multi-query
      ragkit chat --base-url http://localhost:11434/v1 --model llama3.2
      ragkit chat --list
      printf 'what is HyDE?\\n' | ragkit chat --chain extract --json
    """
    from ragkit.generation.chat import ChatHistory, ChatSession
    from ragkit.retrieval.search import Searcher

    if list_sessions:
        _list_sessions(history, as_json)
        return
    cfg, index_dir = setup(config, index)
    cfg = _ask_settings(with_rerank(cfg, rerank), strategy, chain, expand, k,
                        llm_overrides(llm, model, base_url, cfg.llm.kind))
    searcher = Searcher(index_dir, cfg)
    conversation = ChatSession(session, searcher, _model(cfg), cfg.ask, ChatHistory(history), mode=mode)
    _greet(conversation)
    last = None
    while True:
        message = _read_message()
        if message is None:
            err.print("\nBye.")
            return
        text = message.strip()
        if not text:
            continue
        if len(text.split()) == 1 and text.startswith("/"):  # a command; a question may still start with "/"
            if text in ("/exit", "/quit"):
                return
            _run_command(text, last, as_json)
            continue
        last = _chat_turn(conversation, message, as_json) or last


def _read_message() -> str | None:
    """The next line the user types (the prompt goes to stderr, so stdout holds only answers); None at the end."""
    sys.stderr.write("you> ")
    sys.stderr.flush()
    try:
        return input()
    except (EOFError, KeyboardInterrupt):
        return None


def _list_sessions(history: Optional[Path], as_json: bool) -> None:
    """``chat --list``: every stored session, most recently used first (listing creates no history file)."""
    from ragkit.cli.render import sessions_table
    from ragkit.generation.chat import ChatHistory, default_history_path

    path = Path(history or default_history_path())
    summaries = ChatHistory(path).summaries() if path.exists() else []
    if as_json:
        sys.stdout.write(json.dumps([{"name": s.name, "turns": s.turns, "last_used": _iso(s.last_used)}
                                     for s in summaries]) + "\n")
    elif summaries:
        out.print(sessions_table(summaries))
    else:
        err.print(printable(f"No sessions yet in {path}.", one_line=True), highlight=False, markup=False)


def _iso(epoch: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _greet(conversation) -> None:
    """The session line and, for a reopened session, its last turns (on stderr)."""

    from ragkit.cli.render import chat_recap

    earlier = sum(1 for role, _ in conversation.history.messages(conversation.name) if role == "user")
    err.print(f"Session [bold]{escape(printable(conversation.name, one_line=True))}[/] ({earlier} earlier turns). "
              "/help lists the commands; Ctrl-D or /exit leaves.", highlight=False)
    recent = conversation.history.last_turns(conversation.name, RECAP_TURNS)
    if recent:
        err.print(chat_recap(recent, earlier))


def _run_command(command: str, last, as_json: bool) -> None:
    """``/help`` or ``/sources`` (``/exit`` is the loop's); anything else is named as unknown."""
    from ragkit.cli.render import answer_sources, chat_help

    if command == "/help":
        err.print(chat_help(CHAT_COMMANDS))
    elif command == "/sources" and last is None:
        err.print("No answer yet in this run.")
    elif command == "/sources":
        (err if as_json else out).print(answer_sources(last))
    else:
        print_error(f"unknown command {command}; /help lists the commands")


def _chat_turn(conversation, message: str, as_json: bool):
    """One exchange, shown once (streamed, or one JSON line); an error or Ctrl-C ends only this turn.

    Returns the result, or None when the turn did not complete.
    """
    from ragkit.cli.render import answer_sources
    from ragkit.cli.status import StatusLine
    from ragkit.generation.chat import turn_json

    status = StatusLine(err, enabled=not as_json)
    echo = None if as_json else Writing(status)
    if conversation.llm is not None:
        conversation.llm.on_load = status.model_loading
    try:
        status.show("retrieving")
        result = conversation.turn(message, on_token=echo, on_status=status.show)
    except KeyboardInterrupt:
        status.stop()
        err.print("\n[interrupted — this turn was not saved]", markup=False)  # brackets, not a style
        return None
    except RagkitError as exc:  # one bad turn does not end the conversation
        status.stop()
        print_error(str(exc))
        if as_json:
            _json_line({"session": conversation.name, "question": message.strip(), "error": str(exc)})
        return None
    status.stop()
    if as_json:
        _json_line(turn_json(conversation.name, message, result))
    else:
        _show_answer(result, prompt="ragkit> ")
        if result.answer.sources:
            out.print(answer_sources(result))
        rerank_failed(result.rerank)   # its sources are in fused order
    return result


def _json_line(data: dict) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    """Add ``ask`` and ``chat`` to ``app``."""
    app.command()(ask)
    app.command()(chat)
