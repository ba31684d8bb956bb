"""Check the short expected answers of the docugami 10-Q set (issue 9, point 3) against the filings.

    python benchmarks/docugami_short/verify.py [DATASET_DIR]

DATASET_DIR (default ``../shared/datasets/docugami-sec-10q`` next to the repository) holds
``qa.jsonl`` and ``docs/``. Checks that

- ``answers-cal.jsonl``, ``answers-test.jsonl`` and ``skipped.jsonl`` cover the 195 question ids
  exactly once, each answer line with its question's text and a subset of its source files;
- each answer line's split follows the id's number (even: cal, odd: test), its kind is known and
  every answer string is specific (no bare year; a bare number has at least 3 characters);
- every answer string occurs in at least one of the question's source PDFs, loaded as ``ragkit
  ingest`` loads them (default config: page cleaning on), by the rule of the ``contains`` metric
  (SQuAD-normalised, whole words: ``answer_contains``).

Prints the counts per kind and split, and each problem; exits 1 when there is one.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATASET = HERE.parents[2] / "shared" / "datasets" / "docugami-sec-10q"
SPLITS = ("cal", "test")
KINDS = ("figure", "percent", "date", "name", "phrase")
FIELDS = {"id", "question", "answers", "source", "split", "kind"}


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file (blank lines skipped)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def split_of(qid: str) -> str:
    """The split fixed before any scoring: cal for an even id number, test for an odd one."""
    return "cal" if int(qid.rsplit("-", 1)[1]) % 2 == 0 else "test"


def is_specific(answer: str) -> bool:
    """Not a bare year, and a bare number (no % or $) of at least 3 characters."""
    text = answer.strip()
    if re.fullmatch(r"(19|20)\d\d", text):
        return False
    return not (re.fullmatch(r"[\d.,]+", text) and len(text) < 3)


def load_labels(folder: Path = HERE) -> tuple[list[dict], list[dict]]:
    """(answer lines of both splits, skipped lines), as stored."""
    answers = [row for split in SPLITS for row in read_jsonl(folder / f"answers-{split}.jsonl")]
    return answers, read_jsonl(folder / "skipped.jsonl")


def shape_problems(answers: list[dict], folder: Path = HERE) -> list[str]:
    """What is wrong with the answer lines by themselves: fields, split, kind, answer strings."""
    problems = []
    for split in SPLITS:
        problems += [f"{row.get('id')}: in answers-{split}.jsonl but its split is {split_of(row['id'])}"
                     for row in read_jsonl(folder / f"answers-{split}.jsonl") if split_of(row["id"]) != split]
    for row in answers:
        qid = row.get("id")
        if set(row) != FIELDS:
            problems.append(f"{qid}: fields {sorted(row)}, expected {sorted(FIELDS)}")
            continue
        if row["split"] != split_of(qid):
            problems.append(f"{qid}: split {row['split']!r}, the id's number says {split_of(qid)!r}")
        if row["kind"] not in KINDS:
            problems.append(f"{qid}: kind {row['kind']!r} is not one of {', '.join(KINDS)}")
        if not row["answers"] or not row["source"]:
            problems.append(f"{qid}: no answers or no source")
        problems += [f"{qid}: answer {a!r} is not specific" for a in row["answers"] if not is_specific(a)]
    return problems


def coverage_problems(questions: dict[str, dict], answers: list[dict], skipped: list[dict]) -> list[str]:
    """Every question id answered or skipped exactly once; answer lines agree with the question."""
    seen = Counter(row["id"] for row in answers + skipped)
    problems = [f"{qid}: listed {n} times" for qid, n in seen.items() if n > 1]
    problems += [f"{qid}: not a question of qa.jsonl" for qid in seen if qid not in questions]
    problems += [f"{qid}: neither answered nor skipped" for qid in questions if qid not in seen]
    problems += [f"{row['id']}: skipped without a reason" for row in skipped if not str(row.get("reason", "")).strip()]
    for row in answers:
        question = questions.get(row["id"])
        if question is None:
            continue
        if row["question"] != question["question"]:
            problems.append(f"{row['id']}: question text differs from qa.jsonl")
        if not set(row["source"]) <= set(question["source"]):
            problems.append(f"{row['id']}: sources {row['source']} are not among the question's {question['source']}")
    return problems


def filing_texts(docs: Path, names: set[str]) -> dict[str, str]:
    """Each named PDF's text, loaded as ``ragkit ingest`` does with the default config (pages joined)."""
    from ragkit.config import Config
    from ragkit.ingest.loaders import load_files
    from ragkit.ingest.scan import SourceFile

    sources = [SourceFile(rel=name, path=docs / name, size=(docs / name).stat().st_size) for name in sorted(names)]
    texts = {}
    for source, loaded in load_files(docs, sources, Config().loader):
        if isinstance(loaded, Exception):
            raise SystemExit(f"{source.rel}: {loaded}")
        pages = sorted(loaded, key=lambda doc: doc.metadata["page"])
        texts[source.rel] = "\n".join(doc.page_content for doc in pages)
    return texts


def text_problems(answers: list[dict], texts: dict[str, str]) -> list[str]:
    """Answer strings found in none of their question's source files (the ``contains`` rule)."""
    from ragkit.evaluation.metrics import answer_contains

    problems = []
    for row in answers:
        for answer in row["answers"]:
            if not any(answer_contains(texts[name], [answer]) for name in row["source"]):
                problems.append(f"{row['id']}: {answer!r} is in none of {row['source']}")
    return problems


def problems(dataset: Path = DEFAULT_DATASET, folder: Path = HERE) -> list[str]:
    """Every problem of the labels in ``folder`` against the data set (reads the PDFs)."""
    questions = {row["id"]: row for row in read_jsonl(dataset / "qa.jsonl")}
    answers, skipped = load_labels(folder)
    found = shape_problems(answers, folder) + coverage_problems(questions, answers, skipped)
    names = {name for row in answers for name in row.get("source") or []}
    missing = sorted(name for name in names if not (dataset / "docs" / name).is_file())
    if missing:
        return found + [f"source file not found: {name}" for name in missing]
    return found + text_problems(answers, filing_texts(dataset / "docs", names))


def counts_table(answers: list[dict], skipped: list[dict]) -> str:
    """Answer lines per kind and split, and the skipped count, as a small text table."""
    per = Counter((row["kind"], row["split"]) for row in answers)
    lines = [f"{'kind':8} {'cal':>4} {'test':>5} {'all':>4}"]
    for kind in KINDS:
        cal, test = per[(kind, "cal")], per[(kind, "test")]
        lines.append(f"{kind:8} {cal:4} {test:5} {cal + test:4}")
    cal = sum(1 for row in answers if row["split"] == "cal")
    lines.append(f"{'answers':8} {cal:4} {len(answers) - cal:5} {len(answers):4}")
    lines.append(f"skipped {len(skipped)}; questions {len(answers) + len(skipped)}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Print the counts and every problem; 1 when there is a problem."""
    dataset = Path(argv[0]) if argv else DEFAULT_DATASET
    if not (dataset / "qa.jsonl").is_file():
        print(f"data set not found: {dataset / 'qa.jsonl'}", file=sys.stderr)
        return 1
    answers, skipped = load_labels()
    found = problems(dataset)
    print(counts_table(answers, skipped))
    print("\n".join(found) or "every answer string is in a source filing; every question answered or skipped once")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
