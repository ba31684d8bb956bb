"""Every shipped model side by side in one run, one table (issue 19, point 6): embedders and local chat models.

    python benchmarks/models.py [--parts embedders,chat] [--corpora pdfs,msmarco,scifact,docugami]
                                [--scifact-docs 1000] [--limit 30] [--qa-limit N]
    python benchmarks/models.py --parts omp --rounds 6
    python benchmarks/models.py --parts multi-vector [--mv-corpora sample,pdfs,msmarco,scifact]
                                [--mv-models smollm2-135m,qwen2.5-coder-1.5b] [--mv-summaries]

**Embedders** (MiniLM, the default, against ``embedder.model: e5-small``): per corpus both ingest the
same folder with the default config back to back (same chunks, checked); ingest chunks/s is each
one's. Then per set (own_words_sets.py's sets, both halves, nothing is chosen here) the main metric
of dense and of the default hybrid, and the hybrid search's p50 per query (one query at a time, after
a warm-up). SciFact is a stated sub-corpus (the documents judged for the test queries plus the first
others up to ``--scifact-docs``): e5 over the full corpus takes ~35 min alone here.

**Chat models** (SmolLM2-135M, the default, against Qwen2.5-Coder-1.5B): both loaded in one process
(llama.cpp, 2 threads, a fresh answer cache) taking turns on every item. Rewrites: the first
``--limit`` SciFact test queries, multi-query and rag-fusion (n = 3) against ``none`` on the default
MiniLM index (own_words.py's); ``usable`` = transform_quality.py's rule. Answers: ``ragkit ask``
defaults with the stuff chain on ``benchmarks/sample_docs_qa.jsonl`` and ``benchmarks/grounded/
pdfs-test.jsonl`` against extract (no model): expected answers, answers the model wrote that passed
issue 20's checks (the rest fall back to extract and are counted), time to the first text shown (answers are checked whole, so close to the total) and total seconds.

``--parts omp``: SmolLM2 streaming 5 prompts (64-token cap) in fresh processes with OpenMP's default
wait policy and with ``OMP_WAIT_POLICY=passive`` (what ragkit's local backend sets), alternating which
goes first each round; the median tokens/s and first-token ratios.

``--parts multi-vector``: questions per chunk written by each chat model against none (multi_vector_part.py says how).

Install size added: the files of the distributions an extra adds to the user install (read from the
installed packages' metadata), plus the joined model file ragkit writes to its cache for split models.
Writes ``benchmarks/out/models.json`` and prints one markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]   # this checkout's ragkit, not the one installed in the venv

import common  # noqa: E402  (sets warning filters before langchain imports)
from common import contains_answer  # noqa: E402
from own_words import hit_score  # noqa: E402
from own_words_sets import SETS, SHARED, SPLITS, corpus_folder  # noqa: E402
from transform_quality import one, rates, summarise_all  # noqa: E402

EMBEDDERS = {"minilm": None, "e5-small": "e5-small"}   # name -> embedder.model
CHAT_MODELS = ("smollm2-135m", "qwen2.5-coder-1.5b")
EXTRA_OF = {"e5-small": "e5", "smollm2-135m": "local-llm", "qwen2.5-coder-1.5b": "local-qwen"}
CORPORA = {"pdfs": [("para-pdfs", SPLITS)], "msmarco": [("msmarco", SPLITS)], "scifact": [("scifact", ("test",))],
           "docugami": [("docugami", SPLITS), ("para-docugami", SPLITS)]}
MINILM_INDEXES = common.OUT / "own_words" / "indexes"   # own_words.py's default-config indexes
VENV_SEED = {"pip", "setuptools", "wheel"}   # every venv has them, whatever an extra declares
QA_SETS = {"sample_docs": HERE / "sample_docs_qa.jsonl", "pdfs-test": HERE / "grounded" / "pdfs-test.jsonl"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- install size -----------------------------------------------------------------------------------------------

def _closure(requirements: list[str]) -> set[str]:
    """Every distribution the requirement strings pull in (installed ones only), by normalised name."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = [Requirement(r).name for r in requirements]
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        todo += [Requirement(r).name for r in dist.requires or [] if "extra ==" not in r]
    return seen


def _size_mb(names: set[str]) -> float:
    from importlib import metadata

    total = 0
    for name in names:
        for file in metadata.distribution(name).files or []:
            path = Path(file.locate())
            total += path.stat().st_size if path.is_file() else 0
    return total / 1e6


def install_added() -> dict:
    """MB each model adds to the user install: its extra's distributions (pyproject.toml's, as installed here) not
    already in the base set, plus the joined model file a split model writes to ragkit's cache. MiniLM ships in
    the base install (0); Qwen's row counts only what it adds on top of SmolLM2's ``local-llm``."""
    import tomllib

    project = tomllib.loads((common.REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    base = _closure(project["dependencies"])
    added: dict = {"minilm": 0.0}
    for model, extra in EXTRA_OF.items():
        names = _closure([r for r in extras[extra] if not r.startswith("ragkit")]) - base - VENV_SEED
        if extra == "local-qwen":
            names -= _closure(extras["local-llm"])
        added[model] = round(_size_mb(names) + _joined_model_mb(model), 1)
    return added


def _joined_model_mb(model: str) -> float:
    """The joined GGUF a split model writes to ragkit's cache on first use (its size as the model declares it)."""
    from ragkit.extras import LOCAL_MODELS

    local = LOCAL_MODELS.get(model)
    return local.size / 1e6 if local and local.parts else 0.0


# --- embedders --------------------------------------------------------------------------------------------------

def _config(model: str | None):
    from ragkit.config import Config

    base = Config()
    return dataclasses.replace(base, embedder=dataclasses.replace(base.embedder, model=model))


def scifact_subcorpus(out: Path, size: int) -> Path:
    """A folder whose corpus.jsonl holds every document judged for a test query, then the first others up to
    ``size``, in file order."""
    judged = {d for docs in common.load_qrels(SHARED / "scifact").values() for d in docs}
    lines = (SHARED / "scifact" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    room, keep = max(0, size - len(judged)), []
    for line in lines:
        is_judged = str(json.loads(line)["_id"]) in judged
        if is_judged or room > 0:
            room -= not is_judged
            keep.append(line)
    folder = out / f"scifact-{size}-corpus"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("\n".join(keep) + "\n", encoding="utf-8")
    return folder


def ingest_both(corpus: str, folder: Path, work: Path) -> dict:
    """Each embedder's index of ``folder``, built back to back: index path, chunks, seconds, chunks/s."""
    from ragkit.ingest.pipeline import ingest

    built = {}
    for name, model in EMBEDDERS.items():
        index = work / f"{corpus}-{name}"
        with common.Timer() as t:
            report = ingest(folder, index, _config(model), rebuild=True)
        if report.failed:
            sys.exit(f"error: ingest of {folder} with {name} failed: {report.failed}")
        built[name] = {"index": index, "chunks": report.chunks_total, "wall_s": round(t.s, 1),
                       "chunks_per_s": round(report.chunks_total / t.s, 1)}
        log(f"{corpus} {name}: {report.chunks_total} chunks in {t.s:.0f} s")
    if built["minilm"]["chunks"] != built["e5-small"]["chunks"]:
        sys.exit(f"error: {corpus}: the two ingests made different chunks")
    return built


def score_set(set_name: str, splits, index: Path, cfg, *, sub_corpus: bool = False, only: set[str] | None = None) -> dict:
    """Dense and hybrid main metric over the set's halves (each half's too), and the hybrid search's p50 per query.

    ``sub_corpus``: the index holds part of a BEIR corpus, so each query's judgments are cut to the documents it holds
    and a query left with none is not scored; ``only`` scores those query ids alone.
    """
    from ragkit.retrieval.search import Searcher

    spec = SETS[set_name]
    datasets = [(split, spec.load(split)) for split in splits]
    searcher = Searcher(index, cfg)
    if sub_corpus:
        present = {c.doc_id for c in searcher.index.docstore.iter_chunks()}
        for _, dataset in datasets:
            if dataset.kind == "beir":
                dataset.qrels = {q: {d: g for d, g in judged.items() if d in present} for q, judged in dataset.qrels.items()}
                dataset.queries = [(q, t) for q, t in dataset.queries if dataset.qrels.get(q) and (only is None or q in only)]
    searcher.search("warm-up", mode="hybrid", k=10)
    out, times = {"metric": spec.metric}, []
    for mode in ("dense", "hybrid"):
        scores = []
        for split, dataset in datasets:
            depth, first = (100 if dataset.kind == "beir" else 10), len(scores)
            for qid, text in dataset.queries:
                start = time.perf_counter()
                hits = searcher.search(text, mode=mode, k=depth)
                times += [time.perf_counter() - start] if mode == "hybrid" else []
                scores.append(hit_score(dataset, qid, hits, spec.metric))
            half = [s for s in scores[first:] if s is not None]
            out[f"{mode}_{split}"] = round(sum(half) / len(half), 4) if half else None
        scored = [s for s in scores if s is not None]
        out[mode], out["n"] = round(sum(scored) / len(scored), 4), len(scored)
    searcher.close()
    out["query_p50_ms"] = round(statistics.median(times) * 1000, 1)
    return out


def embedder_part(args, save) -> dict:
    """Both embedders on every corpus: per model and set, quality, chunks/s and query p50."""
    work = Path(tempfile.mkdtemp(prefix="ragkit-models-"))
    models: dict = {name: {} for name in EMBEDDERS}
    ingests: dict = {}
    try:
        for corpus in args.corpora.split(","):
            folder = scifact_subcorpus(work, args.scifact_docs) if corpus == "scifact" else corpus_folder(corpus, work)
            ingests[corpus] = ingest_both(corpus, folder, work)
            for set_name, splits in CORPORA[corpus]:
                for name, model in EMBEDDERS.items():
                    row = score_set(set_name, splits, ingests[corpus][name]["index"], _config(model))
                    models[name][set_name] = {**row, "chunks_per_s": ingests[corpus][name]["chunks_per_s"]}
                    log(f"{set_name} {name}: {models[name][set_name]}")
            save()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"models": models, "ingests": {c: {n: {k: v for k, v in b.items() if k != "index"} for n, b in d.items()}
                                          for c, d in ingests.items()}}


# --- chat models ------------------------------------------------------------------------------------------------

def build_models(threads: int, cache: Path) -> dict:
    """One ChatLLM per shipped model, loaded and warmed up outside any timed item."""
    from ragkit.llm import LLMConfig, build_llm

    llms = {}
    for name in CHAT_MODELS:
        llm = build_llm(LLMConfig(kind="local", model=name, threads=threads), cache_dir=cache / name)
        llm._get_model().invoke("Say hello.", max_tokens=8)
        llms[name] = llm
    return llms


def rewrites(args, llms: dict) -> dict:
    """Usable rewrites and nDCG@10 against none, per model, multi-query and rag-fusion on the same queries."""
    from ragkit.config import Config
    from ragkit.retrieval.search import Searcher

    qids, texts, qrels = common.load_test_queries(args.data)
    qids, texts = qids[: args.limit], texts[: args.limit]
    searcher = Searcher(MINILM_INDEXES / "scifact", Config())
    keys = ["none"] + [f"{m}/{s}" for m in llms for s in ("multi-query", "rag-fusion")]
    per: dict[str, list[dict]] = {k: [] for k in keys}
    for i, q in enumerate(texts, 1):
        per["none"].append(one(q, "none", next(iter(llms.values())), searcher, 300, 3))
        for m, llm in llms.items():
            for s in ("multi-query", "rag-fusion"):
                per[f"{m}/{s}"].append(one(q, s, llm, searcher, 300, 3))
        log(f"  rewrites {i}/{len(texts)}")
    searcher.close()
    summary = summarise_all(keys, per, qids, {q: qrels[q] for q in qids})
    for k in keys[1:]:
        calls = [r["transform_s"] for r in per[k] if r["usage"]["calls"]]
        summary[k].update(rates(per[k]), call_p50_s=round(statistics.median(calls), 2) if calls else None)
    return summary


def answer_row(q: dict, chain: str, llm, searcher) -> dict:
    """``ask`` once (defaults, strategy none): what was shown, who wrote it, how long it took."""
    from ragkit.config import AskConfig
    from ragkit.generation.ask import ask

    first: list[float] = []
    start = time.perf_counter()
    result = ask(q["question"], searcher, llm, AskConfig(strategy="none", chain=chain), mode="hybrid",
                 on_token=lambda piece: first.append(time.perf_counter() - start) if not first else None)
    total, ans = time.perf_counter() - start, result.answer
    text = re.sub(r"\[\d+\]", " ", ans.text)
    return {"id": q["id"], "answerable": bool(q["answers"]), "answer": ans.text, "refused": ans.refused,
            "answered_by": ans.answered_by, "fallback_reason": ans.fallback_reason,
            "expected": bool(q["answers"]) and not ans.refused and contains_answer(text, q["answers"]),
            "model_called": bool(result.usage["calls"]), "first_s": first[0] if first else None, "total_s": total}


def answers(args, llms: dict, work: Path) -> dict:
    """Extract against each model's stuff chain on the QA sets, interleaved per question."""
    from ragkit.config import Config
    from ragkit.ingest.pipeline import ingest
    from ragkit.retrieval.search import Searcher

    ingest(common.REPO / "sample_docs", work / "sample", Config(), rebuild=True)
    indexes = {"sample_docs": work / "sample", "pdfs-test": MINILM_INDEXES / "pdfs"}
    out: dict = {}
    for set_name, path in QA_SETS.items():
        qa = common.read_jsonl(path)[: args.qa_limit or None]
        searcher = Searcher(indexes[set_name], Config())
        runs = {"extract": (None, "extract"), **{m: (llm, "stuff") for m, llm in llms.items()}}
        rows: dict[str, list[dict]] = {k: [] for k in runs}
        for n, q in enumerate(qa, 1):
            for key, (llm, chain) in runs.items():
                rows[key].append(answer_row(q, chain, llm, searcher))
            log(f"  [{set_name} {n}/{len(qa)}] {q['id']}: " + ", ".join(
                f"{k} {r[-1]['total_s']:.1f}s {'ok' if r[-1]['expected'] else '--'}" for k, r in rows.items()))
        searcher.close()
        out[set_name] = {k: summarise_answers(r) | {"rows": r} for k, r in rows.items()}
    return out


def summarise_answers(rows: list[dict]) -> dict:
    """Expected answers, model answers shown vs fallen back, refusals, and seconds over the model's answers."""
    an, un = [r for r in rows if r["answerable"]], [r for r in rows if not r["answerable"]]
    called = [r for r in rows if r["model_called"]]

    def p50(key: str):
        values = [r[key] for r in called if r[key] is not None]
        return round(statistics.median(values), 1) if values else None

    return {"expected": sum(r["expected"] for r in an), "answerable": len(an),
            "refused_unanswerable": sum(r["refused"] for r in un), "unanswerable": len(un),
            "shown_by_model": sum(r["answered_by"] == "model" for r in rows),
            "fell_back": sum(bool(r["fallback_reason"]) for r in rows), "model_answers": len(called),
            "first_p50_s": p50("first_s"), "total_p50_s": p50("total_s")}


def chat_part(args) -> dict:
    """Both chat models (and the no-model baselines): per model and set, the table's cells and the raw figures."""
    work = Path(tempfile.mkdtemp(prefix="ragkit-models-chat-"))
    try:
        llms = build_models(args.threads, work / "llm-cache")
        summary, qa = rewrites(args, llms), answers(args, llms, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    none = summary["none"]["metrics"]["ndcg@10"]
    models: dict = {"no model": {f"SciFact rewrites ({args.limit} q)": {"quality": f"nDCG@10 none {none:.3f}"}}}
    for m in ["extract", *CHAT_MODELS]:
        for set_name, runs in qa.items():
            s = runs[m]
            models.setdefault("no model" if m == "extract" else m, {})[f"{set_name} QA, {'extract' if m == 'extract' else 'stuff'}"] = {
                "quality": f"expected {s['expected']}/{s['answerable']}; refused unanswerable "
                           f"{s['refused_unanswerable']}/{s['unanswerable']}"
                           + ("" if m == "extract" else f"; model's answer shown {s['shown_by_model']}, "
                              f"fell back {s['fell_back']} of {s['model_answers']}"),
                "answer_s": None if m == "extract" else f"{s['total_p50_s']} ({s['first_p50_s']})"}
    for m in CHAT_MODELS:
        mq, rf = summary[f"{m}/multi-query"], summary[f"{m}/rag-fusion"]
        models[m][f"SciFact rewrites ({args.limit} q)"] = {
            "quality": f"usable {mq['usable_rate']:.2f}/{rf['usable_rate']:.2f}; nDCG@10 multi-query "
                       f"{mq['metrics']['ndcg@10']:.3f}, rag-fusion {rf['metrics']['ndcg@10']:.3f}",
            "call_p50_s": mq["call_p50_s"]}
    return {"models": models, "rewrites": summary, "answers": qa}


# --- llama.cpp's OpenMP wait policy -------------------------------------------------------------------------------

OMP_PROMPTS = ["Rewrite into 3 search queries: how do rerankers improve retrieval?",
               "In one sentence, what is reciprocal rank fusion?",
               "Summarise: BM25 is a sparse retrieval function introduced in 1994 at City University London.",
               "List three uses of a vector index.", "What does a chunk overlap do when splitting documents?"]
OMP_CHILD = r"""
import json, sys, time
import faiss  # noqa: F401  loaded first, as in `ragkit ask` (it bundles its own OpenMP copy)
import ragkit.llm.local as local
from ragkit.config import LLMConfig
from ragkit.llm import build_llm
tokens, prompts, passive = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3] == "passive"
if not passive:
    local.quiet_openmp = lambda: None  # ragkit before OMP_WAIT_POLICY=passive: the OpenMP default
llm = build_llm(LLMConfig(max_tokens=tokens, threads=2, cache=False))
llm.complete("warm up", max_tokens=4)
n = secs = first = 0.0
for p in prompts:
    t = time.perf_counter(); got = None
    for piece in llm.stream(p):
        got = got or time.perf_counter() - t
        n += 1
    secs += time.perf_counter() - t; first += got or 0.0
print(json.dumps({"tok_per_s": round(n / secs, 1), "first_token_ms": round(1000 * first / len(prompts))}))
"""


def omp_part(rounds: int, tokens: int = 64) -> dict:
    """SmolLM2 streaming the same prompts with OpenMP's default wait policy and with ragkit's passive one, each a
    fresh process (the policy is read once, when llama.cpp loads), alternating which goes first."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["PYTHONPATH"] = os.pathsep.join([str(common.REPO), env.get("PYTHONPATH", "")])
    rows = []
    for r in range(rounds):
        for policy in (("default", "passive") if r % 2 == 0 else ("passive", "default")):
            done = subprocess.run([sys.executable, "-c", OMP_CHILD, str(tokens), json.dumps(OMP_PROMPTS), policy],
                                  env=env, capture_output=True, text=True, check=True)
            rows.append({"round": r, "policy": policy, "load_avg_1m": round(os.getloadavg()[0], 2),
                         **json.loads(done.stdout.strip().splitlines()[-1])})
            log(json.dumps(rows[-1]))
    med = {p: {k: statistics.median(x[k] for x in rows if x["policy"] == p) for k in ("tok_per_s", "first_token_ms")}
           for p in ("default", "passive")}
    return {"rounds": rows, "median": med,
            "tok_per_s_ratio": round(med["passive"]["tok_per_s"] / med["default"]["tok_per_s"], 2),
            "first_token_ratio": round(med["default"]["first_token_ms"] / med["passive"]["first_token_ms"], 2)}


def parse_args() -> argparse.Namespace:
    parser = common.parser(__doc__)
    common.add_data_arg(parser)
    parser.add_argument("--parts", default="embedders,chat",
                        help="of embedders, chat, omp, multi-vector (default embedders,chat)")
    parser.add_argument("--mv-corpora", default="sample,pdfs,msmarco,scifact", help="multi-vector corpora")
    parser.add_argument("--mv-models", default=",".join(CHAT_MODELS), help="multi-vector: the models writing questions")
    parser.add_argument("--mv-scifact-queries", type=int, default=60, help="multi-vector: SciFact test queries (60)")
    parser.add_argument("--mv-scifact-docs", type=int, default=200, help="multi-vector: SciFact sub-corpus size (200)")
    parser.add_argument("--mv-msmarco-docs", type=int, default=400, help="multi-vector: msmarco sub-corpus size (400)")
    parser.add_argument("--mv-summaries", action="store_true", help="multi-vector: one summary per chunk, not questions")
    parser.add_argument("--rounds", type=int, default=6, help="omp: rounds of the two policies (6)")
    parser.add_argument("--corpora", default=",".join(CORPORA), help=f"embedder corpora, of: {', '.join(CORPORA)}")
    parser.add_argument("--scifact-docs", type=int, default=1000,
                        help="SciFact sub-corpus size for the embedders: judged test documents + the first others")
    parser.add_argument("--limit", type=int, default=30, help="first N SciFact test queries for the rewrites (30)")
    parser.add_argument("--qa-limit", type=int, default=None, help="first N questions of each QA set (all)")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads (2)")
    args = parser.parse_args()
    args.out = Path(args.out).resolve()
    return args


def _cell(value, fmt: str = "{}") -> str:
    return "—" if value is None else fmt.format(value)


def table_rows(result: dict) -> list[list[str]]:
    """One row per model and set: quality, ingest chunks/s, query p50, answer seconds, install size added."""
    rows = []
    for model, sets in result.get("embedders", {}).get("models", {}).items():
        added = result["install"].get(model)
        for set_name, s in sets.items():
            rows.append([model, set_name, f"{s['metric']} {s['hybrid']:.3f} (dense {s['dense']:.3f})",
                         _cell(s.get("chunks_per_s"), "{:.1f}"), _cell(s.get("query_p50_ms"), "{:.0f} ms"), "—",
                         _cell(added, "{:.0f} MB")])
    chat = result.get("chat", {})
    for model, sets in chat.get("models", {}).items():
        added = result["install"].get(model)
        for set_name, s in sets.items():
            rows.append([model, set_name, s["quality"], "—", _cell(s.get("call_p50_s"), "{:.1f} s"),
                         _cell(s.get("answer_s"), "{}"), _cell(added, "{:.0f} MB")])
    return rows


def print_table(result: dict) -> None:
    """The one markdown table."""
    print("\n| model | set | quality | ingest chunks/s | query p50 | answer s, p50 (first shown) | install added |")
    print("|---|---|---|---|---|---|---|")
    for row in table_rows(result):
        print("| " + " | ".join(row) + " |")


def main() -> None:
    args = parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    name = "multi_vector.json" if parts == {"multi-vector"} else "models.json"   # alone, it keeps the models run
    result: dict = {"machine": common.machine_info(), "args": {k: str(v) for k, v in vars(args).items()},
                    "install": install_added()}
    started = time.perf_counter()
    if "embedders" in parts:
        result["embedders"] = embedder_part(args, lambda: common.write_json(args.out, name, result))
    if "chat" in parts:
        result["chat"] = chat_part(args)
    if "multi-vector" in parts:
        from multi_vector_part import multi_vector_part, table
        result["multi_vector"] = multi_vector_part(args, lambda: common.write_json(args.out, name, result))
        print("\n".join(table(result["multi_vector"])))
    if "omp" in parts:
        result["omp"] = omp_part(args.rounds)
        log(f"OMP_WAIT_POLICY=passive / default: tokens/s {result['omp']['tok_per_s_ratio']}x, "
            f"first token {result['omp']['first_token_ratio']}x")
    result["run_wall_s"] = round(time.perf_counter() - started, 1)
    result["machine"]["loadavg_end"] = common.machine_info()["loadavg_start"]
    path = common.write_json(args.out, name, result)
    print_table(result)
    print(f"\nrun {result['run_wall_s'] / 60:.1f} min; wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
