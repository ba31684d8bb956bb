"""One line per metric saying what it measures, for the "What the metrics mean" section of report.md."""

from __future__ import annotations

_RANKED = {
    "recall": "share of a query's relevant documents found in the top {k} (mean over queries)",
    "precision": "relevant documents in the top {k} divided by {k} (mean over queries)",
    "mrr": "1 / rank of the first relevant document in the top {k}, 0 when none is there (mean over queries)",
    "ndcg": "how close the top {k} comes to the ideal order of the graded relevant documents (1 = ideal)",
    "map": "average precision over the top {k}, divided by all of a query's relevant documents",
    "hit": "share of queries with at least one relevant document in the top {k}",
    "source_hit": "share of questions whose expected file is the source of one of the top {k} chunks "
                  "(questions without an expected file are left out)",
    "page_hit": "share of questions whose expected file and page are among the top {k} chunks "
                "(questions without an expected page are left out)",
}

_PLAIN = {
    "map": "average precision over the whole ranking, divided by all of a query's relevant documents",
    "exact_match": "share of answers equal to a reference answer after SQuAD normalisation (case, punctuation, "
                   "a/an/the). An answer that quotes sentences with citations — the extract chain's, or any "
                   "long answer — is never equal to a short reference, so it scores 0 even when right: read "
                   "contains_answer and f1 for those",
    "f1": "token overlap between the answer and the best reference answer (SQuAD F1); long answers around a "
          "short reference score low",
    "contains_answer": "share of the answerable questions whose answer contains a reference answer as whole words "
                       "(after normalisation); a refusal contains nothing",
    "refusal_accuracy": "share of questions handled the right way: unanswerable ones refused, answerable ones "
                        "answered",
    "unanswerable_refused": "share of the unanswerable questions (no reference answer) that were refused; higher is better",
    "answerable_refused": "share of the answerable questions that were refused; lower is better",
    "weak_support": "share of the answers marked weak support (quotes the reader should check: the sources may "
                    "not state the answer)",
    "unanswerable_refused_or_weak": "share of the unanswerable questions refused or answered with a weak-support "
                                    "mark; higher is better",
    "right_file_cited": "share of the answerable questions with an expected file whose answer cites that file",
    "citation_validity": "share of an answer's [n] citations that point at a source it was given (mean per answer)",
    "faithfulness": "share of answers the judge model finds supported by their sources (refusals count as supported)",
    "llm_calls": "chat-model calls made per question (mean; calls answered from the cache are cached_calls)",
    "cached_calls": "chat-model calls per question answered from the model cache instead of the model (mean; free)",
    "refusal_rate": "share of the answers that were refusals (the sources do not hold the answer)",
    "fallback_rate": "share of a model pipeline's answers that are extract's quotes because the model's answer "
                     "failed the checks (placeholder, prompt markup, loop, echo, no citation, a figure or sentence "
                     "its source does not hold); its answer scores are then partly extract's",
    "exact_match_model": "exact_match over the answers the model wrote (fallbacks left out)",
    "f1_model": "f1 over the answers the model wrote (fallbacks left out)",
    "contains_answer_model": "contains_answer over the answerable questions the model answered itself (fallbacks "
                             "left out)",
    "prompt_tokens": "tokens sent to the chat model per question (mean; the model's count, else a cl100k estimate)",
    "completion_tokens": "tokens the chat model wrote per question (mean; the model's count, else a cl100k estimate)",
    "rerank_failures": "share of the queries on which the reranker (search.rerank) failed, so their results kept "
                       "the fused order; lower is better",
    "latency_p50_ms": "median wall-clock time per question, in ms (varies from run to run, so it is in report.md "
                      "and results.csv but not results.json; timings.json has the seconds)",
    "latency_p95_ms": "95th-percentile wall-clock time per question, in ms (varies from run to run, as p50)",
}


def meaning(metric: str) -> str:
    """What ``metric`` (e.g. ``ndcg@10``, ``exact_match``) measures, in one line."""
    base, _, k = metric.partition("@")
    if k and base in _RANKED:
        return _RANKED[base].format(k=k)
    return _PLAIN.get(metric, "")
