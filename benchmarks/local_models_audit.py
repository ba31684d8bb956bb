"""Would issue 20's honest-answer checks reject any answer of benchmarks/local_models.py? (run after it)

    PYTHONPATH=<a tree with ragkit/generation/checks.py> python benchmarks/local_models_audit.py [--result FILE]

For every stuff answer recorded in ``benchmarks/out/local_models.json`` that the model wrote, the
same retrieval is run again (hybrid, the default k: deterministic, so the same numbered sources)
and :func:`ragkit.generation.checks.answer_problem` is asked, with the bundled MiniLM for the
meaning checks, why the answer must not be shown. Prints the count per model and set and each
reason; writes ``benchmarks/out/local_models_audit.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from common import REPO, read_jsonl, write_json  # noqa: E402
from local_models import QA_SETS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--result", type=Path, default=common.OUT / "local_models.json")
    args = parser.parse_args()
    try:
        from ragkit.generation.checks import answer_problem
    except ImportError:
        sys.exit("error: this ragkit has no ragkit.generation.checks (issue 20); set PYTHONPATH to a tree that has")
    import json

    from ragkit.config import AskConfig, Config
    from ragkit.embedders import build_embedder
    from ragkit.generation.answer import number_sources
    from ragkit.ingest.pipeline import ingest
    from ragkit.retrieval.search import Searcher

    result = json.loads(args.result.read_text())
    embedder = build_embedder(Config().embedder)
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "sample"
        ingest(REPO / "sample_docs", sample, Config(), rebuild=True)
        indexes = {"sample_docs": sample, "pdfs-test": Path(result["setup"]["pdfs_index"])}
        for set_name, data in result["answers"].items():
            questions = {q["id"]: q["question"] for q in read_jsonl(QA_SETS[set_name])}
            searcher = Searcher(indexes[set_name], Config())
            for run, rows in data["rows"].items():
                if run == "extract":
                    continue
                problems = []
                for row in rows:
                    if not row["model_called"] or row["refused"]:
                        continue
                    hits = searcher.search(questions[row["id"]], mode="hybrid", k=AskConfig().k)
                    reason = answer_problem(row["answer"], questions[row["id"]], number_sources(hits), row["citations"],
                                            embedder=embedder)
                    if reason:
                        problems.append({"id": row["id"], "reason": reason, "answer": row["answer"][:300]})
                shown = sum(1 for r in rows if r["model_called"] and not r["refused"])
                out[f"{set_name}/{run}"] = {"model_answers_shown": shown, "rejected": len(problems),
                                            "reasons": Counter(p["reason"].split(" (")[0] for p in problems),
                                            "problems": problems}
                print(f"{set_name}/{run}: {len(problems)} of {shown} model answers rejected; "
                      f"{dict(out[f'{set_name}/{run}']['reasons'])}", flush=True)
            searcher.close()
    write_json(args.result.parent, "local_models_audit.json", out)


if __name__ == "__main__":
    main()
