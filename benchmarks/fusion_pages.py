"""Issue 8 point 1: source hit@5 and page hit@5 of each search mode on the hand-labelled questions
that know their page (docugami 10-Qs and ``pdfs/``), against the pre-issue-8 hybrid.

    python benchmarks/fusion_pages.py [--docugami-index DIR] [--pdfs-index DIR]   # ~1 min

Questions: ``benchmarks/grounded/{docugami,pdfs}-{cal,test}.jsonl``, the answerable ones only
(those with a source and a page; the unanswerable ones have neither). Both halves are pooled: no
setting is chosen here, the runs are only measured. Runs: dense, sparse and hybrid with the
default config, and ``hybrid-pre8`` = hybrid with the search settings before issue 8 (RRF,
weights dense 1 / sparse 1, no document evidence). Each index must be built with the default
config (PDF page cleaning on) and hold the ``documents/`` index, else default sparse and hybrid
silently lose document evidence: the script refuses such an index. ``--build-pdfs`` builds a
missing ``pdfs/`` index (4 PDFs, a few minutes; one embedding job at a time).
Output: ``benchmarks/out/fusion_pages.json`` and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import OUT, REPO, machine_info, read_jsonl, write_json  # noqa: E402

SHARED = REPO.parent / "shared" / "datasets"
GROUNDED = HERE / "grounded"
SETS = {"docugami": OUT / "fusion" / "docugami-index", "pdfs": OUT / "pdfs-index"}
FOLDERS = {"docugami": SHARED / "docugami-sec-10q" / "docs", "pdfs": SHARED / "pdfs"}
SPLITS = ("cal", "test")
K = 5
# run name -> (mode, search-section overrides of the default config)
RUNS = {
    "dense": ("dense", {}),
    "sparse": ("sparse", {}),
    "hybrid (default)": ("hybrid", {}),
    "hybrid-pre8 (rrf, 1/1, no doc evidence)": ("hybrid", {"fusion": "rrf", "weights": {"dense": 1.0, "sparse": 1.0},
                                                            "document_weight": 0.0}),
}


def load_questions(name: str) -> list[dict]:
    """The answerable questions of both halves of set ``name`` (those with a source and a page)."""
    rows = []
    for split in SPLITS:
        for q in read_jsonl(GROUNDED / f"{name}-{split}.jsonl"):
            if q.get("source") and q.get("page") is not None:
                rows.append({**q, "split": split})
    return rows


def check_index(index: Path) -> dict:
    """The index's manifest settings; exits unless they are the default config's (and documents/ exists)."""
    from ragkit.config import Config

    if not (index / "CURRENT").is_file():
        sys.exit(f"error: no index at {index} (pass its folder, or --build-pdfs for pdfs/)")
    generation = (index / "CURRENT").read_text().split()[0]
    manifest = json.loads((index / generation / "manifest.json").read_text(encoding="utf-8"))
    splitter = Config().splitter
    expected = {"chunk_size": splitter.chunk_size, "chunk_overlap": splitter.chunk_overlap,
                "length": splitter.length, "pdf_clean_pages": Config().loader.pdf_clean_pages,
                "pdf_tables": Config().loader.pdf_tables}
    got = {key: manifest["splitter"].get(key) for key in expected}
    if got != expected:
        sys.exit(f"error: {index} was split with {got}, the default config is {expected}")
    if "documents" not in manifest["integrity"]["counts"]:
        sys.exit(f"error: {index} has no documents/ index (written before issue 8): rebuild it")
    return {"generation": generation, "created_at": manifest["created_at"], "chunks": manifest["chunks"],
            "splitter": manifest["splitter"], "embedder": manifest["embedder"]["id"]}


def build_index(name: str, index: Path) -> None:
    """Build the ``name`` set's index with the default config unless it exists."""
    from ragkit.config import Config
    from ragkit.ingest.pipeline import ingest

    if not (index / "CURRENT").is_file():
        report = ingest(FOLDERS[name], index, Config())
        print(f"built {index}: {report.chunks_total} chunks", flush=True)


def run_config(overrides: dict):
    """The default config with ``overrides`` on its search section."""
    from ragkit.config import Config

    cfg = Config()
    return dataclasses.replace(cfg, search=dataclasses.replace(cfg.search, **overrides))


def score_run(index: Path, mode: str, overrides: dict, questions: list[dict]) -> list[dict]:
    """Per question: source hit@5, page hit@5 and the top-5 (source, page) of one run."""
    from ragkit.evaluation import metrics as M
    from ragkit.retrieval.search import Searcher

    searcher = Searcher(index, run_config(overrides))
    try:
        results = searcher.search_many([q["question"] for q in questions], mode=mode, k=K)
    finally:
        searcher.close()
    rows = []
    for q, hits in zip(questions, results):
        pairs = [(h.source, h.page) for h in hits]
        rows.append({"id": q["id"], "split": q["split"],
                     f"source_hit@{K}": M.source_hit_at_k(q["source"], [h.source for h in hits], K),
                     f"page_hit@{K}": M.page_hit_at_k(q["source"], q["page"], pairs, K),
                     "top": [list(p) for p in pairs]})
    return rows


def summarise(rows: list[dict]) -> dict:
    """Mean hits over all rows and per split."""
    def means(subset: list[dict]) -> dict:
        return {"n": len(subset), **{m: round(sum(r[m] for r in subset) / len(subset), 4)
                                     for m in (f"source_hit@{K}", f"page_hit@{K}")}}

    return {"all": means(rows), **{split: means([r for r in rows if r["split"] == split]) for split in SPLITS}}


def markdown(results: dict, counts: dict[str, int]) -> str:
    """Rows = runs, columns = set x (source hit@5, page hit@5), pooled over both halves."""
    sets = list(counts)
    head = ["run"] + [f"{s} (n={counts[s]}) {m}" for s in sets for m in (f"source hit@{K}", f"page hit@{K}")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run, per_set in results.items():
        cells = [f"{per_set[s]['summary']['all'][m]:.3f}" for s in sets for m in (f"source_hit@{K}", f"page_hit@{K}")]
        lines.append("| " + " | ".join([run, *cells]) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in SETS.items():
        parser.add_argument(f"--{name}-index", type=Path, default=default, help=f"the {name} index (default {default})")
    parser.add_argument("--build-pdfs", action="store_true", help="build the pdfs/ index first if it is missing")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    args = parser.parse_args()
    indexes = {name: getattr(args, f"{name}_index") for name in SETS}
    if args.build_pdfs:
        build_index("pdfs", indexes["pdfs"])
    info = {name: {"path": str(index), **check_index(index)} for name, index in indexes.items()}
    questions = {name: load_questions(name) for name in SETS}
    results: dict = {}
    for run, (mode, overrides) in RUNS.items():
        results[run] = {}
        for name, index in indexes.items():
            rows = score_run(index, mode, overrides, questions[name])
            results[run][name] = {"mode": mode, "overrides": overrides, "summary": summarise(rows), "questions": rows}
    table = markdown(results, {name: len(qs) for name, qs in questions.items()})
    path = write_json(args.out, "fusion_pages.json", {"machine": machine_info(), "k": K, "indexes": info,
                                                      "table": table, "runs": results})
    print(table)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
