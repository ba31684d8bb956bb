"""Terminal rendering for the CLI: progress, tables and summaries (rich). No logic lives here.

Every text that comes from a document, a file name, a model or a user goes through
:func:`~ragkit.text.printable` (control characters shown as escapes) and is never read as markup.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from ragkit.evaluation.report import LATENCY_METRICS, best_value, format_value, metric_columns, run_label, run_values
from ragkit.text import one_line, printable

_UNITS = {"load": "files", "embed": "chunks", "generate": "replies"}
_LABELS = {"load": "Reading files", "embed": "Embedding chunks", "generate": "Writing questions/summaries"}
PLAIN_EVERY_S = 30.0   # without a terminal, a long stage prints where it is this often (logs of a slow model run)


class IngestProgressDisplay:
    """Ingest progress: a rich bar with files/s and chunks/s on a terminal, plain lines otherwise."""

    def __init__(self, console: Console, enabled: bool = True):
        self.console = console
        self.enabled = enabled
        self.live = enabled and console.is_terminal
        self.progress: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        self.started: dict[str, float] = {}
        self.done: dict[str, int] = {}
        self.totals: dict[str, int] = {}
        self.shown: dict[str, float] = {}

    def __enter__(self) -> "IngestProgressDisplay":
        if self.live:
            self.progress = Progress(
                TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                console=self.console, transient=False,
            )
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()
        for stage in list(self.started):
            self._finish_plain(stage)

    def start(self, stage: str, total: int) -> None:
        """A stage begins with ``total`` units of work."""
        if not self.enabled:
            return
        for other in list(self.started):
            if self.done[other] >= self.totals[other]:  # a stage still running goes on beside the new one
                self._finish_plain(other)
        self.started[stage], self.done[stage], self.totals[stage] = time.perf_counter(), 0, total
        if self.progress is not None:
            self.tasks[stage] = self.progress.add_task(_LABELS.get(stage, stage), total=total, rate="")
        elif total:
            self.console.print(f"{_LABELS.get(stage, stage)}: {total} {_UNITS.get(stage, 'items')}",
                               highlight=False, markup=False)

    def advance(self, stage: str, amount: int = 1) -> None:
        """``amount`` more units of ``stage`` are done."""
        if not self.enabled or stage not in self.started:
            return
        self.done[stage] += amount
        elapsed = max(time.perf_counter() - self.started[stage], 1e-9)
        if self.progress is not None:
            rate = f"{self.done[stage] / elapsed:,.1f} {_UNITS.get(stage, 'items')}/s"
            self.progress.update(self.tasks[stage], advance=amount, rate=rate)
        elif elapsed - self.shown.get(stage, 0.0) >= PLAIN_EVERY_S and self.done[stage] < self.totals[stage]:
            self.shown[stage] = elapsed
            left = (self.totals[stage] - self.done[stage]) * elapsed / self.done[stage]
            self.console.print(f"  {self.done[stage]} of {self.totals[stage]} {_UNITS.get(stage, 'items')} "
                               f"in {elapsed:.0f} s, about {left:.0f} s left", highlight=False, markup=False)

    def grow(self, stage: str, amount: int) -> None:
        """``stage``'s total grows by ``amount``."""
        if not self.enabled or stage not in self.started:
            return
        self.totals[stage] += amount
        if self.progress is not None:
            self.progress.update(self.tasks[stage], total=self.totals[stage])

    def note(self, message: str) -> None:
        """A one-off status line."""
        if self.enabled and not self.live:
            for other in list(self.started):
                self._finish_plain(other)
            self.console.print(printable(f"{message[:1].upper()}{message[1:]}…", one_line=True),
                               highlight=False, markup=False)

    def _finish_plain(self, stage: str) -> None:
        started = self.started.pop(stage)
        if self.progress is None and self.totals.get(stage):
            elapsed = max(time.perf_counter() - started, 1e-9)
            unit = _UNITS.get(stage, "items")
            self.console.print(f"  done: {self.done[stage]} {unit} in {elapsed:.1f} s "
                               f"({self.done[stage] / elapsed:,.1f} {unit}/s)", highlight=False)


def ingest_summary(out: Console, err: Console, report) -> None:
    """The end-of-ingest summary: counts, failures with reasons, skipped files, notes."""
    for note in report.notes:
        err.print(f"[yellow]Note:[/] {_shown(note)}", highlight=False)
    for item in report.skipped:
        err.print(f"[dim]skipped[/] {_shown(item['source'])}: {_shown(item['reason'])}", highlight=False)
    for item in report.failed:
        kept = " (its previous version stays in the index)" if item.get("kept_previous") else ""
        err.print(f"[red]failed[/] {_shown(item['source'])}: {_shown(item['reason'])}{kept}", highlight=False)
    c = report.counts()
    line = (f"{c['added']} added, {c['updated']} updated, {c['unchanged']} unchanged, "
            f"{c['removed']} removed, {c['failed']} failed")
    seconds = report.timings.get("total_s", 0.0)
    out.print(f"[bold]{line}[/] — {report.files_total} files, {report.chunks_total} chunks "
              f"({report.chunks_embedded} embedded) in {seconds:.1f} s → {_shown(report.index)}", highlight=False)
    if report.generated:
        out.print(generated_line(report.generated), highlight=False, markup=False)
    if report.failed:
        err.print(f"[yellow]Partial ingest:[/] {c['failed']} file(s) failed; the rest is indexed.")


def generated_line(generated: dict) -> str:
    """What writing questions and summaries per chunk did: replies written and reused, texts kept, time."""
    plural = {"question": "questions", "summary": "summaries"}
    kept = ", ".join(f"{n} {kind if n == 1 else plural.get(kind, kind)}" for kind, n in generated.get("texts", {}).items())
    unusable = f", {generated['unusable']} unusable (those chunks keep their own vector only)" if generated.get("unusable") else ""
    return (f"Questions/summaries: {generated['model_calls']} written by the model, {generated['from_cache']} from the "
            f"cache{unusable}; {kept or 'nothing'} kept as extra vectors for {generated['chunks_with_extras']} chunks, "
            f"in {generated['seconds']:.1f} s")


def _shown(text: object) -> str:
    """User text on one line, inside a markup string: controls escaped, brackets literal."""
    return escape(printable(text, one_line=True))


def _line(text: object) -> Text:
    """User text on one line, as a table cell or title: controls escaped, never markup."""
    return Text(printable(text, one_line=True))


def _snippet(text: str, width: int = 160) -> str:
    """``text`` flattened to one line of at most ``width`` characters, controls escaped."""
    return one_line(printable(text), width)


def results_table(query: str, results) -> Table:
    """Search results as a table: rank, score, source:page, the chunk's context line (dim) and a snippet."""
    reranked = any(r.rerank_score is not None for r in results)
    table = Table(title=f"Results for: {_shown(query)}", title_justify="left", expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    if reranked:  # the reranker's order: its score, and where fusion had put each result
        table.add_column("rerank", justify="right", no_wrap=True)
        table.add_column("fused #", justify="right", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("source", overflow="fold", max_width=40)
    table.add_column("text", ratio=1)
    for r in results:
        where = f"{r.source}:{r.page}" if r.page is not None else r.source
        text = Text(_snippet(r.text))
        context = r.metadata.get("context")
        if context:  # what the chunk was indexed with besides its text, shown apart from it
            text = Text.assemble((_snippet(context, 100), "dim"), "\n", text)
        moved = [f"{r.rerank_score:.4f}", str(r.fused_rank)] if r.rerank_score is not None else ["", ""]
        table.add_row(str(r.rank), *(moved if reranked else []), f"{r.score:.4f}", _line(where), text)
    return table


def dense_line(dense: dict) -> str:
    """Where the vectors live and how they are indexed, as ``ragkit info`` shows it.

    ``faiss hnsw (m=32, ef_search=128)``, with the note of an index that fell back to flat; a
    remote backend says where: ``pinecone (host=..., namespace=ragkit, metric=cosine, records=120)``.
    """
    backend = dense.get("backend", "?")
    where = {**(dense.get(backend) or {}), **({"records": dense["records"]} if "records" in dense else {})}
    if "index" not in dense and backend != "faiss":   # no FAISS structure: the vectors live elsewhere
        return backend + (f" ({', '.join(f'{k}={v}' for k, v in where.items())})" if where else "")
    structure = dense.get("index", {})
    shown = {k: v for k, v in structure.items() if k in ("m", "ef_search", "lists", "probe")}
    line = f"{backend} {structure.get('built', 'flat')}"
    line += f" ({', '.join(f'{k}={v}' for k, v in shown.items())})" if shown else ""
    return line + (f"; {structure['note']}" if structure.get("note") else "")


def info_table(data: dict) -> Table:
    """``ragkit info`` as a two-column table."""
    table = Table(show_header=False, title=f"Index {_shown(data['index'])}", title_justify="left")
    table.add_column("key", style="bold")
    table.add_column("value", overflow="fold")
    last = data.get("last_ingest") or {}
    counts = ", ".join(f"{last[k]} {k}" for k in ("added", "updated", "unchanged", "removed", "failed") if k in last)
    rows = [
        ("generation", data["generation"]),
        ("created", data["created_at"]),
        ("files", str(data["files"])),
        ("chunks", str(data["chunks"])),
        ("embedder", f"{data['embedder']['id']} ({data['embedder']['dimension']}-d)"),
        ("splitter", ", ".join(f"{k}={v}" for k, v in data["splitter"].items())),
        ("sparse", ", ".join(f"{k}={v}" for k, v in data["sparse"].items())),
        ("documents", f"{data['documents']} (BM25 over whole documents)" if data.get("documents") is not None
         else "no document index (the next `ragkit ingest` adds one)"),
        ("dense", dense_line(data.get("dense") or {})),
        ("extra vectors", multi_vector_line(data.get("multi_vector"))),
        ("sizes", ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in data["sizes"].items())),
        ("last ingest", f"{counts} (from {last.get('folder', '?')}, {last.get('finished_at', '?')})"),
    ]
    for key, value in rows:
        table.add_row(key, _line(value))
    return table


def multi_vector_line(recipe: dict | None) -> str:
    """``ragkit info``'s line on questions and summaries per chunk: what was asked, of which model, how many kept."""
    if not recipe:
        return "none (ingest.questions / ingest.summaries add questions and summaries per chunk)"
    vectors = ", ".join(f"{n} {kind}" for kind, n in recipe.get("vectors", {}).items())
    asked = [f"{recipe['questions']} questions" if recipe.get("questions") else "", "a summary" if recipe.get("summaries") else ""]
    return f"{vectors} ({' and '.join(a for a in asked if a)} per chunk by {recipe.get('model')})"


def answer_sources(result) -> Table:
    """The sources under an answer: [n], file:page, chunk id; cited ones marked."""
    cited = set(result.answer.citations)
    table = Table(title="Sources", title_justify="left", show_edge=False, box=None, padding=(0, 1))
    table.add_column("", no_wrap=True)
    table.add_column("source", overflow="fold")
    table.add_column("chunk", no_wrap=True, style="dim")
    table.add_column("text", ratio=1, style="dim")
    for source in result.answer.sources:
        mark = Text(f"[{source.n}]", style="bold" if source.n in cited else "")
        table.add_row(mark, _line(source.label()), source.chunk_id[:12], Text(_snippet(source.text, 90)))
    if result.answer.removed_citations:
        table.caption = f"{result.answer.removed_citations} citation(s) to nothing retrieved were removed"
    return table


def sessions_table(summaries) -> Table:
    """``ragkit chat --list``: each session's name, completed turns and last use (local time)."""
    table = Table(title="Chat sessions", title_justify="left")
    table.add_column("session", overflow="fold")
    table.add_column("turns", justify="right")
    table.add_column("last used", no_wrap=True)
    for s in summaries:
        table.add_row(_line(s.name), str(s.turns), time.strftime("%Y-%m-%d %H:%M", time.localtime(s.last_used)))
    return table


def chat_recap(turns: list[tuple[str, str]], total: int) -> Text:
    """The last turns of a reopened session, dimmed, so the conversation can be picked up."""
    text = Text(f"Last {len(turns)} of {total} turns:", style="dim")
    for question, answer in turns:
        text.append("\nyou> ", style="bold dim")
        text.append(printable(question, one_line=True), style="dim")
        text.append("\nragkit> ", style="bold dim")
        text.append(printable(answer), style="dim")
    return text


def chat_help(commands: dict[str, str]) -> Text:
    """The chat commands, one a line."""
    text = Text("Type a question, or a command:")
    for name, meaning in commands.items():
        text.append(f"\n  {name:<10}", style="bold")
        text.append(meaning)
    return text


def trace_view(result) -> Table:
    """``--trace``: the generated queries, each retriever's ranking and the fused one, and notes."""
    table = Table(title=f"Trace ({result.plan.strategy}, fusion: {result.plan.fusion})", title_justify="left",
                  show_lines=True)
    table.add_column("step", overflow="fold", max_width=50)
    table.add_column("top ranks (chunk id: score)", overflow="fold")
    for text in result.plan.raw:
        table.add_row("model output", Text(printable(text)))
    for step in getattr(result, "steps", []):   # --strategy ircot: each reasoning sentence and what it added
        new = ", ".join(cid[:8] for cid in step["new_chunks"]) or "no new chunk"
        stop = f"; stopped: {step['stop']}" if step["stop"] else ""
        table.add_row(f"ircot step {step['step']}", Text(printable(f"{step['sentence'] or step['raw'] or '(nothing)'}"
                                                                   f" → {new} ({step['seconds']:.2f}s{stop})")))
    for entry in result.rankings:
        if "rerank" in entry:
            table.add_row(_line(entry["query"]), _line(rerank_moves(entry["rerank"])))
            continue
        # A routing step ranks documents, named in full (search.route: documents); a ranking, chunk ids.
        ranks = ", ".join(f"{key if entry.get('route') else key[:8]}:{score:.3f}" for key, score in entry["ranking"][:8])
        table.add_row(_line(entry["query"]), ranks or "(nothing)")
    for note in result.notes:
        table.add_row("note", _line(note))
    usage = result.usage
    table.add_row("cost", f"{usage.get('calls', 0)} model calls made, {usage.get('cached_calls', 0)} answered from the cache; "
                          f"{usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} completion tokens; "
                          + ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items()))
    return table


def rerank_moves(step: dict, shown: int = 10) -> str:
    """A rerank step for ``--trace``: each result's rank before and after, and its score (``ab12cd34 #3→#1 0.912``);
    or, when the reranker failed, that the fused order was kept."""
    if step.get("error"):
        return f"failed after {step['seconds']:.2f}s; fused order kept"
    moves = ", ".join(f"{r['chunk_id'][:8]} #{r['before']}→#{r['after']} {r['score']:.3f}" for r in step["results"][:shown])
    more = f", … ({len(step['results']) - shown} more)" if len(step["results"]) > shown else ""
    where = "; sent to another machine" if step.get("remote") else ""
    return f"{moves}{more} ({step['seconds']:.2f}s{where})"


def results_tables(outcomes) -> list[Table]:
    """The terminal summary, one table per data set: a row per metric (latencies last), a column per run,
    best in bold green; a failed run's column is empty."""
    tables = []
    for dataset in dict.fromkeys(o.dataset for o in outcomes):
        runs = [o for o in outcomes if o.dataset == dataset]
        table = Table(title=f"ragkit eval — {_shown(dataset)}", title_justify="left")
        table.add_column("metric")
        for o in runs:
            table.add_column(_line(run_label(o) if o.status == "ok" else f"{o.name} (failed)"), justify="right")
        values = [run_values(o) for o in runs]
        table.add_row("queries", *[str(o.n_queries) if o.status == "ok" else "" for o in runs])
        for metric in metric_columns(runs) + list(LATENCY_METRICS):
            best = best_value(outcomes, dataset, metric)
            cells = []
            for value in (v.get(metric) for v in values):
                text = format_value(metric, value)
                cells.append(f"[bold green]{text}[/]" if text and value == best else text)
            table.add_row(metric, *cells)
        tables.append(table)
    return tables
