"""Quotable pieces of retrieved text: sentences, table rows with their period, never a bare heading.

PDF text arrives as lines: prose wrapped across lines, table rows ("Total net sales $ 81,797 $
82,959 …"), headings ("Probable Cause and Findings") and tables of contents. Joined blindly they
make one run-on "sentence" per page. Here a table row is a piece of its own, carrying the column
header above it that names its periods ("Three Months Ended … July 1, 2023 …"), prose is split into
sentences (not after "Inc." or "No."), and headings and dotted contents lines are marked, so the
extract chain can rank what answers and never quote a heading alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ragkit.text import split_sentences

_NUMBER = re.compile(r"(?<![\w.])[$€£(]?\d[\d,]*(?:\.\d+)?%?\)?(?![\w])")
_PERIOD_HEADER = re.compile(r"\b(?:\w+\s+)?(?:months?|weeks?|quarters?|years?)\s+ended\b", re.I)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE_PIECE = re.compile(rf"^(?:{_MONTH}\s+\d{{1,2}},?(?:\s+(?:19|20)\d\d)?|(?:19|20)\d\d)(?:\s+(?:{_MONTH}\s+\d{{1,2}},?"
                         rf"(?:\s+(?:19|20)\d\d)?|(?:19|20)\d\d))*$", re.I)
_DATE_WORDS = re.compile(rf"\b{_MONTH}\s+\d{{1,2}},?|\b(?:19|20)\d\d\b|\band\b|[,()]", re.I)
_ENUMERATOR = re.compile(r"^(?:(?:note|item|part|section|chapter)\s+)?(?:\d+|[ivx]+)(?:\.\d+)*[.:)]?\s*[–—-]?\s*", re.I)
_DOT_LEADER = re.compile(r"\.{5,}|(?:\. ){4,}")
_END = re.compile(r"[.!?:;)\"”’]\s*$")
_ABBREVIATION = re.compile(r"(?:\b(?:inc|corp|co|ltd|no|nos|mr|mrs|ms|dr|vs|approx|fig|sec|st|jr|sr|e\.g|i\.e|"
                           r"u\.s|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.)$", re.I)


@dataclass(frozen=True)
class Piece:
    """One quotable piece of a source: its text, whether it is a table row, and the row's period header."""

    text: str
    row: bool = False
    period: str = ""


def is_table_row(line: str) -> bool:
    """A row of a table: two or more numbers that make up 40 % of its words or end it, few prose words."""
    words = line.split()
    numbers = _NUMBER.findall(line)
    prose_words = sum(1 for w in words if re.fullmatch(r"[a-z]{4,}[,;]?", w))
    if len(numbers) < 2 or len(words) > 40 or prose_words > 8 or re.search(r"[a-z]{3,}[.!?]\s*$", line):
        return False
    return len(numbers) >= 0.4 * len(words) or bool(_NUMBER.fullmatch(words[-1]))


def is_heading(text: str) -> bool:
    """A title, not a statement: short, no number, no sentence ending ("Hybrid retrieval with RRF")."""
    text = " ".join(text.split())
    if not text or _DOT_LEADER.search(text):
        return True
    if ":" in text.rstrip(":"):   # "Location: Tallahassee, FL": a form field, not a title
        return False
    title = _ENUMERATOR.sub("", text)   # "Note 7 – Shareholders' Equity", "1.2. Catalog": the number is the section's
    return len(title.split()) <= 10 and not _NUMBER.search(title) and not _END.search(title)


def _merge_abbreviations(sentences: list[str]) -> list[str]:
    """Glue back sentences split after an abbreviation ("Apple Inc." + "The …" stays split; "No." + "3" joins)."""
    out: list[str] = []
    for sentence in sentences:
        if out and _ABBREVIATION.search(out[-1]) and (sentence[:1].isdigit() or len(out[-1].split()) <= 2):
            out[-1] = f"{out[-1]} {sentence}"
        else:
            out.append(sentence)
    return out


def _prose(lines: list[str]) -> list[Piece]:
    sentences = _merge_abbreviations(split_sentences("\n".join(lines)))
    return [Piece(s) for s in sentences if len(s.split()) >= 3 and not is_heading(s)]


COLUMN_WORDS = 10
"""A column name of a composed period header has at most this many words ("Three Months Ended Q1 2023 % of Net Amount")."""


def is_period_header(line: str) -> bool:
    """A column header naming periods ("Three Months Ended Nine Months Ended", "July 1, 2023 June 25, 2022"),
    or the PDF loader's composed one, a column a part ("Three Months Ended July 1, 2023; …; Percentage Change")."""
    if not _PERIOD_HEADER.search(line):
        return False
    parts = line.split(";")
    if len(parts) > 1:   # composed: short column names, most naming a period ("… % of Net Revenue" may follow)
        return all(len(p.split()) <= COLUMN_WORDS for p in parts) and 2 * sum(
            bool(_PERIOD_HEADER.search(p)) for p in parts) >= len(parts)
    return len(_DATE_WORDS.sub(" ", _PERIOD_HEADER.sub(" ", line)).split()) <= 2


def _starts_block(line: str, buffer: list[str], following: str) -> bool:
    """A heading line: heading-shaped, capitalised, not the wrapped tail of an unfinished sentence, and not
    continued by a lowercase line (a sentence wrapped across a narrow column)."""
    return (is_heading(line) and line[:1].isupper() and (not buffer or bool(_END.search(buffer[-1])))
            and not (following[:1].islower() or following[:1] in ",.;:)"))


GROUP_LABEL_WORDS = 8
"""A line of at most this many words ending in ":" right above table rows labels them ("Earnings per share:")."""


def _group_label(buffer: list[str]) -> str:
    """The label line that ends ``buffer`` ("Earnings per share:"), or "" when it ends otherwise."""
    last = next((line for line in reversed(buffer) if line), "")
    if last.endswith(":") and len(last.split()) <= GROUP_LABEL_WORDS and not _NUMBER.search(last):
        return last
    return ""


def quotable_pieces(text: str, header: str = "") -> list[Piece]:
    """The pieces of ``text`` worth quoting, in order: prose sentences and table rows; headings left out.

    Rows under a label line keep it ("Earnings per share: Diluted $ 1.26 $ 1.20"): "Diluted" alone
    does not say what the figure is. A "Total …" row closes the group. ``header`` is the period header
    in force where ``text`` starts (a chunk cut below its table's header): rows take it until ``text``
    names its own.
    """
    pieces: list[Piece] = []
    buffer: list[str] = []
    group = ""
    after_header = False
    lines = [raw.strip() for raw in text.splitlines()]
    for i, line in enumerate(lines):
        if not line:
            buffer.append(line)
            continue
        if is_period_header(line) or (after_header and _DATE_PIECE.match(line)):
            pieces, buffer = pieces + _prose(buffer), []
            # Consecutive header lines ("Three Months Ended …", then the dates, one per line) make one label.
            header = f"{header} {line}" if after_header else line
            after_header = True
            continue
        after_header = False
        if is_table_row(line):
            label = _group_label(buffer)
            if label:
                group, buffer = label, buffer[:len(buffer) - buffer[::-1].index(label) - 1]
            pieces, buffer = pieces + _prose(buffer), []
            row = " ".join(line.split())
            if row.lower().startswith("total"):   # "Total net sales" closes the group it sums
                group = ""
            pieces.append(Piece(f"{group} {row}" if group else row, row=True, period=header))
            continue
        group = ""
        if _starts_block(line, buffer, next((x for x in lines[i + 1:] if x), "")):
            pieces, buffer = pieces + _prose(buffer), []   # a heading is never quoted, nor glued to a sentence
        else:
            buffer.append(line)
    return pieces + _prose(buffer)
