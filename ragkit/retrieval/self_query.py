"""Self-query: a question becomes a metadata filter over the index's real fields and values (and a search text).

Two passes, rules first. The rule pass needs no model: it recognises a file name, years, quarters
("Q3 2023", "third quarter") and tickers that the index's file names hold ("2023 Q3 AAPL.pdf"), and
company names found on the first pages of every file of one ticker and of no other ("Apple" ->
AAPL). The model pass asks the chat model for ``{"query": ..., "filter": {...}}``, held to a JSON
schema whose fields and values are the index's own (llama.cpp's grammar, or an OpenAI-compatible
``response_format``). Every filter is validated against the index: a field or value it lacks, or a
page that is not a whole number, is dropped with a note; a filter that matches no chunk is not
applied. The rules win where both name the same field. No filter at all means the whole index is
searched, and the notes say so. The filter applies to both retrievers before fusion (the same path
as ``--filter``), and a ``--filter`` given by the user wins over it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from itertools import combinations
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ragkit.errors import UsageError
from ragkit.retrieval.transform_prompts import self_query_messages, self_query_schema

if TYPE_CHECKING:
    from ragkit.llm.base import ChatModel
    from ragkit.store.docstore import DocStore

# Keys every chunk has a value of its own (ids, offsets, its context line): never a filter.
SKIP_KEYS = frozenset({"chunk_id", "doc_id", "chunk_index", "start", "end", "parent_id", "context"})
MAX_VALUES = 1000     # a field with more distinct values is not offered (its values cannot be checked cheaply)
MAX_VALUE_CHARS = 60  # nor one whose values are long (a table's column headers): they would fill a small model's prompt
LEADING_CHUNKS = 3    # chunks of each file read for company names (a filing's cover page)
MAX_QUERY_CHARS = 200   # the model's search text is cut to this (the schema asks for 120 already)
# Room for the longest reply the schema allows (a 120-character search text, a field or two): a reply cut at
# the token limit is not JSON, however strict the grammar.
_MAX_TOKENS = 160


@dataclass(frozen=True)
class Field:
    """One filterable metadata field: ``integer`` (page) or ``text``, and its values, most common first."""

    name: str
    kind: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Catalog:
    """What a filter may name: the index's fields and values, and names of tickers (``"apple": "AAPL"``).

    ``count`` says how many chunks a whole filter matches (None: not checked).
    """

    fields: Mapping[str, Field]
    aliases: Mapping[str, str] = field(default_factory=dict)
    count: Callable[[Mapping[str, str]], int] | None = None


@dataclass
class SelfQuery:
    """The outcome of both passes: the filter to apply, the model's search text (None: unusable), what happened."""

    filters: dict[str, str]
    text: str | None = None
    notes: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    llm_calls: int = 0


# --- the catalog -----------------------------------------------------------------------------

def build_catalog(docstore: DocStore) -> Catalog:
    """The :class:`Catalog` of an index's docstore: one query for the values, one for each file's first chunks."""
    counts: dict[str, dict[str, int]] = {}
    kinds: dict[str, set[str]] = {}
    for key, kind, value, count in docstore.field_values(SKIP_KEYS):
        counts.setdefault(key, {})[value] = counts.get(key, {}).get(value, 0) + count
        kinds.setdefault(key, set()).add(kind)
    chunks = docstore.count()
    fields = {key: Field(key, "integer" if kinds[key] == {"integer"} else "text",
                         tuple(sorted(values, key=lambda v: (-values[v], v))))
              for key, values in counts.items() if _offered(values, kinds[key], chunks)}
    sources = fields["source"].values if "source" in fields else ()
    aliases = ticker_aliases(docstore.leading_text(LEADING_CHUNKS), sources) if sources else {}
    return Catalog(fields, aliases, lambda filters: len(docstore.rows_matching(filters)))


def _offered(values: Mapping[str, int], kinds: set[str], chunks: int) -> bool:
    """A field worth filtering on: numbers or short text that not every chunk shares, not so many values that they
    cannot be checked."""
    if not kinds <= {"integer", "text"} or len(values) > MAX_VALUES:
        return False
    if len(values) == 1 and next(iter(values.values())) >= chunks:   # "type: pdf" everywhere selects everything
        return False
    lengths = sorted(len(v) for v in values)
    return lengths[len(lengths) // 2] <= MAX_VALUE_CHARS


def index_catalog(searcher: Any) -> Catalog:
    """The catalog of a searcher's index (``Searcher.catalog``: built once per opened index)."""
    return searcher.catalog


def name_tokens(source: str) -> dict[str, str]:
    """The year, quarter and ticker a file name holds: ``"2023 Q3 AAPL.pdf"`` -> ``{year: 2023, quarter: Q3, ticker: AAPL}``."""
    found: dict[str, str] = {}
    for token in re.findall(r"[A-Za-z0-9]+", PurePosixPath(source).stem):
        if re.fullmatch(r"(?:19|20)\d\d", token):
            found.setdefault("year", token)
        elif re.fullmatch(r"[Qq][1-4]", token):
            found.setdefault("quarter", token.upper())
        elif re.fullmatch(r"[A-Z]{2,5}", token):
            found.setdefault("ticker", token)
    return found


def ticker_aliases(leading: Mapping[str, str], sources: tuple[str, ...]) -> dict[str, str]:
    """Proper nouns (4+ letters, never written in lower case) on the first chunks of every file of one ticker and
    of no other file: its names. ``{"apple": "AAPL", "cupertino": "AAPL", …}``; nothing unless the file names hold
    two tickers or more. "Which" opening a sentence on one company's cover page is no name: it is written in lower
    case elsewhere.
    """
    groups: dict[str, list[str]] = {}
    for source in sources:
        ticker = name_tokens(source).get("ticker")
        if ticker:
            groups.setdefault(ticker, []).append(source)
    if len(groups) < 2:
        return {}
    # A web or mail address is no lower-case use of a name: "www.microsoft.com" must not make "Microsoft" common.
    prose = {s: re.sub(r"\S+@\S+|\S*(?:www\.|https?:|\.com|\.net|\.org|\.gov)\S*", " ", t) for s, t in leading.items()}
    common = {w for text in prose.values() for w in re.findall(r"\b[a-z]{4,}\b", text)}
    words = {s: {w.lower() for w in re.findall(r"\b[A-Z][A-Za-z]{3,}\b", leading.get(s, ""))} - common for s in sources}
    aliases: dict[str, str] = {}
    for ticker, members in groups.items():
        shared = set.intersection(*(words[s] for s in members))
        elsewhere = set().union(*(words[s] for s in sources if s not in members))
        aliases.update({word: ticker for word in shared - elsewhere})
    return aliases


# --- the rule pass ---------------------------------------------------------------------------

_ORDINALS = {"first": "Q1", "1st": "Q1", "second": "Q2", "2nd": "Q2", "third": "Q3", "3rd": "Q3",
             "fourth": "Q4", "4th": "Q4"}


def question_tokens(question: str, aliases: Mapping[str, str]) -> tuple[dict[str, set[str]], list[str]]:
    """The years, quarters and tickers a question names, and why each ticker was recognised."""
    found: dict[str, set[str]] = {"year": set(), "quarter": set(), "ticker": set()}
    found["year"] |= set(re.findall(r"\b((?:19|20)\d\d)\b", question))
    for quarter, short_year in re.findall(r"\bQ([1-4])\s*(?:FY\s*)?'?(\d\d)?\b", question, re.I):
        found["quarter"].add(f"Q{quarter}")
        found["year"] |= {f"20{short_year}"} if short_year else set()
    for quarter, short_year in re.findall(r"\b([1-4])Q(\d\d)?\b", question, re.I):
        found["quarter"].add(f"Q{quarter}")
        found["year"] |= {f"20{short_year}"} if short_year else set()
    for word in re.findall(r"\b(first|second|third|fourth|1st|2nd|3rd|4th)\s+(?:fiscal\s+)?quarter", question, re.I):
        found["quarter"].add(_ORDINALS[word.lower()])
    why = []
    found["ticker"] |= set(re.findall(r"\b[A-Z]{2,5}\b", question))
    for word in re.findall(r"[A-Za-z]+", question):
        ticker = aliases.get(word.lower())
        if ticker and ticker not in found["ticker"]:
            found["ticker"].add(ticker)
            why.append(f"{word} -> {ticker}")
    return found, why


def rule_filters(question: str, catalog: Catalog) -> tuple[dict[str, str], list[str]]:
    """The filter the rules find (``{"source": …}``, ``{"title": …}`` or nothing) and notes saying what and why."""
    sources = catalog.fields["source"].values if "source" in catalog.fields else ()
    lowered = question.lower()
    named = [s for s in sources if s.lower() in lowered or _distinct_stem(s) and _distinct_stem(s) in lowered]
    if named:
        chosen, why = set(named), [f"the question names {', '.join(sorted(named))}"]
    else:
        chosen, why = _by_tokens(question, sources, catalog.aliases)
    filters, notes = {}, []
    if chosen and len(chosen) < len(sources):
        pattern, matched = source_glob(chosen, sources)
        if pattern:
            filters["source"] = pattern
            wider = f"; {len(matched)} files for the {len(chosen)} named" if len(matched) > len(chosen) else ""
            notes.append(f"rules: source={pattern} ({'; '.join(why)}{wider})")
        else:
            notes.append(f"rules: {'; '.join(why)}, but no one pattern selects those files: no source filter")
    elif why:
        notes.append(f"rules: {'; '.join(why)}: no source filter")
    title = catalog.fields.get("title")
    for value in title.values if title else ():
        if len(value) >= 8 and value.lower() in lowered:
            filters["title"] = value
            notes.append(f"rules: title={value} (the question names it)")
            break
    return filters, notes


def _distinct_stem(source: str) -> str:
    """A file's name without its extension, when it cannot be a common word ("field-notes", "2023 Q3 AAPL")."""
    stem = PurePosixPath(source).stem.lower()
    return stem if len(stem) >= 4 and re.search(r"[^a-z]", stem) else ""


def _by_tokens(question: str, sources: tuple[str, ...], aliases: Mapping[str, str]) -> tuple[set[str], list[str]]:
    """The files whose names hold the years, quarters and tickers the question names (a kind no name holds is ignored)."""
    asked, why = question_tokens(question, aliases)
    tokens = {s: name_tokens(s) for s in sources}
    chosen = set(sources)
    for kind, wanted in asked.items():
        present = {t[kind] for t in tokens.values() if kind in t}
        if kind == "ticker":   # any capitalised word could be one ("PDF"): only those the names hold count
            wanted = wanted & present
        if not wanted or not present:
            continue
        if not wanted & present:
            why.append(f"no file name holds {kind} {', '.join(sorted(wanted))}")
            continue
        chosen = {s for s in chosen if tokens[s].get(kind) in wanted}
        why.append(f"{kind} {', '.join(sorted(wanted & present))}")
    if _LATEST.search(question) and not asked["year"] and not asked["quarter"]:
        chosen, why = _latest(chosen, tokens, why)
    return (chosen if chosen != set(sources) else set()), why


# "Apple's most recent 10-Q": of the files chosen so far, the one whose name holds the latest year and quarter.
_LATEST = re.compile(r"\b(?:latest|most recent|newest|most current)\b", re.I)


def _latest(chosen: set[str], tokens: Mapping[str, dict[str, str]], why: list[str]) -> tuple[set[str], list[str]]:
    """The chosen files of the latest year (and quarter) their names hold; unchanged when no name holds a year."""
    dated = {s: (tokens[s]["year"], tokens[s].get("quarter", "")) for s in chosen if "year" in tokens[s]}
    if not dated or len(chosen) < 2:
        return chosen, why
    newest = max(dated.values())
    return {s for s, when in dated.items() if when == newest}, why + [f"latest: {' '.join(filter(None, newest))}"]


def source_glob(chosen: set[str], sources: tuple[str, ...]) -> tuple[str | None, set[str]]:
    """The tightest pattern (an exact name, or ``*2023*AAPL*``) whose matches include every chosen file, and them.

    Built from the year, quarter and ticker the chosen files share, in the order their names hold them;
    None when every such pattern matches every file.
    """
    if len(chosen) == 1:
        name = next(iter(chosen))
        return re.sub(r"([*?\[])", r"[\1]", name), {name}
    first = min(chosen)
    stem = PurePosixPath(first).stem
    shared = [v for k, v in name_tokens(first).items() if all(name_tokens(s).get(k) == v for s in chosen)]
    # As the name writes them ("q3" stays "q3": patterns match case), in its order
    shared = sorted((stem[stem.lower().find(v.lower()):][:len(v)] for v in shared), key=stem.find)
    best: tuple[str | None, set[str]] = (None, set(sources))
    for size in range(1, len(shared) + 1):   # fewest tokens first: "*GLBX*", not "*Q3*GLBX*", for the same files
        for tokens in combinations(shared, size):
            pattern = "*" + "*".join(tokens) + "*"
            matched = {s for s in sources if fnmatchcase(s, pattern)}
            if chosen <= matched and len(matched) < len(best[1]):
                best = (pattern, matched)
    return best


# --- the model pass --------------------------------------------------------------------------

def check_model(llm: ChatModel) -> None:
    """Refuse, in one line, a model whose reply cannot be held to a JSON schema (before any work is spent)."""
    held = getattr(llm, "schema_format", None)
    if held is None or held({}) is None:
        raise UsageError(f"--strategy self-query needs a model whose reply can be held to a JSON schema: "
                         f"llm.kind local (llama.cpp's grammar) or openai (response_format json_schema); "
                         f"'{getattr(llm, 'kind', '?')}' has none. Set ask.self_query: rules to filter without a model")


def validate_filter(raw: Any, catalog: Catalog) -> tuple[dict[str, str], list[str]]:
    """A model's filter checked against the index: ``(kept, notes)``; each field or value the index lacks is dropped."""
    if raw in (None, {}, ""):
        return {}, []
    if not isinstance(raw, dict):
        return {}, [f"dropped the filter: {type(raw).__name__}, not a mapping of field to value"]
    kept, notes = {}, []
    for key, value in raw.items():
        if value is None or value == "":
            continue
        f = catalog.fields.get(str(key))
        checked, problem = _checked_value(f, value) if f else (None, f"the index has no field {key!r}")
        if checked is None:
            notes.append(f"dropped {key}={json.dumps(value, ensure_ascii=False)}: {problem}")
        else:
            kept[str(key)] = checked
    return kept, notes


def _checked_value(f: Field, value: Any) -> tuple[str | None, str]:
    """The value as the index writes it, or None and why not."""
    if f.kind == "integer":
        if isinstance(value, bool) or not (isinstance(value, int) or isinstance(value, str) and value.strip().isdigit()):
            return None, f"{f.name} must be a whole number"
        value = str(int(value))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    elif not isinstance(value, str):
        return None, f"{f.name} must be text"
    if value in f.values:
        return value, ""
    same = [v for v in f.values if v.lower() == value.lower()]
    if same:
        return same[0], ""
    if any(ch in value for ch in "*?[") and any(fnmatchcase(v, value) for v in f.values):
        return value, ""
    return None, f"no chunk has {f.name} {json.dumps(value, ensure_ascii=False)}"


def parse_reply(reply: str) -> tuple[Any, Any, str | None]:
    """``(query, filter, problem)`` of a model's JSON reply; problem is None when it is a JSON object."""
    body = re.sub(r"<think>.*?(</think>|$)", "", reply or "", flags=re.S).strip().removeprefix("```json").strip("` \n")
    try:   # strict=False: llama.cpp's grammar lets a raw newline into a string, which JSON proper forbids
        data = json.loads(body, strict=False)
    except ValueError:
        return None, None, "the model's reply is not JSON"
    if not isinstance(data, dict):
        return None, None, "the model's reply is not a JSON object"
    return data.get("query"), data.get("filter"), None


# --- both passes -----------------------------------------------------------------------------

def self_query(question: str, catalog: Catalog, llm: ChatModel | None) -> SelfQuery:
    """The rules, then (with ``llm``) the model; the filter validated, merged (rules win) and checked to match."""
    filters, notes = rule_filters(question, catalog)
    result = SelfQuery(filters=filters, notes=notes)
    if llm is None:
        result.notes.append("no chat model: the rules alone chose the filter")
    else:
        _model_pass(question, catalog, llm, result)
    if result.filters and catalog.count is not None and catalog.count(result.filters) == 0:
        result.notes.append(f"the filter {_shown(result.filters)} matches no chunk: not applied")
        result.filters = {}
    result.notes.append(f"self-query filter: {_shown(result.filters)}" if result.filters
                        else "self-query: no usable filter; searching the whole index")
    return result


def _model_pass(question: str, catalog: Catalog, llm: ChatModel, result: SelfQuery) -> None:
    """Ask the model once; add its valid fields the rules did not set, and its search text when usable."""
    check_model(llm)
    out = llm.complete(self_query_messages(question, catalog), max_tokens=_MAX_TOKENS, schema=self_query_schema(catalog))
    result.llm_calls += 1
    result.raw.append(out if isinstance(out, str) else "")
    query, raw_filter, problem = parse_reply(result.raw[-1])
    if problem:
        result.notes.append(f"{problem}: no model filter")
        return
    kept, notes = validate_filter(raw_filter, catalog)
    result.notes += [f"model: {note}" for note in notes]
    for key, value in kept.items():
        if key in result.filters and result.filters[key] != value:
            result.notes.append(f"model: {key}={value} set aside for the rules' {key}={result.filters[key]}")
        else:
            result.filters[key] = value
    if kept:
        result.notes.append(f"model: {_shown(kept)}")
    text = " ".join(str(query).split()) if isinstance(query, str) else ""
    if len(text) >= 3 and _norm(text) != _norm(question):
        words, asked = set(_norm(text).split()), set(_norm(question).split())
        if len(words & asked) * 2 >= len(words):
            result.text = text[:MAX_QUERY_CHARS]
        else:   # a search text is the question's own words less the filter's; others leaked from the examples
            result.notes.append(f"model: search text {text[:80]!r} is mostly not the question's words: not used")


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _shown(filters: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in filters.items())
