"""Eval: for each data set x pipeline, retrieve (and answer), write JSONL traces, compute metrics.

Each data set's index is built once per set of index settings (embedder, splitter, BM25) and
reused by every pipeline, and by later runs (ingest is incremental). Every query's outcome is
appended to ``traces/<dataset>/<pipeline>.jsonl`` as soon as it is known, so an interrupted
run resumes where it stopped; model calls are cached, so re-runs are cheap. A pipeline that
fails is recorded as failed and the others still run.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ragkit.config import Config, LLMConfig, effective_chain
from ragkit.evaluation import metrics as M
from ragkit.evaluation.answer_metrics import honesty_metrics, support_metrics
from ragkit.evaluation.datasets import Dataset, load_beir, load_qa
from ragkit.evaluation.indexes import index_for
from ragkit.evaluation.judge import faithfulness
from ragkit.evaluation.spec import EvalSpec, metrics_for, pipeline_config
from ragkit.extras import follows_instructions
from ragkit.generation.ask import ask
from ragkit.generation.ircot import ircot, steps_json
from ragkit.llm import ChatModel, build_llm
from ragkit.retrieval.pipeline import Pipeline
from ragkit.retrieval.search import Searcher
from ragkit.retrieval.transforms import transform_uses_model

RETRIEVAL = set(M.RETRIEVAL_METRICS)
COST_METRICS = ("llm_calls", "cached_calls", "prompt_tokens", "completion_tokens")
RERANK_FAILURES = "rerank_failures"   # share of queries whose reranker failed (scored in fused order)
MOSTLY_FALLBACKS = 0.5
"""A model pipeline with a larger share of fallback answers than this is marked in the report."""
MODEL_ONLY = "_model"
"""Suffix of an answer metric computed over the model's own answers only (fallbacks left out)."""


@dataclass
class RunOutcome:
    """One pipeline on one data set: deterministic metrics, and timings kept apart (they vary)."""

    name: str
    dataset: str
    status: str = "ok"
    error: str | None = None
    n_queries: int = 0
    metrics: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    models: dict = field(default_factory=dict)


def load_dataset(spec) -> Dataset:
    """Read one data set of an eval config."""
    if spec.kind == "beir":
        return load_beir(spec.name, spec.corpus, spec.queries, spec.qrels, spec.limit)
    return load_qa(spec.name, spec.documents, spec.qa, spec.limit, spec.fields)


def _read_traces(path: Path) -> dict[str, dict]:
    done: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by an interruption: that query runs again
            done[record["query_id"]] = record
    return done


def _split(name: str) -> tuple[str, int | None]:
    base, _, k = name.partition("@")
    return base, int(k) if k.isdigit() else None


def _depth(names: list[str]) -> int:
    """How many documents a BEIR run must rank for its deepest metric."""
    ks = [(_split(m)[1] or 100) for m in names if _split(m)[0] in RETRIEVAL]
    return max(ks or [10])


@dataclass(frozen=True)
class QueryRunner:
    """Everything one pipeline needs to answer (or only retrieve for) one query of a data set."""

    dataset: Dataset
    searcher: Searcher
    cfg: Config
    llm: ChatModel | None
    answer: bool          # the pipeline answers QA questions (False: retrieval only)
    depth: int            # documents a BEIR run must rank for its deepest metric

    def run(self, qid: str, text: str) -> dict:
        """The trace record of one query: what was retrieved (and answered), its cost and latency."""
        started = time.perf_counter()
        if self.llm is not None:
            self.llm.reset_usage()
        record: dict = {"query_id": qid, "query": text}
        work = time.perf_counter()  # model and index calls start here; the rest is eval bookkeeping
        if self.dataset.kind == "qa" and self.answer:
            record.update(self._answered(text))
        else:
            record.update(self._retrieved(text))
        work_s = time.perf_counter() - work
        usage = self.llm.usage.to_json() if self.llm is not None else {}
        # Calls made and calls answered from the cache, apart: the same meaning as `ragkit ask --json`'s usage.
        record.update(work_s=round(work_s, 6), llm_calls=usage.get("calls", 0), cached_calls=usage.get("cached_calls", 0),
                      prompt_tokens=usage.get("prompt_tokens", 0), completion_tokens=usage.get("completion_tokens", 0),
                      latency_s=round(time.perf_counter() - started, 6))
        return record

    def _answered(self, text: str) -> dict:
        result = ask(text, self.searcher, self.llm, self.cfg.ask, mode=self.cfg.search.mode)
        return dict(queries=result.plan.queries + result.plan.dense_only, answer=result.answer.text,
                    citations=result.answer.citations, refused=result.answer.refused, support=result.answer.support,
                    answered_by=result.answer.answered_by, fallback_reason=result.answer.fallback_reason,
                    cited_sources=[result.answer.sources[n - 1].source for n in result.answer.citations
                                   if 1 <= n <= len(result.answer.sources)],
                    removed_citations=result.answer.removed_citations, n_sources=len(result.answer.sources),
                    # What the chain was handed, refused or not: source and page hit measure retrieval.
                    chunks=[{"chunk_id": c.chunk_id, "source": c.source, "page": c.page, "text": c.text}
                            for c in result.context], **_rerank_record(result.rerank),
                    **_technique_record(result.plan, result.steps), notes=result.notes)

    def _retrieved(self, text: str) -> dict:
        cfg = self.cfg
        chunk_depth = self.depth * 3 if self.dataset.kind == "beir" else max(cfg.ask.k, 10)
        pipeline = Pipeline(self.searcher, mode=cfg.search.mode, strategy=cfg.ask.strategy, n_queries=cfg.ask.n_queries,
                            llm=self.llm if transform_uses_model(cfg.ask) else None)
        found = pipeline.run(text, chunk_depth)   # no expansion
        loop = None
        if cfg.ask.strategy == "ircot" and self.llm is not None:   # its steps need no answer, only retrieval
            first = dataclasses.replace(found, context=found.context[:cfg.ask.k])   # new chunks: new in the top k
            loop = ircot(text, first, pipeline, self.llm, steps=cfg.ask.ircot_steps, depth=chunk_depth, k=cfg.ask.k,
                         step_tokens=cfg.ask.step_tokens, deadline=None)
            found = loop.retrieved
        plan = found.plan
        return dict(queries=plan.queries + plan.dense_only, ranked=M.dedupe_ranked([h.doc_id for h in found.hits])[:self.depth],
                    chunks=[{"chunk_id": h.chunk_id, "source": h.source, "page": h.page} for h in found.hits[:20]],
                    **_rerank_record(found.rerank), **_technique_record(plan, steps_json(loop)),
                    notes=found.notes + (loop.notes if loop else []))


def _technique_record(plan, steps: list[dict]) -> dict:
    """What a query's trace record keeps of its strategy, as ``ask --json`` shows it: a self-query's ``filters``
    (``{}``: none applied, the notes say why), a decomposition's ``sub_questions``, IRCoT's ``steps``."""
    record: dict = {}
    if plan.strategy == "self-query":
        record["filters"] = dict(plan.filters)
    if plan.strategy == "decompose":
        record["sub_questions"] = list(plan.sub_questions)
    if plan.strategy == "ircot":
        record["steps"] = steps
    return record


def _rerank_record(step: dict | None) -> dict:
    """What a query's trace record keeps of its rerank step: the reranker, the seconds, the error (None: it ran)."""
    if step is None:
        return {}
    return {"rerank": {"model": step["model"], "seconds": step["seconds"], "error": step["error"]}}


def rerank_failures(dataset: Dataset, records: dict[str, dict]) -> tuple[int, int, str | None]:
    """Of the queries that went through a reranker: how many it failed on, how many there were, the first error."""
    steps = [records[q]["rerank"] for q, _ in dataset.queries if q in records and "rerank" in records[q]]
    errors = [step["error"] for step in steps if step.get("error")]
    return len(errors), len(steps), (errors[0] if errors else None)


def compute_metrics(dataset: Dataset, records: dict[str, dict], metric_names: list[str], judge=None,
                    model_chain: bool = False) -> dict:
    """Metrics of one run from its traces (deterministic: no timings).

    A run that answers also reports, whatever the config asks, its ``refusal_rate`` and ``weak_support``; a
    ``model_chain`` run its ``fallback_rate`` (answers that are extract's quotes because the model's failed the
    checks) and each answer metric over the model's own answers too (``contains_answer_model``, …).
    """
    out: dict[str, float] = {}
    ids = [qid for qid, _ in dataset.queries if qid in records]
    retrieval = [m for m in metric_names if _split(m)[0] in RETRIEVAL]
    if dataset.kind == "beir" and retrieval:
        run = {qid: records[qid].get("ranked", []) for qid in ids}
        out.update(M.evaluate({q: dataset.qrels[q] for q in ids}, run, retrieval))
    for name in metric_names:
        base, k = _split(name)
        if base in ("source_hit", "page_hit") and dataset.kind == "qa" and k:
            values = []
            for qid in ids:
                item, chunks = dataset.items[qid], records[qid].get("chunks", [])
                if not item.sources or (base == "page_hit" and item.page is None):
                    continue
                if base == "source_hit":
                    values.append(max(M.source_hit_at_k(s, [c["source"] for c in chunks], k) for s in item.sources))
                else:
                    values.append(max(M.page_hit_at_k(s, item.page, [(c["source"], c["page"]) for c in chunks], k)
                                      for s in item.sources))
            if values:  # no question to score (e.g. page_hit on a set without pages): no number, not 0.0
                out[name] = sum(values) / len(values)
    answered = [qid for qid in ids if "answer" in records[qid]]
    scorers = {"exact_match": M.exact_match, "f1": M.token_f1, "contains_answer": M.answer_contains}
    by_model = [q for q in answered if records[q].get("answered_by", "model") == "model"]
    for name, scorer in scorers.items():
        for suffix, group in (("", answered), (MODEL_ONLY, by_model if model_chain else [])):
            values = [scorer(records[q]["answer"], dataset.items[q].answers) for q in group if dataset.items[q].answers]
            if name in metric_names and values:
                out[name + suffix] = sum(values) / len(values)
    out.update(honesty_metrics(records, answered, model_chain))
    if "refusal_accuracy" in metric_names and answered:
        out["refusal_accuracy"] = sum(M.refusal_correct(records[q]["refused"], bool(dataset.items[q].answers))
                                      for q in answered) / len(answered)
    for name, answerable in (("unanswerable_refused", False), ("answerable_refused", True)):
        group = [q for q in answered if bool(dataset.items[q].answers) is answerable]
        if name in metric_names and group:  # a set without such questions: no number, not 0.0
            out[name] = sum(bool(records[q]["refused"]) for q in group) / len(group)
    out.update(support_metrics(dataset, records, answered, metric_names))
    if "citation_validity" in metric_names and answered:
        out["citation_validity"] = sum(M.citation_validity(records[q]["citations"], records[q]["n_sources"])
                                       for q in answered) / len(answered)
    if "faithfulness" in metric_names and answered and judge is not None:
        out["faithfulness"] = sum(faithfulness(judge, records[q]) for q in answered) / len(answered)
    for name in COST_METRICS:  # cost is always reported, per query
        out[name] = sum(records[q].get(name, 0) for q in ids) / len(ids) if ids else 0.0
    failed, reranked, _ = rerank_failures(dataset, records)
    if reranked:  # a run with a reranker always says how often it failed
        out[RERANK_FAILURES] = failed / reranked
    return {key: round(float(value), 6) for key, value in out.items()}


def fallback_mark(outcome) -> str:
    """"mostly fallbacks" for a model pipeline most of whose answers were extract's quotes, else ""."""
    rate = outcome.metrics.get("fallback_rate") if outcome.status == "ok" else None
    return "mostly fallbacks" if rate is not None and rate > MOSTLY_FALLBACKS else ""


def _pipeline_cfg(spec: EvalSpec, pipeline) -> Config:
    """The pipeline's full config, with ``ask.chain: auto`` resolved for its model as ``ragkit ask`` does."""
    cfg = pipeline_config(spec, pipeline)
    chain = effective_chain(cfg.ask.chain, follows_instructions(cfg.llm.kind, cfg.llm.model))
    return dataclasses.replace(cfg, ask=dataclasses.replace(cfg.ask, chain=chain))


def _chat_model(cfg: Config, dataset: Dataset, answer: bool, out: Path):
    """The pipeline's chat model, or None when neither its query strategy nor its answers need one."""
    needs_model = transform_uses_model(cfg.ask) or (dataset.kind == "qa" and answer and cfg.ask.chain != "extract")
    if not needs_model:
        return None
    return build_llm(cfg.llm, cache_dir=out / "cache")


def _run_queries(runner: QueryRunner, todo: list, records: dict, trace_path: Path, label: str, progress=None) -> float:
    """Run the queries not traced yet, appending each record as soon as it is known; the seconds of work."""
    total = len(runner.dataset.queries)
    if progress:
        progress.start(label, total)
        progress.advance(label, total - len(todo))
    work_s = 0.0
    with open(trace_path, "a", encoding="utf-8") as traces:
        for qid, text in todo:
            record = runner.run(qid, text)
            traces.write(json.dumps(record, ensure_ascii=False) + "\n")
            traces.flush()  # an interrupted run resumes after the last complete line
            records[qid] = record
            work_s += record["work_s"]
            if progress:
                progress.advance(label)
    return work_s


def _reuse_warnings(records: dict, dataset: Dataset, trace_path: Path, answering: bool) -> list[str]:
    """What a re-run takes from stored traces: how many, and whether they predate fallback counting."""
    reused = [q for q, _ in dataset.queries if q in records]
    if not reused:
        return []
    notes = [f"{len(reused)} of {len(dataset.queries)} queries reuse the traces stored in {trace_path} under the "
             "output folder (delete that file to run them again)"]
    old = sum(1 for q in reused if answering and "answer" in records[q] and "answered_by" not in records[q])
    if old:
        notes.append(f"{old} stored traces predate fallback counting: their answers count as the model's")
    return notes


def _latency_timings(dataset: Dataset, records: dict) -> dict:
    latencies = [records[q]["latency_s"] for q, _ in dataset.queries if q in records]
    return {"latency_p50_s": round(M.percentile(latencies, 50), 4), "latency_p95_s": round(M.percentile(latencies, 95), 4),
            "query_time_s": round(sum(latencies), 4)}


def run_pipeline(spec: EvalSpec, pipeline, dataset: Dataset, out: Path, progress=None) -> RunOutcome:
    """Run one pipeline over one data set (resuming from its traces); never raises for a failure."""
    outcome = RunOutcome(name=pipeline.name, dataset=dataset.name, warnings=list(dataset.warnings))
    clock = time.perf_counter()
    todo: list = []
    work_s = 0.0
    try:
        cfg = _pipeline_cfg(spec, pipeline)
        index_started = time.perf_counter()
        index_dir, index_warnings = index_for(dataset, cfg, out, progress)
        outcome.warnings += index_warnings
        searcher = Searcher(index_dir, cfg)
        outcome.timings["index_s"] = round(time.perf_counter() - index_started, 4)  # build or update, and load
        llm = _chat_model(cfg, dataset, pipeline.answer, out)
        if llm is not None:
            outcome.models["llm"] = llm.model_id
        outcome.models["embedder"] = searcher.index.manifest["embedder"]["id"]
        if searcher.reranker.active:
            outcome.models["reranker"] = searcher.reranker.model_id
        trace_path = out / "traces" / dataset.name / f"{pipeline.name}.jsonl"
        trace_path.parent.mkdir(parents=True, exist_ok=True)
        records = _read_traces(trace_path)
        todo = [(qid, text) for qid, text in dataset.queries if qid not in records]
        outcome.warnings += _reuse_warnings(records, dataset, trace_path.relative_to(out),
                                            bool(pipeline.answer and dataset.kind == "qa"))
        names = metrics_for(spec, dataset)
        runner = QueryRunner(dataset, searcher, cfg, llm, pipeline.answer, _depth(names))
        work_s = _run_queries(runner, todo, records, trace_path, f"{dataset.name} / {pipeline.name}", progress)
        searcher.close()
        judge = build_llm(LLMConfig(**spec.judge), cache_dir=out / "cache") if getattr(spec, "judge", None) else None
        answers_by_model = dataset.kind == "qa" and pipeline.answer and cfg.ask.chain != "extract"
        outcome.metrics = compute_metrics(dataset, records, names, judge, model_chain=answers_by_model)
        if fallback_mark(outcome):
            outcome.warnings.append(f"{pipeline.name}: {outcome.metrics['fallback_rate']:.0%} of its answers are "
                                    "extract's quotes (the model's failed the checks): its answer scores are mostly "
                                    "extract's")
        outcome.n_queries = len(records)
        outcome.timings.update(_latency_timings(dataset, records))
        failed, reranked, first = rerank_failures(dataset, records)
        if failed:
            outcome.warnings.append(f"the reranker failed on {failed} of {reranked} queries, which were scored in "
                                    f"fused order (first error: {first})")
    except Exception as exc:  # one failing run must not stop the others; the report says why
        outcome.status, outcome.error = "failed", f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    total = time.perf_counter() - clock
    outcome.timings["total_s"] = round(total, 4)
    if outcome.status == "ok" and todo:
        # Everything but the index build and the model/index calls of the queries run now.
        overhead = total - outcome.timings.get("index_s", 0.0) - work_s
        outcome.timings.update(work_s=round(work_s, 4), overhead_s=round(overhead, 4),
                               overhead_share=round(overhead / max(total - outcome.timings.get("index_s", 0.0), 1e-9), 4))
    return outcome


def run_eval(spec: EvalSpec, out: Path | None = None, progress=None) -> list[RunOutcome]:
    """Every pipeline over every data set of an eval config; outcomes in config order."""
    out = Path(out or spec.out)
    out.mkdir(parents=True, exist_ok=True)
    outcomes: list[RunOutcome] = []
    for dataset_spec in spec.datasets:
        try:
            dataset = load_dataset(dataset_spec)
        except Exception as exc:
            for pipeline in spec.pipelines:
                outcomes.append(RunOutcome(name=pipeline.name, dataset=dataset_spec.name, status="failed",
                                           error=f"data set: {exc}".splitlines()[0][:300]))
            continue
        for pipeline in spec.pipelines:
            outcomes.append(run_pipeline(spec, pipeline, dataset, out, progress))
    return outcomes
