"""The data sets of benchmarks/own_words.py (issue 18), each split into a calibration and a test half.

Every set names the corpus its index is built from (one index per corpus, shared by its sets), its main
retrieval metric, and whether its questions carry answers to check. Splits, fixed before any scoring:

- scifact: cal = the train queries, test = the test queries;
- msmarco, docugami (the 195 reference questions): every other question, in file order (cal first) /
  by the id's number (even: cal);
- entities, paraphrase and grounded sets: the cal/test files written with the set;
- docugami-short: its answers-cal / answers-test files; sample: no split (17 questions, both halves).

Needs only the ragkit API that every version since issue 9 has (Searcher, ask, load_beir, load_qa), so
the same definitions run against an older checkout (``own_words.py --before``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = REPO.parent / "shared" / "datasets"
PARA = HERE / "paraphrase"
SPLITS = ("cal", "test")


@dataclass(frozen=True)
class EvalSet:
    """One data set: the corpus its index holds, its main metric, whether answers are checked, a loader by split."""

    name: str
    corpus: str
    metric: str
    answers: bool
    load: Callable[[str], object]


def corpus_folder(corpus: str, work: Path) -> Path:
    """The folder ``ragkit ingest`` reads for ``corpus`` (BEIR corpora are copied into ``work``: a symlink out of
    the folder is refused by the loader)."""
    folders = {"pdfs": SHARED / "pdfs", "docugami": SHARED / "docugami-sec-10q" / "docs", "sample": REPO / "sample_docs"}
    if corpus in folders:
        return folders[corpus]
    source = {"scifact": SHARED / "scifact", "msmarco": SHARED / "msmarco-subset"}[corpus] / "corpus.jsonl"
    folder = work / f"{corpus}-corpus"
    if not (folder / "corpus.jsonl").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, folder / "corpus.jsonl")
    return folder


def _every_other(dataset, split: str, by_id: bool = False):
    def even(position: int, qid: str) -> bool:
        digits = "".join(c for c in qid if c.isdigit())
        return (int(digits) if by_id and digits else position) % 2 == 0
    dataset.queries = [q for i, q in enumerate(dataset.queries) if even(i, q[0]) == (split == "cal")]
    return dataset


def _scifact(split: str):
    from ragkit.evaluation.datasets import load_beir
    root = SHARED / "scifact"
    queries, qrels = ("queries_train.jsonl", "qrels_train.tsv") if split == "cal" else ("queries.jsonl", "qrels.tsv")
    return load_beir("scifact", root / "corpus.jsonl", root / queries, root / qrels)


def _msmarco(split: str):
    from ragkit.evaluation.datasets import load_beir
    root = SHARED / "msmarco-subset"
    return _every_other(load_beir("msmarco", root / "corpus.jsonl", root / "queries.jsonl", root / "qrels.tsv"), split)


def _entities(split: str):
    from ragkit.evaluation.datasets import load_beir
    root = PARA / "entities"
    return load_beir("entities", SHARED / "msmarco-subset" / "corpus.jsonl", root / f"queries-{split}.jsonl",
                     root / f"qrels-{split}.tsv")


def _docugami(split: str):
    from ragkit.evaluation.datasets import load_qa
    root = SHARED / "docugami-sec-10q"
    return _every_other(load_qa("docugami", root / "docs", root / "qa.jsonl", fields={"answers": "answer"}), split,
                        by_id=True)


def _qa(name: str, corpus: str, path: Callable[[str], Path]) -> Callable[[str], object]:
    def load(split: str):
        from ragkit.evaluation.datasets import load_qa
        return load_qa(name, corpus_folder(corpus, Path(".")), path(split))
    return load


SETS = {s.name: s for s in (
    EvalSet("scifact", "scifact", "ndcg@10", False, _scifact),
    EvalSet("msmarco", "msmarco", "ndcg@10", False, _msmarco),
    EvalSet("entities", "msmarco", "ndcg@10", False, _entities),
    EvalSet("docugami", "docugami", "source_hit@5", False, _docugami),
    EvalSet("sample", "sample", "source_hit@1", True, _qa("sample", "sample", lambda _: HERE / "sample_docs_qa.jsonl")),
    EvalSet("grounded-pdfs", "pdfs", "page_hit@5", True, _qa("grounded-pdfs", "pdfs", lambda s: HERE / "grounded" / f"pdfs-{s}.jsonl")),
    EvalSet("grounded-docugami", "docugami", "page_hit@5", True,
            _qa("grounded-docugami", "docugami", lambda s: HERE / "grounded" / f"docugami-{s}.jsonl")),
    EvalSet("para-pdfs", "pdfs", "page_hit@5", True, _qa("para-pdfs", "pdfs", lambda s: PARA / f"pdfs-{s}.jsonl")),
    EvalSet("para-docugami", "docugami", "page_hit@5", True,
            _qa("para-docugami", "docugami", lambda s: PARA / f"docugami-{s}.jsonl")),
    EvalSet("docugami-short", "docugami", "source_hit@5", True,
            _qa("docugami-short", "docugami", lambda s: HERE / "docugami_short" / f"answers-{s}.jsonl")),
)}


def missing_data() -> list[str]:
    """The shared data folders that are not there (the script stops naming them)."""
    needed = [SHARED / "scifact" / "corpus.jsonl", SHARED / "msmarco-subset" / "corpus.jsonl",
              SHARED / "docugami-sec-10q" / "docs", SHARED / "pdfs"]
    return [str(p) for p in needed if not p.exists()]
