"""Record what the bundled local model (SmolLM2-135M) really writes through each model chain, as test fixtures.

    python scripts/record_model_answers.py [--out tests/data/smollm2_answers.json] [--limit 6]

Ingests ``sample_docs/`` with the default config into a temporary index, retrieves for the first
``--limit`` questions of ``benchmarks/sample_docs_qa.jsonl`` (hybrid, k=4), and runs the stuff,
map-reduce and refine chains with the local model, uncached, with the support check off (so the
model is always asked). Every model call's raw reply is recorded in order, with the chunks the
chain was handed, so the fast tests can replay the exact replies through a scripted model and
check what the reader's checks make of them. Nothing touches the network.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


class Recorder:
    """Wraps a ChatLLM: every complete/stream reply is appended to ``calls``."""

    def __init__(self, llm):
        self.llm, self.calls = llm, []
        complete, stream = llm.complete, llm.stream

        def recorded_complete(messages, **kwargs):
            text = complete(messages, **kwargs)
            self.calls.append(text)
            return text

        def recorded_stream(messages, **kwargs):
            pieces = []
            for piece in stream(messages, **kwargs):
                pieces.append(piece)
                yield piece
            self.calls.append("".join(pieces))

        llm.complete, llm.stream = recorded_complete, recorded_stream


def main() -> None:
    from ragkit.config import Config, LLMConfig
    from ragkit.generation.chains import answer_question
    from ragkit.ingest.pipeline import ingest
    from ragkit.llm import build_llm
    from ragkit.retrieval.search import Searcher

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "data" / "smollm2_answers.json")
    parser.add_argument("--limit", type=int, default=6)
    parser.add_argument("--chains", default="stuff,map-reduce,refine")
    args = parser.parse_args()
    questions = [json.loads(line) for line in (REPO / "benchmarks" / "sample_docs_qa.jsonl").open()][: args.limit]
    cfg = Config()
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        ingest(REPO / "sample_docs", Path(tmp) / "idx", cfg)
        searcher = Searcher(Path(tmp) / "idx", cfg)
        llm = build_llm(LLMConfig(cache=False))
        recorder = Recorder(llm)
        for item in questions:
            hits = searcher.search(item["question"], mode="hybrid", k=4)
            chunks = [{"chunk_id": h.chunk_id, "doc_id": h.doc_id, "source": h.source, "page": h.page,
                       "text": h.text} for h in hits]
            for chain in args.chains.split(","):
                recorder.calls = []
                started = time.perf_counter()
                answer = answer_question(item["question"], hits, chain, llm, on_token=lambda _: None)
                records.append({"id": item["id"], "question": item["question"], "answers": item["answers"],
                                "chain": chain, "chunks": chunks, "replies": list(recorder.calls),
                                "seconds": round(time.perf_counter() - started, 2),
                                "shown_before": answer.text, "chain_before": answer.chain})
                print(f"{item['id']} {chain}: {len(recorder.calls)} calls, {records[-1]['seconds']} s", flush=True)
        searcher.close()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": llm.model_id, "machine": platform.processor() or platform.machine(),
                                    "commit": commit, "records": records}, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
