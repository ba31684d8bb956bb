"""Evaluation metrics for ``ragkit eval``: retrieval (qrels/run), QA-set retrieval, and answers.

Everything here is a small pure function over plain Python data, so the same code scores a
BEIR-style benchmark, a QA set of questions about the user's own folder, and the unit tests.

Retrieval inputs are BEIR-shaped:

- ``qrels``: ``{query_id: {doc_id: graded relevance}}``; a document is relevant when its
  relevance is > 0 (negative grades, as some TREC qrels use, count as 0).
- ``run``: ``{query_id: [doc_id, ...]}`` ranked best first, without duplicates.

Metric names are ``name@k`` or a bare ``name`` (k = the whole ranked list), ``name`` one of
:data:`RETRIEVAL_METRICS`. The formulas are trec_eval's, and agree with ranx to 1e-6 (tested):

- ``ndcg``: DCG = sum over ranks r <= k of rel(d_r) / log2(r + 1), linear gain as trec_eval's
  ``ndcg_cut`` and ranx's ``ndcg`` (not the 2^rel - 1 of ranx's ``ndcg_burges``); the ideal DCG
  ranks all of the query's judged relevances, highest first, and also stops at k.
- ``recall``: relevant docs in the top k / all relevant docs (not min(k, R): a query with more
  relevant documents than k cannot reach 1, as in trec_eval's ``recall_k``).
- ``precision``: relevant docs in the top k / k, even when fewer than k were retrieved
  (trec_eval's ``P_k``). A bare ``precision`` divides by the number retrieved (0 if none).
- ``mrr``: 1 / rank of the first relevant doc in the top k, 0 if none.
- ``map``: average precision cut at k (trec_eval's ``map_cut``): the sum of precision@r over
  the relevant ranks r <= k, divided by *all* relevant docs of the query.
- ``hit``: 1 if any relevant doc is in the top k (trec_eval's ``success``, ranx's ``hit_rate``).

Averaging conventions (BENCHMARKS.md's numbers come from these functions):
macro means over the queries of ``qrels``; a query missing from the run scores 0 (trec_eval
``-c``, ranx ``make_comparable=True``); queries without any relevant document are skipped,
since recall and nDCG are undefined for them (ranx would count them as 0 instead); queries
that are only in the run are ignored. Grades are compared with > 0, so a fractional grade such
as 0.5 is relevant here while ranx/trec_eval (integer grades, relevant at >= 1) would not.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from pathlib import PurePosixPath
from typing import Mapping, Sequence

from ragkit.errors import MetricError

Qrels = Mapping[str, Mapping[str, float]]
Run = Mapping[str, Sequence[str]]

RETRIEVAL_METRICS = ("recall", "precision", "mrr", "ndcg", "map", "hit")


# ---------------------------------------------------------------------------------------------
# Retrieval metrics: one query each, ``rels`` = that query's qrels, ``k`` None = whole list.

def _relevant(rels: Mapping[str, float]) -> set[str]:
    return {d for d, r in rels.items() if r > 0}


def _dcg(gains: Sequence[float]) -> float:
    """Discounted cumulative gain of gains in rank order (rank 1 first): sum g / log2(r + 1)."""
    return sum(g / math.log2(r + 1) for r, g in enumerate(gains, start=1) if g)


def ndcg_at_k(rels: Mapping[str, float], ranked: Sequence[str], k: int | None) -> float:
    """nDCG@k of one ranked list against one query's graded relevances (linear gain)."""
    ideal = _dcg(sorted((r for r in rels.values() if r > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return _dcg([max(float(rels.get(d, 0.0)), 0.0) for d in ranked[:k]]) / ideal


def recall_at_k(rels: Mapping[str, float], ranked: Sequence[str], k: int | None) -> float:
    """Fraction of the query's relevant documents found in the top k."""
    relevant = _relevant(rels)
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def precision_at_k(rels: Mapping[str, float], ranked: Sequence[str], k: int | None) -> float:
    """Relevant documents in the top k divided by k (by the list's length when k is None)."""
    top = ranked[:k]
    denominator = k if k is not None else len(top)
    if not denominator:
        return 0.0
    relevant = _relevant(rels)
    return sum(1 for d in top if d in relevant) / denominator


def mrr_at_k(rels: Mapping[str, float], ranked: Sequence[str], k: int | None) -> float:
    """Reciprocal rank of the first relevant document in the top k (0 when none)."""
    for rank, doc in enumerate(ranked[:k], start=1):
        if rels.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def map_at_k(rels: Mapping[str, float], ranked: Sequence[str], k: int | None) -> float:
    """Average precision cut at k, normalised by all relevant documents (trec_eval map_cut)."""
    relevant = _relevant(rels)
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for rank, doc in enumerate(ranked[:k], start=1):
        if doc in relevant:
            hits += 1
            total += hits / rank
    return total / len(relevant)


def hit_at_k(rels: Mapping[str, float], ranked: Sequence[str], k: int | None) -> float:
    """1.0 when any relevant document is in the top k, else 0.0."""
    return 1.0 if any(rels.get(d, 0) > 0 for d in ranked[:k]) else 0.0


_FUNCTIONS = {"recall": recall_at_k, "precision": precision_at_k, "mrr": mrr_at_k,
              "ndcg": ndcg_at_k, "map": map_at_k, "hit": hit_at_k}


def parse_metric(name: str) -> tuple[str, int | None]:
    """Split ``"ndcg@10"`` into ``("ndcg", 10)``; a bare ``"map"`` gives ``("map", None)``.

    Case and surrounding spaces are ignored. Raises MetricError for an unknown name or a k that
    is not a positive integer, listing the valid names.
    """
    base, sep, k_text = name.strip().lower().partition("@")
    valid = ", ".join(RETRIEVAL_METRICS)
    if base not in _FUNCTIONS:
        raise MetricError(f"unknown metric {name!r}; valid metrics: {valid} (optionally @k, e.g. ndcg@10)")
    if not sep:
        return base, None
    if not k_text.isdigit() or int(k_text) < 1:
        raise MetricError(f"bad cutoff in metric {name!r}: k must be a positive integer, e.g. {base}@10")
    return base, int(k_text)


def _check_ranked(qid: str, ranked: Sequence[str]) -> list[str]:
    ranked = list(ranked)
    # A document retrieved twice would count twice in DCG/precision; trec_eval rejects such runs
    # too, and silently deduplicating would hide a bug upstream (use dedupe_ranked first).
    if len(set(ranked)) != len(ranked):
        dup = next(d for d, n in Counter(ranked).items() if n > 1)
        raise MetricError(f"run for query {qid!r} lists document {dup!r} more than once")
    return ranked


def per_query(qrels: Qrels, run: Run, metric: str) -> dict[str, float]:
    """``{query_id: value}`` of one metric (e.g. ``"ndcg@10"``) for every qrels query with a
    relevant document; queries missing from the run score 0. Raises MetricError on a bad metric
    name or a run that lists a document twice for a query."""
    base, k = parse_metric(metric)
    fn = _FUNCTIONS[base]
    out = {}
    for qid, rels in qrels.items():
        if not any(r > 0 for r in rels.values()):
            continue
        out[qid] = fn(rels, _check_ranked(qid, run.get(qid, ())), k)
    return out


def evaluate(qrels: Qrels, run: Run, metrics: Sequence[str]) -> dict[str, float]:
    """Macro mean of each metric, keyed by the metric names exactly as given.

    A mean over no scorable query (no query with a relevant document) is 0.0.
    """
    if isinstance(metrics, str):  # evaluate(q, r, "ndcg@10") would otherwise iterate letters
        metrics = [metrics]
    for metric in metrics:  # fail on a typo before any work
        parse_metric(metric)
    means = {}
    for metric in metrics:
        values = per_query(qrels, run, metric)
        means[metric] = sum(values.values()) / len(values) if values else 0.0
    return means


def dedupe_ranked(ids: Sequence[str]) -> list[str]:
    """Keep the first occurrence of each id, so documents rank by their best chunk."""
    return list(dict.fromkeys(ids))


# ---------------------------------------------------------------------------------------------
# QA-set retrieval metrics, on the retrieved chunks' "source" (and "page") metadata.

def _path_parts(path: str) -> tuple[str, ...]:
    # Windows separators become POSIX ones and "./" disappears, so "docs\\a.md", "./docs/a.md"
    # and "docs/a.md" compare equal; case is kept (POSIX file names are case-sensitive).
    return PurePosixPath(path.replace("\\", "/")).parts


def _same_source(expected: tuple[str, ...], source: str) -> bool:
    got = _path_parts(source) if source else ()
    if not got:
        return False
    # One path ending with the other's components: a QA set often names just the file
    # ("guide.pdf") or a path relative to a different root than the index's, while
    # "a/readme.md" must not match "b/readme.md".
    n = min(len(expected), len(got))
    return expected[-n:] == got[-n:]


def _check_k(k: int) -> None:
    if k < 1:
        raise MetricError(f"k must be >= 1, got {k}")


def source_hit_at_k(expected_source: str, sources: Sequence[str], k: int) -> float:
    """1.0 when the expected file is the source of one of the top-k chunks, else 0.0.

    Paths compare as POSIX paths; a bare file name matches that file in any folder, and more
    generally a path matches when one ends with the other's components. Raises MetricError for
    an empty expected source or k < 1.
    """
    _check_k(k)
    expected = _path_parts(expected_source)
    if not expected:
        raise MetricError("expected_source is empty")
    return 1.0 if any(_same_source(expected, s) for s in sources[:k]) else 0.0


def page_hit_at_k(expected_source: str, expected_page: int,
                  hits: Sequence[tuple[str, int | None]], k: int) -> float:
    """1.0 when one of the top-k ``(source, page)`` hits is the expected file and page.

    Pages compare as given (ragkit's PDF pages are 1-based); a hit without a page never
    matches. Source matching is :func:`source_hit_at_k`'s.
    """
    _check_k(k)
    expected = _path_parts(expected_source)
    if not expected:
        raise MetricError("expected_source is empty")
    return 1.0 if any(page is not None and int(page) == int(expected_page) and _same_source(expected, src)
                      for src, page in hits[:k]) else 0.0


# ---------------------------------------------------------------------------------------------
# Answer metrics.

_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, drop punctuation, drop a/an/the, collapse whitespace.

    Unlike SQuAD's script (ASCII ``string.punctuation`` only), any Unicode punctuation goes,
    so a model's curly quotes or dashes do not cost an exact match.
    """
    text = text.lower()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P")
                   and ch not in "$+<=>^`|~")  # ASCII symbols string.punctuation also removes
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _check_answers(answers: Sequence[str]) -> None:
    if isinstance(answers, str):
        raise TypeError("answers must be a sequence of strings, not one string")
    if not answers:
        raise MetricError("no reference answers (score unanswerable questions with refusal_correct)")


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals some normalised reference answer."""
    _check_answers(answers)
    pred = normalize_answer(prediction)
    return 1.0 if any(pred == normalize_answer(a) for a in answers) else 0.0


def _f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    # SQuAD v2's rule for empty token lists: only empty vs empty agrees.
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred_tokens), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """SQuAD token F1 (bag of normalised tokens), the best over the reference answers."""
    _check_answers(answers)
    pred = normalize_answer(prediction).split()
    return max(_f1(pred, normalize_answer(a).split()) for a in answers)


def answer_contains(prediction: str, answers: Sequence[str]) -> float:
    """1.0 when some normalised answer occurs in the normalised prediction as whole words.

    Whole words, so "lock" is not found in "blocked" nor "5183" in "51830"; an answer that
    normalises to nothing (e.g. "the") never matches.
    """
    _check_answers(answers)
    pred = f" {normalize_answer(prediction)} "
    for answer in answers:
        norm = normalize_answer(answer)
        if norm and f" {norm} " in pred:
            return 1.0
    return 0.0


def refusal_correct(refused: bool, answerable: bool) -> float:
    """1.0 when the system refused an unanswerable question or answered an answerable one."""
    return 1.0 if bool(refused) != bool(answerable) else 0.0


def citation_validity(citations: Sequence[int], n_sources: int) -> float:
    """Fraction of the distinct cited numbers that point at a source shown (1..n_sources).

    Distinct, so citing [1] five times does not dilute one invented [9]. With no citation at
    all there is nothing invalid: 1.0. Whether an answer cites at all is a separate measure
    (``bool(citations)``); report it beside this one.
    """
    if n_sources < 0:
        raise MetricError(f"n_sources must be >= 0, got {n_sources}")
    cited = set(citations)
    if not cited:
        return 1.0
    return sum(1 for c in cited if 1 <= c <= n_sources) / len(cited)


def percentile(values: Sequence[float], q: float) -> float:
    """q-th percentile (0..100) by linear interpolation, as ``numpy.percentile``'s default.

    0.0 for no values (a latency summary of an empty run). Raises MetricError for q outside 0..100.
    """
    if not 0 <= q <= 100:
        raise MetricError(f"percentile q must be within 0..100, got {q}")
    xs = sorted(float(v) for v in values)
    if not xs:
        return 0.0
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
