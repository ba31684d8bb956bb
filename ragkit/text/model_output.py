"""Cleaning a small model's output: lists of questions, passages, JSON replies, echoes and debris.

Every model output is untrusted text. A 135M model numbers its lines, adds "Sure! Here are …", leaves tags
like ``<subquestion1>``, repeats itself and echoes its input; these functions keep what is usable and count
what they dropped. The query transforms (:mod:`ragkit.retrieval.transforms`), IRCoT and the questions and
summaries written at ingest (:mod:`ragkit.ingest.multi_vector`) share them.
"""

from __future__ import annotations

import json
import re

__all__ = ["THINK", "MIN_QUERY_CHARS", "MAX_QUERY_CHARS", "same_text", "without_markup", "json_lines",
           "parse_query_list", "parse_passage"]

MIN_QUERY_CHARS = 3
MAX_QUERY_CHARS = 300
MIN_PASSAGE_CHARS = 20
# Dense embedders truncate long inputs anyway (MiniLM reads 256 tokens); a cap keeps a
# run-away generation out of the trace and the embedding call.
MAX_PASSAGE_CHARS = 2000


THINK = re.compile(r"<think>.*?(</think>|$)", re.S | re.I)
# Any XML-ish tag or code fence: a small model leaves debris like <subquestion1> or </sub>,
# which would otherwise pass as a (short) query.
_TAGS = re.compile(r"</?\s*[A-Za-z][\w-]*\s*>|```\w*", re.I)
_MARKER = re.compile(r"^(?:\#\d+\s*|[-*+•·>#]+\s*|\(?\d{1,2}\s*[.):\]](?!\d)\s*|[a-z]\)\s+)+", re.I)
# "1.What" is a marker, "1.5 million" and "2:30" are not: a marker is never followed by a digit.
# A label needs a number or a colon, so "Question-answering systems" keeps its first word.
_LABEL = re.compile(r"^(?:(?:alternative|rephrased|rewritten|search|sub|step[- ]back|general|broader|"
                    r"more general)[- ]?)?(?:query|question|rewrite|rephrasing|sub-?question|passage|answer|q)"
                    r"(?:\s*\d{0,2}\s*:|\s*\d{1,2}\s*[.)\-–])\s*", re.I)
_PREAMBLE = re.compile(r"^(?:sure|certainly|of course|okay|ok|absolutely|here (?:are|is)|here's|"
                       r"below (?:are|is)|the following|(?:i )?hope (?:this|that|these)|let me|as an ai)\b", re.I)
_INLINE_NUMBER = re.compile(r"\s+(?=\(?\d{1,2}[.)]\s)")
_QUESTION_SPLIT = re.compile(r"(?:(?<=\?)|(?<=\?[\"'”’]))\s+(?=\S)")
_JSON_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"(\s*:)?')
_QUOTES = "\"'`“”‘’«»"


def _norm(text: str) -> str:
    """Case-, punctuation- and spacing-insensitive form, for duplicate and echo checks."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def same_text(a: str, b: str) -> bool:
    """Whether two texts are the same ignoring case, punctuation and spacing (the duplicate and echo check)."""
    return _norm(a) == _norm(b)


def without_markup(text: str) -> str:
    """``text`` with tags and code fences (a small model's debris) replaced by spaces."""
    return _TAGS.sub(" ", text)


def _pieces(line: str) -> list[str]:
    """One output line -> candidate items; small models often put a whole list on one line."""
    if re.match(r"^\(?1[.)]\s", line.strip()) and re.search(r"\s\(?2[.)]\s", line):
        return _INLINE_NUMBER.split(line.strip())
    parts = _QUESTION_SPLIT.split(line)
    return parts if len(parts) > 1 else [line]


def _clean_item(item: str) -> str:
    """Strip list markers, labels, markdown emphasis and surrounding quotes from one item."""
    text = item.strip()
    for _ in range(3):  # markers, labels and quotes nest ("1. Query 1: \"...\""); peel a few layers
        before = text
        text = _MARKER.sub("", text).strip()
        text = _LABEL.sub("", text).strip()
        text = text.strip("*").strip()  # markdown bold; not "_", which starts identifiers
        if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
            text = text[1:-1].strip()
        if text == before:
            break
    return " ".join(text.rstrip(",;").split())


def _strip_preamble(line: str) -> tuple[str, bool]:
    """Drop a chatty lead-in ("Sure! Here are 3 queries:"), keeping anything after its colon."""
    stripped = line.strip()
    if _PREAMBLE.match(_clean_item(stripped)):
        head, colon, rest = stripped.partition(":")
        if colon:
            return rest.strip(), True
        # "Sure! What is X?" - drop only the chatty first sentence; "OK, why does X fail?" is
        # one question, not chatter, so a single sentence ending in "?" is kept.
        parts = re.split(r"(?<=[.!])\s+", stripped, maxsplit=1)
        if len(parts) > 1:
            return parts[1], True
        return (stripped, False) if stripped.endswith("?") else ("", True)
    if stripped.endswith(":"):
        return "", True
    return stripped, False


def _count_note(counts: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in counts.items() if v)


def json_lines(text: str) -> str:
    """A JSON reply (``{"queries": [...]}``, ``{"question": "..."}`` or a bare list) as one item a line.

    Text that is not such JSON is returned unchanged: models without structured output may
    answer in lines, and the line parser takes it from there.
    """
    body = THINK.sub("", text).strip().removeprefix("```json").strip("`").strip()
    try:
        data = json.loads(body)
    except ValueError:
        if not body.startswith(("{", "[")):
            return text
        # Cut off at max_tokens mid-JSON: keep the string values that did close (not the keys).
        data = _closed_strings(body)
    if isinstance(data, dict):
        data = [v for value in data.values() for v in (value if isinstance(value, list) else [value])]
    if not isinstance(data, list) or not all(isinstance(v, str) for v in data):
        return text
    return "\n".join(" ".join(v.split()) for v in data)


def _closed_strings(body: str) -> list[str]:
    """The complete JSON string values (not keys) in a truncated JSON text."""
    values = []
    for literal, is_key in _JSON_STRING.findall(body):  # keys matched too, so quotes pair up in order
        if is_key:
            continue
        try:
            values.append(json.loads(f'"{literal}"'))
        except ValueError:  # a broken escape: not a value worth keeping
            continue
    return values


def parse_query_list(text: str, question: str, n: int) -> tuple[list[str], list[str]]:
    """Clean a model's list of queries: returns ``(queries, notes)``, at most ``n`` queries.

    Splits lines (and one-line lists), strips numbering, bullets, quotes and "Query 1:" labels,
    drops preambles, empty, too-short (< 3 chars) and too-long (> 300 chars) items, exact or
    near duplicates (ignoring case and punctuation) and echoes of the question.
    """
    text = _TAGS.sub("\n", THINK.sub("", json_lines(text or "")))
    seen = {_norm(question)}
    kept: list[str] = []
    dropped = {"preamble": 0, "empty": 0, "too short": 0, "too long": 0, "duplicate": 0,
               "echo of the question": 0, "over the limit": 0}
    for line in text.splitlines():
        line, was_preamble = _strip_preamble(line)
        dropped["preamble"] += was_preamble
        if not line:
            continue
        for piece in _pieces(line):
            item = _clean_item(piece)
            key = _norm(item)
            if not key:
                dropped["empty"] += bool(piece.strip())
            elif len(item) < MIN_QUERY_CHARS:
                dropped["too short"] += 1
            elif len(item) > MAX_QUERY_CHARS:
                dropped["too long"] += 1
            elif key == _norm(question):
                dropped["echo of the question"] += 1
            elif key in seen:
                dropped["duplicate"] += 1
            elif len(kept) >= n:
                dropped["over the limit"] += 1
            else:
                seen.add(key)
                kept.append(item)
    notes = [f"kept {len(kept)}" + (f"; dropped {_count_note(dropped)}" if any(dropped.values()) else "")]
    if dropped["over the limit"]:
        notes.append(f"kept the first {n} (n={n})")
    return kept, notes


def parse_passage(text: str, question: str) -> tuple[str, list[str]]:
    """Clean a HyDE passage: returns ``(passage, notes)``, passage ``""`` when unusable."""
    lines: list[str] = []
    for line in _TAGS.sub("\n", THINK.sub("", text or "")).splitlines():
        if not lines:  # only the lead-in can be chatter; later lines are the passage
            line = _LABEL.sub("", _strip_preamble(line)[0]).strip()
        if line.strip():
            lines.append(line)
    passage = " ".join(" ".join(lines).split())
    if len(passage) >= 2 and passage[0] in _QUOTES and passage[-1] in _QUOTES:
        passage = passage[1:-1].strip()
    notes: list[str] = []
    # An echo may come back with a word or two around it; what is left once the
    # question is removed must still be passage-sized.
    remainder = _norm(passage).replace(_norm(question), " ").strip() if _norm(question) else _norm(passage)
    if not passage:
        notes.append("model returned an empty passage")
        return "", notes
    if len(remainder) < MIN_PASSAGE_CHARS:
        notes.append("model passage is too short or just echoes the question")
        return "", notes
    if len(passage) > MAX_PASSAGE_CHARS:
        passage = passage[:MAX_PASSAGE_CHARS].rsplit(" ", 1)[0]
        notes.append(f"passage cut to {len(passage)} characters")
    return passage, notes
