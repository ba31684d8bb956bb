"""Does the embedder's similarity between question and sentence help extract pick the answer? (issue 9, point 3)

    python benchmarks/docugami_short/piece_similarity.py --indexes benchmarks/out/grounded2

Calibration data only: docugami-short cal, the grounded cal halves (docugami, pdfs) and sample_docs,
on the clean-page indexes that benchmarks/grounded/indexes.py builds. For each answerable question
extract did not refuse, the pieces of the top k hybrid chunks are ranked by extract's answer rank
plus lambda x the cosine of the local MiniLM embeddings of question and piece (pieces extract
scores 0 stay out); a question counts when one of the top 3 pieces holds the expected string.
lambda 0 is extract's own ranking (without its follow-share cut). Prints one line per set and k.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "grounded"))

from common import read_jsonl  # noqa: E402
from indexes import config  # noqa: E402

SETS = {"docugami-short-cal": ("docugami-clean", HERE / "answers-cal.jsonl"),
        "docugami-cal": ("docugami-clean", HERE.parent / "grounded" / "docugami-cal.jsonl"),
        "pdfs-cal": ("pdfs-clean", HERE.parent / "grounded" / "pdfs-cal.jsonl"),
        "sample_docs": ("sample-clean", HERE.parent / "sample_docs_qa.jsonl")}
LAMBDAS = (0.0, 0.2, 0.4, 1.0)


def top_holds(question: str, answers: list[str], hits, embedder) -> dict[float, bool]:
    """Per lambda: whether one of the 3 best pieces holds an expected string."""
    from ragkit.evaluation.metrics import answer_contains
    from ragkit.generation.answer import number_sources
    from ragkit.generation.extract import answer_ranks
    from ragkit.generation.refusal import question_terms
    from ragkit.generation.sentences import quotable_pieces

    cands = [(s.n, p, s.source) for s in number_sources(hits) for p in quotable_pieces(s.text)]
    lexical = answer_ranks(question, question_terms(question), [p for _, p, _ in cands],
                           [n for n, _, _ in cands], [f for _, _, f in cands])
    vectors = embedder.embed_array([question] + [f"{p.text} {p.period}" for _, p, _ in cands])
    similarity = vectors[1:] @ vectors[0]
    held = {}
    for lam in LAMBDAS:
        score = np.where(lexical > 0, lexical + lam * similarity, 0.0)
        top = [i for i in np.argsort(-score)[:3] if score[i] > 0]
        held[lam] = any(answer_contains(cands[i][1].text, answers) == 1.0 for i in top)
    return held


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--indexes", type=Path, required=True, help="folder of the grounded2 clean indexes")
    parser.add_argument("--k", type=int, nargs="+", default=[5, 20])
    args = parser.parse_args()
    from ragkit.embedders import build_embedder
    from ragkit.generation.extract import extract_answer
    from ragkit.retrieval.search import Searcher

    embedder = build_embedder(config("clean").embedder)
    for name, (index, qa) in SETS.items():
        searcher = Searcher(args.indexes / index, config("clean"))
        in_corpus = searcher.in_corpus
        for k in args.k:
            counts, answered, total = {lam: 0 for lam in LAMBDAS}, 0, 0
            for q in (q for q in read_jsonl(qa) if q["answers"]):
                total += 1
                hits = searcher.search(q["question"], mode="hybrid", k=k)
                if extract_answer(q["question"], hits, in_corpus=in_corpus).refused:
                    continue
                answered += 1
                for lam, held in top_holds(q["question"], q["answers"], hits, embedder).items():
                    counts[lam] += held
            print(f"{name} k={k}: {total} answerable, {answered} not refused; top-3 pieces hold the answer, by lambda: "
                  + ", ".join(f"{lam}: {c}" for lam, c in counts.items()), flush=True)
        searcher.close()


if __name__ == "__main__":
    main()
