"""Issue 20's goal: with the local model, how many answers shown fail a reader's checks? Every chain x strategy.

    python benchmarks/honest_answers.py --indexes DIR [--per-set 2] [--sets pdfs,docugami,sample]
                                        [--chains stuff,map-reduce,refine]
                                        [--strategies none,multi-query,rag-fusion,hyde,step-back,decompose]

``DIR`` holds the default-config indexes ``pdfs``, ``docugami`` and ``sample`` (as ``benchmarks/own_words.py``
builds them under ``benchmarks/out/own_words/indexes``). Questions: the first ``--per-set`` of each of the
grounded sets (``benchmarks/grounded/pdfs-test``, ``docugami-test``) and of ``benchmarks/sample_docs_qa.jsonl``,
spread over each file (every n-th). Every question is asked with every strategy x chain, with the bundled
SmolLM2 and ragkit's defaults (hybrid, k 5, ``ask.budget_seconds`` 90, token caps 256/128), chains and
strategies interleaved per question so that load changes hit all alike. ``extract`` (no model) runs once per
question as the baseline.

Counted per chain x strategy:
- **shown_failures**: answers shown (model's or fallback quotes) that an *independent* audit in this script
  rejects — a placeholder (``[n]``, "… was [1]."), markup (``<tag``, ``‹tag``, ``&lt;``), a loop (a 3-word phrase
  three times, a letter run), a model answer citing nothing, an echo of the question or the prompt, a figure in
  no source; for quotes (extract's, or a fallback's), each must be its cited source's text word for word. This audit is simpler than ``ragkit.generation.checks`` and written apart from it, so a hole in the
  checks shows here. The goal is 0.
- **fallbacks** by kind (the checks' reasons, and the time budget), refusals, weak support.
- contains-answer over all answers and over the model's own, latency p50/p95/max (max against the budget),
  calls made, tokens.

Model replies are cached under ``benchmarks/out/llm-cache/honest`` (``--no-cache`` for fresh calls); each
ask's record is appended to ``benchmarks/out/honest_answers.jsonl`` as it completes, so an interrupted run
resumes. Writes ``benchmarks/out/honest_answers.json`` and prints a markdown table.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402  (sets warning filters before langchain imports)
from common import percentiles  # noqa: E402

STRATEGIES = ("none", "multi-query", "rag-fusion", "hyde", "step-back", "decompose")
CHAINS = ("stuff", "map-reduce", "refine")
SETS = {"pdfs": common.REPO / "benchmarks/grounded/pdfs-test.jsonl",
        "docugami": common.REPO / "benchmarks/grounded/docugami-test.jsonl",
        "sample": common.REPO / "benchmarks/sample_docs_qa.jsonl"}
PROMPT_PHRASES = ("using only the sources", "cite each claim", "answer the question", "context above",
                  "reply exactly", "question:")
FALLBACK_KINDS = (("time budget", "budget"), ("markup", "markup"), ("placeholder", "placeholder"),
                  ("where the claim", "placeholder"), ("citation with no answer", "placeholder"),
                  ("repeats itself", "loop"), ("echo", "echo"), ("repeats the question", "echo"),
                  ("cites no source", "no citation"), ("which its sources do not hold", "figure not in sources"),
                  ("citing", "cited sentence unsupported"), ("nothing in common", "unrelated"),
                  ("refused", "model refused supported question"))


def audit(text: str, question: str, sources: list[dict], by_model: bool, refused: bool) -> list[str]:
    """What a reader would reject in a shown answer (independent of ragkit.generation.checks)."""
    if refused:
        return []
    found = []
    plain = re.sub(r"\[\d+\]", "", text)
    if re.search(r"\[(?:n|x|k|\.\.\.|…|source|id|number|\?)\]", text, re.I) or re.search(
            r"\b(?:is|was|were|are|of|the|to|by)\s*(?:\[\d+\])+\s*\.?\s*$", text, re.I | re.M):
        found.append("placeholder")
    if re.search(r"(?:<|‹|&lt;)\s*/?\s*[a-zA-Z]", text):
        found.append("markup")
    words = re.findall(r"\w+", plain.lower())
    trigrams = Counter(zip(words, words[1:], words[2:]))
    # A loop is the model's; a quote repeats what its page repeats ("Piper PA-22-150" three times), so for
    # quotes the audit checks instead that each is the cited source's text, word for word.
    if by_model and ((trigrams and max(trigrams.values()) >= 3) or re.search(r"([A-Za-z]{2,})\1{3,}", plain)):
        found.append("loop")
    if not by_model and sources and not all(_quoted(q, n, sources) for q, n in _QUOTE.findall(text)):
        found.append("quote not in its source")
    if by_model and not re.search(r"\[\d+\]", text):
        found.append("no citation")
    flat = " ".join(plain.lower().split())
    if by_model and (" ".join(question.lower().split()).rstrip("?") in flat
                     or any(p in flat for p in PROMPT_PHRASES)):
        found.append("echo")
    if not sources:   # a record from before sources were stored: no figure check
        return found
    held = re.sub(r"(?<=\d),(?=\d)", "", " ".join(s["text"] for s in sources) + " " + question)
    figures = set(re.findall(r"\d+(?:\.\d+)?", held))
    numbers = re.findall(r"(?<![\w.])\d[\d,]*(?:\.\d+)?", re.sub(r"^\s*\d{1,2}[.)]\s", "", plain, flags=re.M))
    if by_model and any(re.sub(r",", "", n).rstrip(".") not in figures for n in numbers):
        found.append("figure not in sources")
    return found


_QUOTE = re.compile(r'^"(.*)"(?: \([^)]*\))? \[(\d+)\]$', re.M)


def _quoted(quote: str, n: str, sources: list[dict]) -> bool:
    """Whether ``quote`` is in source ``n``'s text (whitespace collapsed)."""
    source = next((s for s in sources if str(s["n"]) == n), None)
    return source is not None and " ".join(quote.split()) in " ".join(source["text"].split())


def fallback_kind(reason: str | None) -> str | None:
    if not reason:
        return None
    return next((kind for needle, kind in FALLBACK_KINDS if needle in reason), "other")


def questions(per_set: int, sets: list[str]) -> list[dict]:
    out = []
    for name, path in ((n, SETS[n]) for n in sets):
        rows = common.read_jsonl(path)
        step = max(1, len(rows) // per_set)
        out += [dict(row, set=name) for row in rows[::step][:per_set]]
    return out


def contains(text: str, answers: list[str]) -> bool:
    flat = " ".join(text.lower().split())
    return any(re.search(r"(?<!\w)" + re.escape(" ".join(a.lower().split())) + r"(?!\w)", flat) for a in answers)


def ask_once(item: dict, strategy: str, chain: str, searcher, llm) -> dict:
    from ragkit.config import Config
    from ragkit.generation.ask import ask

    cfg = Config().ask
    cfg = type(cfg)(**{**cfg.__dict__, "strategy": strategy, "chain": chain})
    started = time.perf_counter()
    result = ask(item["question"], searcher, llm if chain != "extract" or strategy != "none" else None, cfg)
    wall = time.perf_counter() - started
    a = result.answer
    sources = [s.to_json() for s in a.sources]
    by_model = a.answered_by == "model"
    return {"id": item["id"], "set": item["set"], "strategy": strategy, "chain": chain, "question": item["question"],
            "answer": a.text, "answered_by": a.answered_by, "fallback_reason": a.fallback_reason,
            "fallback_kind": fallback_kind(a.fallback_reason), "refused": a.refused, "support": a.support,
            "answerable": bool(item["answers"]), "contains": contains(a.text, item["answers"]) if item["answers"] else None,
            "audit": audit(a.text, item["question"], sources, by_model and a.chain != "extract", a.refused),
            "sources": [{"n": s["n"], "source": s["source"], "page": s["page"], "text": s["text"]} for s in sources],
            "wall_s": round(wall, 2), "usage": result.usage}


def summarise(rows: list[dict]) -> dict:
    n = len(rows)
    answerable = [r for r in rows if r["answerable"]]
    model = [r for r in answerable if r["answered_by"] == "model" and not r["refused"]]
    return {"asks": n, "shown_failures": sum(bool(r["audit"]) for r in rows),
            "shown_failure_kinds": dict(Counter(k for r in rows for k in r["audit"])),
            "model_answers": sum(r["answered_by"] == "model" and not r["refused"] for r in rows),
            "fallbacks": sum(bool(r["fallback_reason"]) for r in rows),
            "fallback_kinds": dict(Counter(r["fallback_kind"] for r in rows if r["fallback_kind"])),
            "refusals": sum(r["refused"] for r in rows), "weak": sum(r["support"] == "weak" for r in rows),
            "contains_all": round(sum(bool(r["contains"]) for r in answerable) / len(answerable), 3) if answerable else None,
            "contains_model": round(sum(bool(r["contains"]) for r in model) / len(model), 3) if model else None,
            "latency": percentiles([r["wall_s"] for r in rows]), "max_s": max(r["wall_s"] for r in rows),
            "llm_calls": sum(r["usage"].get("calls", 0) for r in rows),
            "cached_calls": sum(r["usage"].get("cached_calls", 0) for r in rows),
            "completion_tokens": sum(r["usage"].get("completion_tokens", 0) for r in rows)}


def main() -> None:
    parser = common.parser(__doc__)
    parser.add_argument("--indexes", type=Path, required=True)
    parser.add_argument("--per-set", type=int, default=2)
    parser.add_argument("--sets", default=",".join(SETS), help="which of pdfs, docugami, sample")
    parser.add_argument("--chains", default=",".join(CHAINS))
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--no-cache", action="store_true")
    args = parser.parse_args()
    from ragkit.config import Config, LLMConfig
    from ragkit.llm import build_llm
    from ragkit.retrieval.search import Searcher

    common.OUT.mkdir(parents=True, exist_ok=True)
    log = common.OUT / "honest_answers.jsonl"
    done = {(r["id"], r["strategy"], r["chain"]): r for r in map(json.loads, log.open())} if log.exists() else {}
    llm = build_llm(LLMConfig(cache=not args.no_cache), cache_dir=common.OUT / "llm-cache" / "honest")
    searchers = {name: Searcher(args.indexes / name, Config()) for name in args.sets.split(",")}
    machine_start = common.machine_info()
    started = time.time()
    combos = [(s, c) for s in args.strategies.split(",") for c in args.chains.split(",")]
    with log.open("a") as out:
        for item in questions(args.per_set, args.sets.split(",")):
            for strategy, chain in [("none", "extract"), *combos]:
                key = (item["id"], strategy, chain)
                if key not in done:
                    done[key] = ask_once(item, strategy, chain, searchers[item["set"]], llm)
                    out.write(json.dumps(done[key], ensure_ascii=False) + "\n")
                    out.flush()
                    r = done[key]
                    print(f"{item['id']} {strategy}/{chain}: {r['answered_by']} {r['fallback_kind'] or ''} "
                          f"audit={r['audit']} {r['wall_s']} s", flush=True)
    rows = list(done.values())
    for r in rows:   # the audit as it is now, also for records written by an earlier version of it
        r["audit"] = audit(r["answer"], r["question"], r.get("sources", []),
                           r["answered_by"] == "model" and r["chain"] != "extract", r["refused"])
    table = {f"{s}/{c}": summarise([r for r in rows if (r["strategy"], r["chain"]) == (s, c)])
             for s, c in [("none", "extract"), *combos] if any((r["strategy"], r["chain"]) == (s, c) for r in rows)}
    total = summarise([r for r in rows if r["chain"] != "extract"])
    result = {"command": " ".join(sys.argv), "machine_start": machine_start, "machine_end": common.machine_info(),
              "seconds": round(time.time() - started, 1), "per_set": args.per_set, "sets": args.sets,
              "total_model_chains": total,
              "by_pipeline": table}
    common.write_json(common.OUT, "honest_answers.json", result)
    print("| strategy/chain | asks | shown failures | model answers | fallbacks (kinds) | refusals | weak | "
          "contains all / model | p50 s | max s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, s in {**table, "all model chains": total}.items():
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(s["fallback_kinds"].items())) or "-"
        print(f"| {name} | {s['asks']} | {s['shown_failures']} | {s['model_answers']} | {s['fallbacks']} ({kinds}) | "
              f"{s['refusals']} | {s['weak']} | {s['contains_all']} / {s['contains_model']} | "
              f"{s['latency']['p50_ms'] / 1000:.1f} | {s['max_s']} |")


if __name__ == "__main__":
    main()
