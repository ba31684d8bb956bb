"""Evaluation data sets: BEIR retrieval sets and QA sets, read into plain records.

BEIR: ``corpus.jsonl`` (``{"_id","title","text"}``), ``queries.jsonl`` (``{"_id","text"}``) and
``qrels.tsv`` (``query-id  corpus-id  score``, graded allowed). Only queries that have qrels
are evaluated; qrels naming documents missing from the corpus are counted and reported.

QA: a documents folder and a ``qa.jsonl`` whose lines hold a question, accepted answers
(``answers`` list or one ``answer``), and optionally the source file(s) and page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ragkit.errors import DatasetError


@dataclass(frozen=True)
class QAItem:
    """One QA question with what counts as a right answer and where it lives."""

    id: str
    question: str
    answers: tuple[str, ...]          # empty: the answer is not in the documents
    sources: tuple[str, ...] = ()     # file names or paths relative to the documents folder
    page: int | None = None


@dataclass
class Dataset:
    """A loaded data set: queries (id, text) in file order, and the judgments."""

    name: str
    kind: str                                       # "beir" | "qa"
    queries: list[tuple[str, str]]
    qrels: dict[str, dict[str, float]] = field(default_factory=dict)
    items: dict[str, QAItem] = field(default_factory=dict)
    corpus: Path | None = None                      # beir: the corpus file to index
    documents: Path | None = None                   # qa: the folder to index
    warnings: list[str] = field(default_factory=list)


def _jsonl(path: Path):
    try:
        handle = open(path, encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path} line {number}: not valid JSON ({exc.msg})") from None


def read_qrels(path: Path) -> dict[str, dict[str, float]]:
    """``{query_id: {doc_id: relevance}}`` from a BEIR qrels TSV (a header line is skipped)."""
    qrels: dict[str, dict[str, float]] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from None
    for number, line in enumerate(lines, start=1):
        parts = line.split("\t") if "\t" in line else line.split()
        if not parts or not line.strip():
            continue
        if number == 1 and not parts[-1].strip().lstrip("-").isdigit():
            continue  # header
        if len(parts) == 4:  # TREC form: qid 0 docid rel
            parts = [parts[0], parts[2], parts[3]]
        if len(parts) != 3:
            raise DatasetError(f"{path} line {number}: expected 'query-id corpus-id score'")
        try:
            qrels.setdefault(parts[0].strip(), {})[parts[1].strip()] = float(parts[2])
        except ValueError:
            raise DatasetError(f"{path} line {number}: relevance {parts[2]!r} is not a number") from None
    return qrels


def load_beir(name: str, corpus: Path, queries: Path, qrels: Path, limit: int | None = None) -> Dataset:
    """A BEIR set: the queries that have judgments (first ``limit``), their qrels, and warnings."""
    judged = read_qrels(qrels)
    texts = {str(item.get("_id")): str(item.get("text", "")) for _, item in _jsonl(queries)}
    ordered = [(qid, texts[qid]) for qid in judged if qid in texts and texts[qid].strip()]
    warnings = []
    missing = [qid for qid in judged if qid not in texts]
    if missing:
        warnings.append(f"{len(missing)} judged queries are not in {queries.name} (skipped)")
    if limit:
        ordered = ordered[:limit]
    if not ordered:
        raise DatasetError(f"data set {name!r} has no judged queries (check {queries} and {qrels})")
    doc_ids = {str(item.get("_id")) for _, item in _jsonl(corpus)}
    unknown = sum(1 for qid, _ in ordered for doc in judged[qid] if doc not in doc_ids)
    if unknown:
        warnings.append(f"{unknown} qrels name documents missing from {corpus.name} (they count as unfound)")
    keep = {qid for qid, _ in ordered}
    return Dataset(name=name, kind="beir", queries=ordered, qrels={q: judged[q] for q in keep},
                   corpus=corpus, warnings=warnings)


def _as_tuple(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value if str(v).strip())
    return (str(value),) if str(value).strip() else ()


def load_qa(name: str, documents: Path, qa: Path, limit: int | None = None, fields: dict | None = None) -> Dataset:
    """A QA set: questions with accepted answers and optional source file(s) and page."""
    fields = {"id": "id", "question": "question", "answers": "answers", "answer": "answer",
              "source": "source", "page": "page", **(fields or {})}
    items: dict[str, QAItem] = {}
    for number, raw in _jsonl(qa):
        if not isinstance(raw, dict) or not str(raw.get(fields["question"], "")).strip():
            raise DatasetError(f"{qa} line {number}: needs a non-empty '{fields['question']}'")
        item_id = str(raw.get(fields["id"], f"line-{number}"))
        if item_id in items:
            raise DatasetError(f"{qa} line {number}: duplicate id {item_id!r}")
        answers = _as_tuple(raw.get(fields["answers"])) or _as_tuple(raw.get(fields["answer"]))
        page = raw.get(fields["page"])
        items[item_id] = QAItem(id=item_id, question=str(raw[fields["question"]]).strip(), answers=answers,
                                sources=_as_tuple(raw.get(fields["source"])),
                                page=int(page) if isinstance(page, (int, float)) or str(page or "").isdigit() else None)
        if limit and len(items) >= limit:
            break
    if not items:
        raise DatasetError(f"data set {name!r}: {qa} holds no questions")
    if not Path(documents).is_dir():
        raise DatasetError(f"data set {name!r}: documents folder {documents} not found")
    return Dataset(name=name, kind="qa", queries=[(i.id, i.question) for i in items.values()], items=items,
                   documents=Path(documents))
