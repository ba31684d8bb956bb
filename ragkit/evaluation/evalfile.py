"""The shape of an eval config file, declared as pydantic models: its top-level keys and its data
set entries, as written (paths still relative to the file). :mod:`ragkit.evaluation.spec` reads a
file through :func:`read_eval_file`, then resolves paths, expands pipelines and checks metrics.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, ValidationError

from ragkit.config import SECTIONS
from ragkit.yamlfile import YamlFile, describe

# The files of each kind of data set, by key, and their names inside the data set's ``path:``.
FILES = {"beir": {"corpus": "corpus.jsonl", "queries": "queries.jsonl", "qrels": "qrels.tsv"},
         "qa": {"documents": "docs", "qa": "qa.jsonl"}}
NAME_RULE = "a non-empty string without / or \\"


def is_plain_name(value: object) -> bool:
    """A data set or run name becomes a folder name: a non-empty string, one path component."""
    return isinstance(value, str) and bool(value.strip()) and "/" not in value and "\\" not in value


def _plain_name(value: str) -> str:
    if not is_plain_name(value):
        raise ValueError(f"must be {NAME_RULE}")  # pydantic's way of refusing a value
    return value


Name = Annotated[str, Strict(), AfterValidator(_plain_name)]
Text = Annotated[str, Strict()]
_SHAPE = ConfigDict(extra="forbid", frozen=True)


class QAFields(BaseModel):
    """The names of a qa.jsonl file's fields, where they differ from the canonical ones."""

    model_config = _SHAPE
    id: Text = "id"
    question: Text = "question"
    answers: Text = "answers"
    source: Text = "source"
    page: Text = "page"


class _DataSetEntry(BaseModel):
    model_config = _SHAPE
    name: Name = Field(description=NAME_RULE)
    kind: str                       # narrowed to one Literal by each kind's entry
    path: Text | None = None        # the folder holding the kind's files, unless each is given
    limit: Annotated[int, Strict()] | None = Field(None, ge=1, description="a positive integer or null")
    source: Text | None = None      # where to get the data (a URL, a command): said when a file is missing


class BeirEntry(_DataSetEntry):
    """A ``kind: beir`` entry of ``datasets:`` as written (paths relative to the file)."""

    kind: Literal["beir"]
    corpus: Text | None = None
    queries: Text | None = None
    qrels: Text | None = None


class QAEntry(_DataSetEntry):
    """A ``kind: qa`` entry of ``datasets:`` as written (paths relative to the file)."""

    kind: Literal["qa"]
    documents: Text | None = None
    qa: Text | None = None
    fields: QAFields | None = None


class EvalFile(BaseModel):
    """The top level of an eval config file as written; pipelines, metrics and the ragkit settings
    inside ``config:`` and ``judge:`` are checked by the functions that read them."""

    model_config = _SHAPE
    datasets: list[Annotated[BeirEntry | QAEntry, Field(discriminator="kind")]] = Field(
        min_length=1, description="a non-empty list of data sets")
    pipelines: list[Any] = Field(min_length=1, description="a non-empty list of runs")
    metrics: list[Text] | None = Field(None, min_length=1,
                                       description="a non-empty list of metric names, e.g. [ndcg@10, recall@100]")
    out: Text | None = None
    config: Any = None              # a mapping of ragkit config sections, or a ragkit config file
    judge: dict[str, Any] | None = Field(None, description="an llm: mapping, e.g. {kind: openai}")




def read_eval_file(src: YamlFile) -> EvalFile:
    """The file's top level and data set entries, validated; else an error at the first wrong key's line."""
    raw = src.raw if isinstance(src.raw, dict) else {}
    if raw and "datasets" not in raw and "pipelines" not in raw and set(raw) <= {"index", *SECTIONS}:
        # `ragkit eval configs/default.yaml`: a settings file, which `ragkit ask --config` reads
        raise src.error((), "this is a settings file (for --config), not an eval config: an eval config "
                        "lists datasets: and pipelines: (see configs/sample-qa.yaml), and may name a settings file "
                        "under config:")
    src.check_keys((), src.raw, EvalFile.model_fields, "a mapping with datasets: and pipelines:")
    try:
        return EvalFile.model_validate(src.raw)
    except ValidationError as exc:
        raise src.error(*describe(exc.errors(), EvalFile)) from None
