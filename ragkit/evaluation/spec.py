"""Eval config files for ``ragkit eval``: data sets x pipelines (named runs) x metrics, and an output folder.

Paths are relative to the config file; errors name the file, the line and the key path. Examples
in configs/ (scifact.yaml, docugami-10q.yaml, sample-qa.yaml)::

    datasets:
      - {name: scifact, kind: beir, path: ../../shared/datasets/scifact, limit: 50, source: "https://..."}
            # source: where to get the data, said when it is missing; beir: <path>/corpus.jsonl, queries.jsonl, qrels.tsv (or corpus:, queries:, qrels:); limit: first N queries
      - {name: notes, kind: qa, documents: ../sample_docs, qa: ../benchmarks/sample_docs_qa.jsonl}
            # qa: <path>/docs and <path>/qa.jsonl unless given; fields: {answers: answer} names the file's
            # fields where they differ from id, question, answers, source, page
    config: {llm: {kind: local}}       # base ragkit config of every run (a mapping, or a ragkit config file)
    pipelines:
      - {name: sparse, search: {mode: sparse}, answer: false}   # answer: false = retrieval only (default true)
      - matrix:                        # every list is an axis; the product expands into runs
          name: "{mode}+{chain}"       # {last key} or {full.key.path}; default: name + values joined by "+"
          search: {mode: [dense, hybrid]}
          ask: {chain: [extract, stuff]}
    metrics: [ndcg@10, recall@100, mrr@10]   # default: by the kinds of data set present
    out: results/scifact               # default: <XDG cache>/ragkit/eval/<config stem>; --out wins
    judge: {kind: openai}              # an llm: mapping; the faithfulness metric needs it

A run may set any section of the main config but ``index`` (the runner chooses index folders); its
settings are merged key by key over ``config:``. No ragkit setting is a list, so in a matrix every
list is an axis (a list-valued setting would be varied with a list of lists); elsewhere a list is an error.

The file's shape (top-level keys, data set entries) is declared in :mod:`ragkit.evaluation.evalfile`;
reading the YAML and pointing errors at file, line and key path is :mod:`ragkit.yamlfile`'s job.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ragkit.config import SECTIONS, Config, config_from_dict
from ragkit.errors import EvalConfigError, SettingError
from ragkit.evaluation.evalfile import FILES, NAME_RULE, BeirEntry, QAEntry, QAFields, is_plain_name, read_eval_file
from ragkit.paths import cache_dir
from ragkit.yamlfile import YamlFile, dotted, line_suffix

__all__ = ["EvalConfigError", "DatasetSpec", "PipelineSpec", "EvalSpec", "LATENCY_METRICS", "default_out",
           "load_eval_config", "metrics_for", "pipeline_config"]

RUN_KEYS = ("name", "answer", *SECTIONS)
RANKED_METRICS = {"recall": "beir", "precision": "beir", "mrr": "beir", "ndcg": "beir", "map": "beir",
                  "hit": "beir", "source_hit": "qa", "page_hit": "qa"}            # all take @k
PLAIN_METRICS = {"map": "beir", "exact_match": "answer", "f1": "answer", "contains_answer": "answer",
                 "refusal_accuracy": "answer", "unanswerable_refused": "answer", "answerable_refused": "answer",
                 "weak_support": "answer", "unanswerable_refused_or_weak": "answer", "right_file_cited": "answer",
                 "citation_validity": "answer", "faithfulness": "answer",
                 "refusal_rate": "answer", "fallback_rate": "answer",
                 "exact_match_model": "answer", "f1_model": "answer", "contains_answer_model": "answer",
                 "llm_calls": "any", "cached_calls": "any", "prompt_tokens": "any", "completion_tokens": "any",
                 "latency_p50_ms": "any", "latency_p95_ms": "any"}
# Wall-clock columns of report.md and results.csv (from timings.json's seconds); never in results.json,
# which stays byte-reproducible.
LATENCY_METRICS = {"latency_p50_ms": "latency_p50_s", "latency_p95_ms": "latency_p95_s"}
DEFAULT_METRICS = {"beir": ["ndcg@10", "recall@100", "mrr@10"], "qa": ["source_hit@5", "page_hit@5"],
                   "answer": ["exact_match", "f1", "contains_answer", "refusal_accuracy", "citation_validity"]}
RENAMED_METRICS = {"contains": "contains_answer"}   # old name -> name; an old config keeps working
_MAPPING_DEFAULTS = {name: {k: v for k, v in dataclasses.asdict(section).items() if isinstance(v, dict)}
                     for name, section in vars(Config()).items() if name in SECTIONS}   # e.g. search.weights


@dataclass(frozen=True)
class DatasetSpec:
    """One data set; every path is absolute. ``fields`` maps qa.jsonl's canonical names to the file's."""

    name: str
    kind: str
    corpus: Path | None = None
    queries: Path | None = None
    qrels: Path | None = None
    documents: Path | None = None
    qa: Path | None = None
    limit: int | None = None
    fields: dict = field(default_factory=lambda: QAFields().model_dump())


@dataclass(frozen=True)
class PipelineSpec:
    """One named run: ``overrides`` onto the main config's sections; ``varies`` its matrix axis values."""

    name: str
    overrides: dict
    answer: bool = True
    varies: dict = field(default_factory=dict)
    origin: tuple = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class EvalSpec:
    """A whole eval config file, validated."""

    path: Path
    text_hash: str
    base: dict
    datasets: list[DatasetSpec]
    pipelines: list[PipelineSpec]
    metrics: list[str]
    out: Path
    judge: dict | None = None
    lines: dict = field(default_factory=dict, compare=False, repr=False)


def _check_sections(src: YamlFile, keypath: tuple, raw: dict, lists: bool) -> None:
    """Section names and keys exist; lists only where they are matrix axes (``lists``)."""
    for name, body in raw.items():
        here = keypath + (name,)
        if name == "index":
            raise src.error(here, f"'{dotted(here)}' is not allowed: the eval runner chooses index folders")
        if name not in SECTIONS or body is None:
            continue
        known = [f.name for f in dataclasses.fields(SECTIONS[name])]
        src.check_keys(here, body, known, "a mapping of settings")
        if not lists:
            for key, value in body.items():
                if _axes(value, (name, key)):
                    raise src.error(here + (key,), f"'{dotted(here + (key,))}' is a list; lists are "
                                    "matrix axes, allowed only inside 'matrix:'")


def _datasets(src: YamlFile, entries: list[BeirEntry | QAEntry]) -> list[DatasetSpec]:
    """Absolute paths for the validated entries; every file and folder exists and holds something."""
    specs, seen = [], {}
    for i, entry in enumerate(entries):
        kp, name = ("datasets", i), entry.name
        if name in seen:
            raise src.error(kp + ("name",), f"duplicate data set name '{name}' (datasets[{seen[name]}] and [{i}])")
        seen[name] = i
        folder = src.path_at(kp + ("path",), entry.path) if entry.path is not None else None
        paths = {}
        for key, default in FILES[entry.kind].items():
            if getattr(entry, key) is not None:
                paths[key], at = src.path_at(kp + (key,), getattr(entry, key)), kp + (key,)
            elif folder is not None:
                paths[key], at = folder / default, kp + ("path",)
            else:
                raise src.error(kp, f"data set '{name}' needs 'path' (a folder holding "
                                f"{', '.join(FILES[entry.kind].values())}) or '{key}'")
            _check_exists(src, at, name, key, paths[key], entry.source)
        fields = (getattr(entry, "fields", None) or QAFields()).model_dump()
        specs.append(DatasetSpec(name=name, kind=entry.kind, limit=entry.limit, fields=fields, **paths))
    return specs


def _check_exists(src: YamlFile, keypath: tuple, name: str, key: str, path: Path, source: str | None) -> None:
    what = "folder" if key == "documents" else "file"
    if not (path.is_dir() if what == "folder" else path.is_file()):
        where = f"get it from {source}" if source else "README.md 'Data sets' says where to get the shipped configs' data"
        raise src.error(keypath, f"data set '{name}': {key} {what} not found: {path} ({where})")
    if not (any(p.is_file() for p in path.rglob("*")) if what == "folder" else path.stat().st_size):
        raise src.error(keypath, f"data set '{name}': {key} {what} is empty: {path}")


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={_text(v)}" for k, v in value.items())
    return json.dumps(value) if isinstance(value, bool) or value is None else str(value)


def _axes(value: Any, keypath: tuple = ()) -> list[tuple[tuple, list]]:
    """Every list inside the sections of a run mapping, with its key path: the matrix axes."""
    if isinstance(value, list):
        return [(keypath, value)]
    if not isinstance(value, dict):
        return []
    return [axis for key, item in value.items() if keypath or key in SECTIONS for axis in _axes(item, keypath + (key,))]


def _expand(src: YamlFile, kp: tuple, body: dict) -> list[PipelineSpec]:
    axes = _axes(body)
    if not axes:
        raise src.error(kp, f"'{dotted(kp)}' has no list values: a matrix needs at least one axis "
                        "(e.g. ask: {strategy: [hyde, multi-query]})")
    for keypath, values in axes:
        if not values:
            raise src.error(kp + keypath, f"matrix axis '{dotted(kp + keypath)}' is an empty list")
    template = body.get("name")
    full = [".".join(map(str, keypath)) for keypath, _ in axes]
    lasts = [str(keypath[-1]) for keypath, _ in axes]
    fills = {d: i for i, d in enumerate(full)}                   # placeholder -> axis number
    fills.update({last: i for i, last in enumerate(lasts) if lasts.count(last) == 1})
    holes = re.findall(r"\{([^{}]*)\}", template or "")
    for hole in holes:
        if hole not in fills:
            raise src.error(kp + ("name",), f"name template '{template}': no axis '{{{hole}}}'; "
                            f"placeholders: {', '.join('{' + f + '}' for f in fills)}")
    runs = []
    for combo in itertools.product(*(values for _, values in axes)):
        overrides = copy.deepcopy({k: v for k, v in body.items() if k in SECTIONS})
        varies = {}
        for (keypath, _), value in zip(axes, combo):
            target = overrides
            for part in keypath[:-1]:
                target = target[part]
            target[keypath[-1]] = copy.deepcopy(value)
            varies[".".join(map(str, keypath))] = value
        if holes:
            name = re.sub(r"\{([^{}]*)\}", lambda m: _text(combo[fills[m.group(1)]]), template)
        else:
            name = "+".join(([template] if template else []) + [_text(v) for v in combo])
        runs.append(PipelineSpec(name=name, overrides=overrides, answer=body.get("answer", True),
                                 varies=varies, origin=kp))
    return runs


def _pipelines(src: YamlFile, raw: list) -> list[PipelineSpec]:
    """The runs of ``pipelines:``, matrices expanded; every run has a name of its own."""
    runs = []
    for i, entry in enumerate(raw):
        kp = ("pipelines", i)
        matrix = isinstance(entry, dict) and "matrix" in entry
        if matrix:
            src.check_keys(kp, entry, ("matrix",))
            kp = kp + ("matrix",)
            entry = entry["matrix"]
        body = src.check_keys(kp, entry, RUN_KEYS)
        if not isinstance(body.get("answer", True), bool):
            raise src.error(kp + ("answer",), f"'{dotted(kp)}.answer' must be true or false")
        name = body.get("name")
        if not matrix and name is None:
            raise src.error(kp, f"'{dotted(kp)}' needs a name (named after what it varies: sparse, hybrid+hyde, ...)")
        if name is not None and not is_plain_name(name):
            raise src.error(kp + ("name",), f"'{dotted(kp)}.name' must be {NAME_RULE}")
        _check_sections(src, kp, body, lists=matrix)
        if matrix:
            runs += _expand(src, kp, body)
        else:
            runs.append(PipelineSpec(name=name, overrides={k: v for k, v in body.items() if k in SECTIONS},
                                     answer=body.get("answer", True), origin=kp))
    seen = {}
    for run in runs:
        if "/" in run.name or "\\" in run.name:     # from a matrix value
            raise src.error(run.origin + ("name",), f"pipeline name '{run.name}' must not hold / or \\")
        if run.name in seen:
            raise src.error(run.origin + ("name",), f"duplicate pipeline name '{run.name}' "
                            f"({dotted(seen[run.name])} and {dotted(run.origin)})")
        seen[run.name] = run.origin
    return runs


def _metric_kind(name: str) -> str | None:
    if name in PLAIN_METRICS:
        return PLAIN_METRICS[name]
    match = re.fullmatch(r"([a-z_]+)@([0-9]+)", name)
    if match and match.group(1) in RANKED_METRICS and int(match.group(2)) >= 1:
        return RANKED_METRICS[match.group(1)]
    return None


def metrics_for(spec: EvalSpec, dataset: DatasetSpec) -> list[str]:
    """The config's metrics that apply to one data set: qrels metrics to beir sets; source, page and
    answer metrics to qa sets; cost (model calls, tokens) to both."""
    fits = {"beir": ("beir", "any"), "qa": ("qa", "answer", "any")}[dataset.kind]
    return [name for name in spec.metrics if _metric_kind(name) in fits]


def _metrics(src: YamlFile, raw: list[str] | None, datasets, pipelines, judge) -> list[str]:
    """The metric names asked for (or the defaults for the data sets), each fitting some data set."""
    kinds = {d.kind for d in datasets}
    answering = "qa" in kinds and any(p.answer for p in pipelines)
    if raw is None:
        return [m for kind in ("beir", "qa") if kind in kinds for m in DEFAULT_METRICS[kind]] + \
            (DEFAULT_METRICS["answer"] if answering else [])
    metrics = []
    for i, metric in enumerate(raw):
        name = str(metric).strip().lower()
        name = RENAMED_METRICS.get(name, name)
        kind = _metric_kind(name)
        if kind is None:
            known = [k + "@k" for k in RANKED_METRICS] + list(PLAIN_METRICS)
            raise src.error(("metrics", i), f"unknown metric {metric!r} (metrics[{i}]); known: {', '.join(known)}")
        if not {"beir": "beir" in kinds, "qa": "qa" in kinds, "answer": answering}.get(kind, True):
            need = {"beir": "a beir data set", "qa": "a qa data set"}.get(kind, "a qa data set and answer: true")
            raise src.error(("metrics", i), f"metric '{name}' needs {need}")
        if name == "faithfulness" and judge is None:
            raise src.error(("metrics", i), "metric 'faithfulness' needs a judge model: add judge: {kind: ...}")
        if name not in metrics:
            metrics.append(name)
    return metrics


def _section_check(src: YamlFile, keypath: tuple, raw: dict) -> None:
    """The ragkit settings ``raw`` (found at ``keypath``) are valid; else an error at the culprit's line."""
    try:
        config_from_dict(raw)
    except SettingError as exc:
        prefix = f"{dotted(keypath)}: " if keypath else ""
        raise src.error(keypath + exc.keypath, prefix + exc.reason) from None


def _base(src: YamlFile, raw: Any) -> dict:
    if raw is None:
        return {}
    keypath = ("config",)
    if isinstance(raw, str):        # a ragkit config file; its index: means nothing here
        src = YamlFile(src.path_at(keypath, raw), what="base config file", error=EvalConfigError)
        raw, keypath = src.raw, ()
        if isinstance(raw, dict):
            raw = {k: v for k, v in raw.items() if k != "index"}
    src.check_keys(keypath, raw, ("index", *SECTIONS), "a mapping of ragkit config sections")
    _check_sections(src, keypath, raw, lists=False)
    _section_check(src, keypath, raw)
    return raw


def load_eval_config(path: str | Path) -> EvalSpec:
    """Read, validate and expand an eval config file (see the module docstring for the format)."""
    src = YamlFile(Path(path), what="eval config", error=EvalConfigError)
    raw = read_eval_file(src)
    base = _base(src, raw.config)
    datasets = _datasets(src, raw.datasets)
    pipelines = _pipelines(src, raw.pipelines)
    if raw.judge is not None:
        src.check_keys(("judge",), raw.judge, [f.name for f in dataclasses.fields(SECTIONS["llm"])], "an llm: mapping")
        _section_check(src, ("judge",), {"llm": raw.judge})
    metrics = _metrics(src, raw.metrics, datasets, pipelines, raw.judge)
    out = src.path_at(("out",), raw.out) if raw.out is not None else default_out(src.path)
    spec = EvalSpec(path=src.path, text_hash=src.hash, base=base, datasets=datasets, pipelines=pipelines,
                    metrics=metrics, out=out, judge=raw.judge, lines=src.lines)
    for pipeline in pipelines:
        pipeline_config(spec, pipeline)
    return spec


def default_out(config_path: Path) -> Path:
    """Where a config without ``out:`` writes its reports, traces and indexes: the XDG cache, never
    next to the config (configs/ is in the git tree)."""
    return cache_dir() / "eval" / config_path.stem


def _merge(base: dict, over: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if both else copy.deepcopy(value)
    return merged


def pipeline_config(spec: EvalSpec, pipeline: PipelineSpec) -> Config:
    """The ragkit :class:`Config` of one run: the run's settings merged over ``config:`` (and over the
    defaults of mapping settings, so ``search: {weights: {dense: 2}}`` keeps ``sparse: 1.0``)."""
    try:
        return config_from_dict(_merge(_merge(_MAPPING_DEFAULTS, spec.base), pipeline.overrides))
    except SettingError as exc:
        key, line = exc.keypath, None
        while key and line is None:     # the run's own setting, else the base config's
            line = spec.lines.get(pipeline.origin + key) or spec.lines.get(("config",) + key)
            key = key[:-1]
        where = line_suffix(spec.lines, pipeline.origin, line)
        raise EvalConfigError(f"{spec.path}{where}: pipeline '{pipeline.name}' "
                              f"({dotted(pipeline.origin) or 'pipelines'}): {exc.reason}") from None
