"""Citations, data delimiting and model-output cleaning for the generation stage.

Retrieved text goes into prompts as *data*: ``<source id="n" ref="...">`` blocks inside a
``<context>`` block. Anything in a chunk that looks like one of those tags is neutralised so a
document cannot close the block and speak as the user. Model answers cite sources as ``[n]``;
:func:`clean_citations` normalises the forms models actually write and drops numbers that point
at nothing the model was shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ragkit.text import escape_attribute, escape_tags

NO_ANSWER = "The provided documents do not contain the answer."

# Tags the prompts use as delimiters. A chunk (or a model's partial answer fed back in) holding
# one of them must not be able to open or close a block, so its "<" is escaped. Matching the
# bare "<tag" (with no ">" needed) also catches "</source" split across odd whitespace.
_DELIMITER_TAGS = ("context", "source", "notes", "note", "current_answer", "question")

# One bracket group: [1], [ 1 ], [1, 2], [1;2], [1-3], [Source 2], [doc #3], [1 and 2].
_ITEM = r"(?:(?:sources?|src|docs?|documents?)\s*)?#?\s*\d+"
_SEP = r"\s*(?:,|;|&|and\b|-|\u2013)\s*"
_GROUP = rf"\[\s*{_ITEM}(?:{_SEP}{_ITEM})*\s*\]"
# A run of adjacent groups ("[1][2]", "[1], [2]") is rewritten as one; the leading blanks are
# captured so that removing a whole run does not leave "claim ." behind.
_RUN = re.compile(rf"(?P<ws>[ \t]*)(?P<run>{_GROUP}(?:[ \t]*[,;]?[ \t]*{_GROUP})*)", re.I)
_RANGE_LIMIT = 50  # "[1-3]" is a range; "[2-2024]" is not something to expand

_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.S | re.I)
_ECHOED_TAGS = re.compile(r"</?\s*(?:context|source|notes?|current_answer|question|answer)\b[^>]*>", re.I)
_ANSWER_LABEL = re.compile(r"^\s*(?:final\s+)?answer\s*:\s*", re.I)


@dataclass(frozen=True)
class Source:
    """One context chunk as the model saw it, under its citation number ``[n]``."""

    n: int
    chunk_id: str
    source: str
    page: int | None
    text: str
    header: str = ""   # the period header of the table the chunk starts in, when a PDF chunk starts below it

    def label(self) -> str:
        """``"source:page"``, or ``"source"`` when the chunk has no page."""
        return f"{self.source}:{self.page}" if self.page is not None else self.source

    def to_json(self) -> dict:
        """Plain-JSON form (the page coerced to ``int`` in case it came from numpy)."""
        return {"n": self.n, "chunk_id": str(self.chunk_id), "source": str(self.source),
                "page": None if self.page is None else int(self.page), "label": self.label(),
                "text": self.text}


def escape_data(text: str) -> str:
    """Neutralise delimiter-like tags in untrusted text so it stays inside its block."""
    return escape_tags(text, _DELIMITER_TAGS)


def format_source(n: int, ref: str, text: str) -> str:
    """One ``<source id="n" ref="...">`` block holding escaped ``text``."""
    return f'<source id="{n}" ref="{escape_attribute(ref)}">\n{escape_data(text)}\n</source>'


def format_note(n: int, ref: str, text: str) -> str:
    """One ``<note source="n">`` block (a partial answer fed to the combining step), escaped."""
    return f'<note source="{n}">\n{escape_data(text)}\n</note>'


def _numbers(group_text: str) -> list[int]:
    """The citation numbers of one bracket group, ranges expanded."""
    tokens = re.findall(r"\d+|[-\u2013]", group_text)
    out: list[int] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.isdigit():
            is_range = (i + 2 < len(tokens) and tokens[i + 1] in "-\u2013" and tokens[i + 2].isdigit()
                        and 0 < int(tokens[i + 2]) - int(tok) <= _RANGE_LIMIT)
            if is_range:
                out.extend(range(int(tok), int(tokens[i + 2]) + 1))
                i += 3
                continue
            out.append(int(tok))
        i += 1
    return out


def clean_citations(text: str, valid: set[int]) -> tuple[str, list[int], int]:
    """Normalise citations to ``[1][2]`` and drop numbers not in ``valid``.

    Returns ``(text, used, removed)``: the cleaned text, the distinct valid numbers in order of
    first use, and how many citation numbers were removed because they pointed at nothing.
    """
    used: list[int] = []
    removed = 0

    def rewrite(match: re.Match) -> str:
        nonlocal removed
        numbers = list(dict.fromkeys(_numbers(match.group("run"))))
        kept = [n for n in numbers if n in valid]
        removed += len(numbers) - len(kept)
        for n in kept:
            if n not in used:
                used.append(n)
        if not kept:
            return ""
        return match.group("ws") + "".join(f"[{n}]" for n in kept)

    cleaned = _RUN.sub(rewrite, text)
    return cleaned.strip(), used, removed


def strip_citations(text: str) -> str:
    """``text`` without any citation groups (to judge whether anything else is left)."""
    return _RUN.sub("", text)


def replace_citations(text: str, n: int) -> str:
    """Every citation group in ``text`` rewritten as ``[n]`` (for output that saw only source n)."""
    return _RUN.sub(lambda m: m.group("ws") + f"[{n}]", text)


def has_content(text: str) -> bool:
    """True when ``text`` holds a letter or digit outside its citations."""
    return bool(re.search(r"\w", strip_citations(text)))


def is_refusal(text: str) -> bool:
    """True when ``text`` says the documents do not hold the answer (or says nothing at all)."""
    flat = " ".join(text.split()).lower()
    return not has_content(text) or NO_ANSWER.lower().rstrip(".") in flat


def tidy_output(raw: str) -> str:
    """Strip what models wrap answers in: reasoning blocks, echoed delimiters, an "Answer:" label."""
    text = _THINK.sub("", raw or "")
    text = _ECHOED_TAGS.sub("", text)
    return _ANSWER_LABEL.sub("", text).strip()


def is_none_reply(text: str) -> bool:
    """True when a map step found nothing: NONE as asked, a refusal, or no content."""
    if not has_content(text) or is_refusal(text):
        return True
    if re.match(r"\W*NONE\b", text):  # uppercase as instructed, whatever junk follows
        return True
    return re.sub(r"[^a-z/ ]", "", text.lower()).strip() in {"none", "nothing", "n/a", "no", "not relevant"}
