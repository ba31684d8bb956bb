"""The retrieval ceiling of the extract chain on docugami-short: is the answer string in the chunks it is handed?

    python benchmarks/docugami_short/ceiling.py --index DIR [--k 5 20]

DIR is an index of the 20 filings built with the default config (e.g. the one ``ragkit eval
configs/docugami-short.yaml`` builds under its ``indexes/``). For each split and k: the questions
whose expected string is in some chunk of the top k (hybrid, the default search), of the top k with
the search restricted to the question's filing (when it names one), and of the top k once the chunks
that repeat across filings are left out (boilerplate: at least 60 % of a chunk's word 5-grams occur
in five or more files — certifications, cover pages), and of the top k kept to the files whose names
hold the most of the question's file-telling terms ("the Q3 2022 10-Q" -> "2022 Q3 *.pdf"; a sketch,
not in ragkit). Last, whether the extract chain's answer holds it when handed the right filing's top k
(is choosing the filing enough?). Prints one line per split and k.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from common import read_jsonl  # noqa: E402


def _shingles(text: str) -> set[int]:
    words = re.findall(r"[a-z]+", text.lower())
    return {hash(" ".join(words[i:i + 5])) for i in range(len(words) - 4)}


def boilerplate(chunks) -> set[str]:
    """Ids of the chunks most of whose word 5-grams occur in five or more files."""
    shingles = {c.chunk_id: _shingles(c.text) for c in chunks}
    files: dict[int, set[str]] = defaultdict(set)
    for c in chunks:
        for h in shingles[c.chunk_id]:
            files[h].add(c.source)
    return {cid for cid, grams in shingles.items()
            if len(grams) >= 20 and sum(len(files[h]) >= 5 for h in grams) >= 0.6 * len(grams)}


def named_files(question: str, sources: list[str]) -> list[str]:
    """The files whose names hold the most of the question's terms that tell file names apart ("Q3 2022"
    -> the five "2022 Q3 *.pdf"); [] when no such term is asked. A sketch of picking the filing a question
    names, measured here, not in ragkit."""
    from ragkit.text import tokenize

    names = {s: set(tokenize([Path(s).stem])[0]) for s in sources}
    telling = {t for toks in names.values() for t in toks if sum(t in n for n in names.values()) < len(names)}
    asked = set(tokenize([question])[0]) & telling
    if not asked:
        return []
    best = max(len(asked & n) for n in names.values())
    return [s for s, n in names.items() if len(asked & n) == best] if best else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--k", type=int, nargs="+", default=[5, 20])
    args = parser.parse_args()
    from ragkit.config import Config
    from ragkit.evaluation.metrics import answer_contains
    from ragkit.generation.extract import extract_answer
    from ragkit.retrieval.search import Searcher

    searcher = Searcher(args.index, Config())
    in_corpus = searcher.in_corpus
    chunks = list(searcher.index.docstore.iter_chunks())
    repeated = boilerplate(chunks)
    sources = sorted({c.source for c in chunks})
    print(f"{searcher.index.docstore.count()} chunks, {len(repeated)} repeat across filings")
    for split in ("cal", "test"):
        questions = read_jsonl(HERE / f"answers-{split}.jsonl")
        for k in args.k:
            counts = {"all": 0, "right filing": 0, "boilerplate left out": 0, "files the question names": 0,
                      "extract's answer, right filing": 0}
            for q in questions:
                hits = searcher.search(q["question"], mode="hybrid", k=max(60, k))
                one = {"source": q["source"][0]} if len(q["source"]) == 1 else None
                filed = searcher.search(q["question"], mode="hybrid", k=k, filters=one) if one else hits
                kept = [h for h in hits if h.chunk_id not in repeated]
                named = named_files(q["question"], sources)
                # The hybrid ranking kept to those files (its top 300: a filter has no "or" of sources).
                guessed = [h for h in searcher.search(q["question"], mode="hybrid", k=300) if h.source in named] \
                    if named else hits
                for name, found in (("all", hits), ("right filing", filed), ("boilerplate left out", kept),
                                    ("files the question names", guessed)):
                    counts[name] += any(answer_contains(h.text, q["answers"]) for h in found[:k])
                answer = extract_answer(q["question"], filed[:k], in_corpus=in_corpus)
                counts["extract's answer, right filing"] += int(not answer.refused and answer_contains(answer.text, q["answers"]) == 1.0)
            print(f"{split} k={k}: answer in context " + ", ".join(f"{n} {c}/{len(questions)}" for n, c in counts.items()))
    searcher.close()


if __name__ == "__main__":
    main()
