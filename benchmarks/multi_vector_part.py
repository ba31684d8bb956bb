"""``models.py --parts multi-vector``: questions per chunk (``ingest.questions: 3``) written by each chat model, against none.

Per corpus, one index with the default config (``none``) and one per chat model with ``ingest.questions: 3``
(the count LangChain's MultiVectorRetriever example uses, fixed before looking: nothing is chosen here, so every
half of every set is scored). Generation costs a model call per chunk, so the big corpora are stated sub-corpora:
SciFact, the documents judged for its first ``--mv-scifact-queries`` test queries plus the first others up to
``--mv-scifact-docs``; msmarco-subset, the documents judged for the entity-name queries plus a seeded sample of
the others up to ``--mv-msmarco-docs`` (its queries judge ~95 passages each, so each keeps some in any sample; a
query whose judged passages all fell out is not scored). sample_docs and the PDFs are whole. Docugami (3,857 chunks,
~3 h of SmolLM2 here) is left out, as stated in BENCHMARKS.md.

Reported per model and set: the main metric of dense and of the default hybrid, none against multi-vector, the
hybrid query p50 of both; per corpus and model, the seconds spent writing questions (model calls per chunk, the
share of unusable replies) against the plain ingest of the same folder in the same run.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from pathlib import Path

import common
from models import score_set
from own_words_sets import PARA, SHARED, corpus_folder

QUESTIONS = 3
MV_SETS = {"sample": [("sample", ("test",))],
           "pdfs": [("para-pdfs", ("cal", "test")), ("grounded-pdfs", ("cal", "test"))],
           "msmarco": [("msmarco", ("cal", "test")), ("entities", ("cal", "test"))],
           "scifact": [("scifact", ("test",))]}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _config(model: str | None, questions: int, summaries: bool = False):
    from ragkit.config import Config

    base = Config()
    # No model-answer cache: the writing seconds are the model's (the index's own cache of questions still
    # answers a re-run, and model_calls says so).
    return dataclasses.replace(base, ingest=dataclasses.replace(base.ingest, questions=questions, summaries=summaries),
                               llm=dataclasses.replace(base.llm, model=model, cache=False, threads=2))


def scifact_folder(work: Path, queries: int, size: int) -> tuple[Path, set[str]]:
    """The SciFact sub-corpus, and the test query ids it can score (the first ``queries`` in qrels order)."""
    qrels = common.load_qrels(SHARED / "scifact")
    kept_queries = set(list(qrels)[:queries])
    judged = {d for q in kept_queries for d in qrels[q]}
    return _subset(SHARED / "scifact" / "corpus.jsonl", work / f"mv-scifact-{queries}-{size}", judged, size, None), kept_queries


def msmarco_folder(work: Path, size: int) -> Path:
    """The msmarco-subset sub-corpus: every passage an entity query judges, then a seeded sample of the rest."""
    judged = set()
    for split in ("cal", "test"):
        for line in (PARA / "entities" / f"qrels-{split}.tsv").read_text().splitlines()[1:]:
            judged.add(line.split("\t")[1])
    return _subset(SHARED / "msmarco-subset" / "corpus.jsonl", work / f"mv-msmarco-{size}", judged, size, 7)


def _subset(corpus: Path, folder: Path, keep: set[str], size: int, seed: int | None) -> Path:
    lines = [line for line in corpus.read_text(encoding="utf-8").split("\n") if line.strip()]   # not splitlines: U+2028 sits inside texts
    ids = [str(json.loads(line)["_id"]) for line in lines]
    others = [i for i, d in enumerate(ids) if d not in keep]
    if seed is not None:
        random.Random(seed).shuffle(others)
    chosen = {i for i, d in enumerate(ids) if d in keep} | set(others[:max(0, size - len(keep))])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("\n".join(lines[i] for i in sorted(chosen)) + "\n", encoding="utf-8")
    return folder


def build(corpus: str, folder: Path, work: Path, models: list[str], summaries: bool = False) -> dict:
    """The plain index and one multi-vector index per model (questions, or with ``summaries`` one summary per chunk
    instead): path, chunks, seconds, what generation cost."""
    from ragkit.ingest.pipeline import ingest

    built = {}
    runs = [(f"{m}-summaries" if summaries else m, m) for m in models]
    for name, model in [("none", None)] + runs:
        index = work / f"mv-{corpus}-{name}"
        questions = 0 if summaries or model is None else QUESTIONS
        with common.Timer() as t:
            report = ingest(folder, index, _config(model, questions, summaries and model is not None), rebuild=True)
        generated = report.generated or {}
        calls = generated.get("model_calls", 0) + generated.get("from_cache", 0)
        written = _writing_cost(index)
        built[name] = {"index": index, "chunks": report.chunks_total, "wall_s": round(t.s, 1),
                       "generate_s": written["seconds"], "replies": written["replies"],
                       "model_calls_this_run": generated.get("model_calls"),
                       "unusable_share": round(generated["unusable"] / calls, 3) if calls else None,
                       "questions_kept": generated.get("texts", {}).get("question"),
                       "summaries_kept": generated.get("texts", {}).get("summary")}
        log(f"{corpus} {name}: {report.chunks_total} chunks in {t.s:.0f} s {generated}")
    return built


def _writing_cost(index: Path) -> dict:
    """The model's seconds over every reply the index's cache holds, as each was timed when written (a re-run,
    answered from the cache, reports the first run's cost)."""
    import sqlite3

    path = index / "generated.sqlite"
    if not path.is_file():
        return {"seconds": None, "replies": 0}
    with sqlite3.connect(path) as db:
        seconds, replies = db.execute("SELECT SUM(seconds), COUNT(*) FROM replies").fetchone()
    return {"seconds": round(seconds or 0.0, 1), "replies": replies}


def multi_vector_part(args, save) -> dict:
    """Every corpus: build, then score each set on the plain and each model's multi-vector index."""
    work = args.out / "multi_vector"
    models = [m.strip() for m in args.mv_models.split(",") if m.strip()]
    result: dict = {"questions": QUESTIONS, "corpora": {}, "sets": {}}
    for corpus in [c.strip() for c in args.mv_corpora.split(",") if c.strip()]:
        only = None
        if corpus == "scifact":
            folder, only = scifact_folder(work, args.mv_scifact_queries, args.mv_scifact_docs)
        elif corpus == "msmarco":
            folder = msmarco_folder(work, args.mv_msmarco_docs)
        else:
            folder = corpus_folder(corpus, work)
        built = build(corpus, folder, work, models, args.mv_summaries)
        result["corpora"][corpus] = {name: {k: v for k, v in b.items() if k != "index"} for name, b in built.items()}
        for set_name, splits in MV_SETS[corpus]:
            result["sets"][set_name] = {name: score_set(set_name, splits, b["index"], _config(None, 0), sub_corpus=True,
                                                        only=only) for name, b in built.items()}
            log(f"{set_name}: {result['sets'][set_name]}")
        save()
    return result


def table(result: dict) -> list[str]:
    """Markdown rows: per set, none against each model's questions (dense and hybrid), and the cost per corpus."""
    rows = ["| set | metric | none: hybrid (dense) | " + " | ".join(f"{m}: hybrid (dense)" for m in _models(result))
            + " | hybrid p50 none / mv |", "|---" * (4 + len(_models(result))) + "|"]
    for set_name, runs in result["sets"].items():
        none = runs["none"]
        cells = [f"{runs[m]['hybrid']:.3f} ({runs[m]['dense']:.3f})" for m in _models(result)]
        p50 = " / ".join(f"{runs[m]['query_p50_ms']:.0f}" for m in ["none", *_models(result)])
        rows.append(f"| {set_name} (n={none['n']}) | {none['metric']} | {none['hybrid']:.3f} ({none['dense']:.3f}) | "
                    + " | ".join(cells) + f" | {p50} ms |")
    rows += ["", "| corpus | chunks | plain ingest s | " + " | ".join(f"{m}: writing s (s/chunk, unusable)"
                                                                       for m in _models(result)) + " |",
             "|---" * (3 + len(_models(result))) + "|"]
    for corpus, built in result["corpora"].items():
        cells = [f"{built[m]['generate_s']:.0f} ({built[m]['generate_s'] / max(built[m]['replies'], 1):.1f}, "
                 f"{built[m]['unusable_share']:.0%})" for m in _models(result)]
        rows.append(f"| {corpus} | {built['none']['chunks']} | {built['none']['wall_s']:.0f} | " + " | ".join(cells) + " |")
    return rows


def _models(result: dict) -> list[str]:
    first = next(iter(result["sets"].values()))
    return [m for m in first if m != "none"]
