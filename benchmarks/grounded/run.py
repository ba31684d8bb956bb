"""Issue 9 points 1-3 in one run: refusal calibrated on the calibration halves, reported on the test
halves; raw vs clean PDF pages (retrieval and answers); the previous extract chain vs the new one.

    python benchmarks/grounded/indexes.py          # once: the four indexes (~20-40 min on 2 shared cores)
    python benchmarks/grounded/run.py              # ~2-4 min

Data: ``benchmarks/grounded/{docugami,pdfs}-{cal,test}.jsonl`` (questions.py writes them) and
``benchmarks/sample_docs_qa.jsonl`` over ``sample_docs/`` (report only, never calibrated on).
Per question: hybrid retrieval with the default config (top 5 = what ``ragkit ask`` hands the
chain), page and source hit@5, the support score, the previous extract chain's answer (the file at
``--before``, loaded from git) and the new one's. The threshold is the one that maximises balanced
refusal accuracy on the pooled calibration halves (clean pages); the test halves are scored once
with it. Output: ``benchmarks/out/grounded/results.json`` and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from common import REPO, machine_info, read_jsonl, write_json  # noqa: E402
from indexes import config, index_path  # noqa: E402

SETS = ("docugami", "pdfs")


def previous_extract(commit: str):
    """The extract chain module as it was at ``commit`` (its imports are unchanged modules)."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{commit}:ragkit/generation/extract.py"],
                            capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "extract_before.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("extract_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score_questions(index: Path, variant: str, questions: list[dict], before) -> list[dict]:
    """Per question: retrieval hits, support, and both chains' answers (contains, refused)."""
    from ragkit.evaluation import metrics as M
    from ragkit.generation.answer import number_sources
    from ragkit.generation.extract import extract_answer
    from ragkit.generation.refusal import assess_support
    from ragkit.retrieval.search import Searcher

    searcher = Searcher(index, config(variant))
    in_corpus = searcher.in_corpus
    rows = []
    for q in questions:
        hits = searcher.search(q["question"], mode="hybrid", k=5)
        row = {"id": q["id"], "answerable": bool(q["answers"]),
               "support": dataclasses.asdict(assess_support(q["question"], number_sources(hits), in_corpus=in_corpus))}
        if q.get("source"):
            row["source_hit@5"] = M.source_hit_at_k(q["source"], [h.source for h in hits], 5)
            if q.get("page"):
                row["page_hit@5"] = M.page_hit_at_k(q["source"], q["page"], [(h.source, h.page) for h in hits], 5)
        for name, answer in (("before", before.extract_answer(q["question"], hits)),
                             ("after", extract_answer(q["question"], hits, threshold=0.0, in_corpus=in_corpus))):
            row[name] = {"text": answer.text, "refused": answer.refused,
                         "contains": M.answer_contains(answer.text, q["answers"]) if q["answers"] else None,
                         "citations_valid": all(1 <= c <= len(answer.sources) for c in answer.citations)}
        rows.append(row)
    searcher.close()
    return rows


def choose_threshold(rows: list[dict]) -> float:
    """The support threshold with the best balanced refusal accuracy on ``rows`` (ties: the lower one)."""
    scores = sorted({r["support"]["score"] for r in rows} | {0.0})
    best, best_acc = 0.0, -1.0
    for i, low in enumerate(scores):
        high = scores[i + 1] if i + 1 < len(scores) else low + 0.01
        t = round((low + high) / 2, 4)
        acc = balanced(rows, t)
        if acc > best_acc:
            best, best_acc = t, acc
    return best


def rates(rows: list[dict], t: float) -> dict:
    """Refused share of unanswerable and of answerable questions at threshold ``t``."""
    un = [r for r in rows if not r["answerable"]]
    an = [r for r in rows if r["answerable"]]
    return {"unanswerable_refused": _share([r["support"]["score"] < t for r in un]),
            "answerable_refused": _share([r["support"]["score"] < t for r in an]),
            "n_unanswerable": len(un), "n_answerable": len(an)}


def balanced(rows: list[dict], t: float) -> float:
    r = rates(rows, t)
    return (r["unanswerable_refused"] + 1 - r["answerable_refused"]) / 2


def _share(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def summary(rows: list[dict], t: float) -> dict:
    """Retrieval hits, contains (before, after at ``t``: a refused answer contains nothing) and refusal rates."""
    an = [r for r in rows if r["answerable"]]
    out = {k: _share([r[k] == 1.0 for r in an if k in r]) for k in ("source_hit@5", "page_hit@5")}
    out["contains_before"] = _share([r["before"]["contains"] == 1.0 for r in an])
    out["contains_after"] = _share([r["after"]["contains"] == 1.0 and r["support"]["score"] >= t for r in an])
    out["refused_before_unanswerable"] = _share([r["before"]["refused"] for r in rows if not r["answerable"]])
    out["citations_valid_after"] = _share([r["after"]["citations_valid"] for r in rows])
    return out | rates(rows, t)


def main() -> None:
    """Score every set x variant, calibrate on cal/clean, report test (and sample_docs) once."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out" / "grounded")
    parser.add_argument("--before", default="cbdbb1f", help="commit of the previous extract chain")
    args = parser.parse_args()
    before = previous_extract(args.before)
    result = {"machine": machine_info(), "rows": {}}
    for name in SETS:
        for variant in ("raw", "clean"):
            for part in ("cal", "test"):
                qs = read_jsonl(HERE / f"{name}-{part}.jsonl")
                result["rows"][f"{name}/{variant}/{part}"] = score_questions(index_path(args.out, name, variant), variant, qs, before)
    for variant in ("raw", "clean"):
        result["rows"][f"sample/{variant}/test"] = score_sample(args.out, before, variant)
    cal = [r for name in SETS for r in result["rows"][f"{name}/clean/cal"]]
    t = choose_threshold(cal)
    result["threshold"] = t
    result["summary"] = {key: summary(rows, t) for key, rows in result["rows"].items()}
    path = write_json(args.out, "results.json", result)
    print(f"threshold (chosen on {len(cal)} calibration questions, clean pages): {t}\n")
    print_table(result["summary"])
    print(f"\n{path}")


def score_sample(out: Path, before, variant: str) -> list[dict]:
    """sample_docs QA on its own index (raw or clean pages), built here when missing (a few seconds)."""
    from ragkit.ingest.pipeline import ingest

    index = out / f"sample-{variant}"
    if not (index / "CURRENT").is_file():
        ingest(REPO / "sample_docs", index, config(variant))
    return score_questions(index, variant, read_jsonl(REPO / "benchmarks" / "sample_docs_qa.jsonl"), before)


def print_table(summ: dict) -> None:
    """One markdown row per set/variant/part."""
    cols = ["source_hit@5", "page_hit@5", "contains_before", "contains_after", "refused_before_unanswerable",
            "unanswerable_refused", "answerable_refused", "citations_valid_after", "n_answerable", "n_unanswerable"]
    print("| run | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for key, s in summ.items():
        print(f"| {key} | " + " | ".join("" if s.get(c) is None else str(s[c]) for c in cols) + " |")


if __name__ == "__main__":
    main()
