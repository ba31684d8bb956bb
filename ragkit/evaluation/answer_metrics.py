"""Answer metrics read from eval records: how the answers came about (refused, weak, fallback) and whether
they cite the right file."""

from __future__ import annotations

from ragkit.evaluation import metrics as M
from ragkit.evaluation.datasets import Dataset


def honesty_metrics(records: dict[str, dict], answered: list[str], model_chain: bool) -> dict:
    """How the answers came about: refused, weakly supported, and (model chains) fallbacks to extract's quotes."""
    if not answered:
        return {}
    out = {"refusal_rate": sum(bool(records[q]["refused"]) for q in answered) / len(answered),
           "weak_support": sum(records[q].get("support") == "weak" for q in answered) / len(answered)}
    if model_chain:
        out["fallback_rate"] = sum(bool(records[q].get("fallback_reason")) for q in answered) / len(answered)
    return out


def support_metrics(dataset: Dataset, records: dict[str, dict], answered: list[str], metric_names: list[str]) -> dict:
    """Weak support and the right file: the share of answers marked weak; of unanswerable questions, the share
    refused or marked weak; of answerable questions with an expected file, the share citing that file."""
    out: dict[str, float] = {}
    unanswerable = [q for q in answered if not dataset.items[q].answers]
    with_file = [q for q in answered if dataset.items[q].answers and dataset.items[q].sources]
    if "unanswerable_refused_or_weak" in metric_names and unanswerable:
        out["unanswerable_refused_or_weak"] = sum(bool(records[q]["refused"]) or records[q].get("support") == "weak"
                                                  for q in unanswerable) / len(unanswerable)
    if "right_file_cited" in metric_names and with_file:
        out["right_file_cited"] = sum(_cites(records[q], dataset.items[q].sources) for q in with_file) / len(with_file)
    return out


def _cites(record: dict, expected: tuple[str, ...]) -> bool:
    """Whether the answer in ``record`` cites a chunk of one of the ``expected`` files."""
    cited = record.get("cited_sources", [])
    return any(M.source_hit_at_k(source, cited, len(cited)) for source in expected) if cited else False
