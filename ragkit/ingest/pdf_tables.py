"""Table pages of a PDF as text: each row one line with its label, its columns' period headers on one line.

pypdf's default extraction follows the content stream. On most 10-Q pages that keeps a row's label
and figures on one line ("Gross margin 36,413 35,885 128,721 132,687"), but the header naming the
columns comes out a fragment a line ("July 1,", "2023", "June 25,", "2022"), a header that shares
its line with the table's unit note ("(In Millions, Except Per Share Amounts) Apr 1, 2023 Apr 2,
2022") is not recognised as one, some figures fall to the next line ("(4,171 )"), and a label that
wraps leaves its first words on a line of their own. pypdf's layout mode places text where it is
printed, so columns line up: there a row is one line, and each column header can be composed from
the header lines stacked above it ("Three Months Ended" over "July 1, 2023" gives "Three Months
Ended July 1, 2023").

Layout mode also pads with spaces and puts side-by-side text on one line (a sidebar beside the
body, two prose columns), which is wrong for prose. So only pages whose plain text holds table
rows or lines of bare figures are re-read in layout mode (:func:`looks_tabular`), padding is
collapsed, blank lines are dropped as plain extraction has none, and a page whose layout shows two
prose columns side by side, or lacks text plain mode found, keeps its plain text
(:func:`table_page_text` returns None). A chunk cut below a table's header finds it again with
:func:`header_in_force`. Pure functions on strings: this module is imported by the PDF worker
processes, so it imports nothing heavy.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

MIN_ROWS = 3
"""A page whose plain text has at least this many table rows is re-read in layout mode."""
HEADER_LINES = 4
"""At most this many header lines stacked above a table's first row are composed into column headers."""
HEADER_SLACK = 0.1
"""A header cell may start this share of the figures' column left of the first figure (centred over them)."""
PROSE_WORDS = 4
"""A cell with at least this many words is prose; a line with two, in an order plain text lacks, is two columns..."""
SIDE_BY_SIDE_LINES = 2
"""...and a page with at least this many such lines keeps its plain text."""
LABEL_WORDS = 8
"""A line of at most this many words, no date, between a header and a row is a label or title, not a sentence."""
MAX_LOST = 0.02
"""A page whose layout text lacks more than this share of its plain text's characters keeps its plain text."""

_CELL = re.compile(r"\S+(?: {1,2}\S+)*")   # layout mode separates columns by 3+ spaces; words by 1-2
_CURRENCY = {"$", "€", "£"}
_CLOSERS = {")", "%", ")%", "%)"}
_VALUE = re.compile(r"[$€£]?\s?\(?\s?[$€£]?\s?[-+]?\d[\d,]*(?:\.\d+)?\s?\)?\s?%?\)?|[—–-]{1,2}|\*|n/?m", re.I)
_YEAR = re.compile(r"(?:19|20)\d\d")
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE = re.compile(rf"\b{_MONTH}\s+\d{{1,2}},?\s*(?:19|20)\d\d\b|\b(?:19|20)\d\d\b", re.I)
_GLUED_DATE = re.compile(rf"\b({_MONTH}\s+\d{{1,2}}),((?:19|20)\d\d)\b", re.I)   # "July 1,2023"
_DATED = re.compile(rf"\b(?:months?|weeks?|quarters?|years?)\s+ended\b|\b{_MONTH}\s+\d|\b(?:19|20)\d\d\b", re.I)
_GLUED_ENDED = re.compile(r"\b[Ee]nded(?=[A-Z][a-z])")   # "Three Months EndedMarch 31,"
_PERIOD = re.compile(r"\b(?:months?|weeks?|quarters?|years?)\s+ended\b", re.I)
_OPEN_END = re.compile(r"(?:,|\b(?:and|or|of|for|in|to|the|net))$", re.I)
_BARE_FIGURES = re.compile(r"(?:[$€£]?\s?\(?[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?\)?\s?%?\s*)+|[$€£]?\s?\(?[-+]?\d+\.\d+\)?\s?%?")
_PLAIN_ROW = re.compile(r"[A-Za-z].*?(?:\s+[$€£]?\s?\(?[-+]?\d[\d,]*(?:\.\d+)?\s?\)?\s?%?){2,}\s*")


@dataclass(frozen=True)
class Cell:
    """A run of text on a layout line, and the columns it spans."""

    start: int
    end: int
    text: str

    @property
    def center(self) -> float:
        """The middle column of the cell."""
        return (self.start + self.end) / 2


def looks_tabular(plain: str) -> bool:
    """Whether a page's plain text holds at least MIN_ROWS table rows (a label, then two or more figures) or
    lines of figures alone (a table written column by column: plain text lists labels, then figures)."""
    return sum(1 for line in plain.splitlines()
               if _PLAIN_ROW.fullmatch(line.strip()) or _BARE_FIGURES.fullmatch(line.strip())) >= MIN_ROWS


def is_composed_header(line: str) -> bool:
    """A period header :func:`table_page_text` composed: column names joined by "; ", most naming a period."""
    parts = line.split("; ")
    return len(parts) > 1 and 2 * sum(bool(_PERIOD.search(part)) for part in parts) >= len(parts)


def header_in_force(text: str, offset: int) -> str:
    """The composed period header over the table row at ``offset`` of a page's text, or "".

    A chunk cut from the middle of a table starts below its header; this finds it again: the last
    composed header before ``offset``, unless a sentence or another dated line (the next table's own
    header, "September 30, 2023 June 30, 2023") comes between.
    """
    header = ""
    for line in text[:offset].splitlines():
        stripped = line.strip()
        if is_composed_header(stripped):
            header = stripped
        elif _DATE.search(stripped) and not re.search(r"\d", _DATE.sub(" ", stripped)):
            header = ""   # dates and no figures: another table's header ("September 30, 2023 June 30, 2023")
        elif len(stripped.split()) > LABEL_WORDS and not (_PLAIN_ROW.fullmatch(stripped) or _BARE_FIGURES.fullmatch(stripped)):
            header = ""   # a sentence: the table has ended
    return header


def cells(line: str) -> list[Cell]:
    """The cells of a layout line; a currency sign printed apart from its figure ("$      60,584") joins it,
    and so does a closing parenthesis or percent sign ("(38      )")."""
    out: list[Cell] = []
    for cell in (c for m in _CELL.finditer(line) for c in _split_currency(m.start(), m.group())):
        if out and (out[-1].text in _CURRENCY or cell.text in _CLOSERS):
            out[-1] = Cell(out[-1].start, cell.end, f"{out[-1].text} {cell.text}")
        else:
            out.append(cell)
    return out


def _split_currency(start: int, text: str) -> list[Cell]:
    # A figure and the next column's currency sign can sit two spaces apart: "102,869  $".
    if len(text) > 2 and text[-1] in _CURRENCY and text[-2] == " ":
        head = text[:-1].rstrip()
        return [Cell(start, start + len(head), head), Cell(start + len(text) - 1, start + len(text), text[-1])]
    return [Cell(start, start + len(text), text)]


def is_value(text: str) -> bool:
    """A figure of a table: a number with its currency, sign, parentheses or %, or a dash for none."""
    return bool(_VALUE.fullmatch(" ".join(text.split())))


def is_row(line: list[Cell]) -> bool:
    """A table row: a label (or a first figure) followed only by figures, not all of them years (a header)."""
    values = line[1:]
    return (len(line) >= 2 and all(is_value(c.text) for c in values)
            and not all(_YEAR.fullmatch(c.text.strip()) for c in values))


def table_page_text(layout: str, plain: str) -> str | None:
    """A page's layout-mode text with rows on one line and period headers composed; None for side-by-side prose.

    Each line's padding is collapsed to single spaces, blank lines are dropped, a label's first line
    is joined to the row it continues, and the header lines above a table's first row become one line
    naming each column's period ("Three Months Ended July 1, 2023; Three Months Ended June 25, 2022").
    """
    rows = [cells(_GLUED_ENDED.sub("Ended ", _GLUED_DATE.sub(r"\1, \2", line))) for line in layout.splitlines()]
    rows = [line for line in rows if line]
    if _side_by_side(rows, plain):
        return None
    out: list[str] = []
    i = 0
    while i < len(rows):
        line = rows[i]
        if is_row(line) and (i == 0 or not is_row(rows[i - 1])):
            _compose_header(rows, i, out)
        if i + 1 < len(rows) and _continues(line, rows[i + 1]):
            first = rows[i + 1][0]
            rows[i + 1] = [Cell(line[0].start, first.end, f"{line[0].text} {first.text}"), *rows[i + 1][1:]]
            i += 1
            continue
        out.append(_joined(line))
        i += 1
    text = "\n".join(text for text in out if text)
    return None if _lost_share(plain, text) > MAX_LOST else text


def _lost_share(plain: str, text: str) -> float:
    """The share of the plain text's characters (spaces aside) that ``text`` lacks: layout mode skips some
    text that plain extraction reads (a chart's labels), and a page must not lose much of it."""
    have, want = Counter(re.sub(r"\s", "", text)), Counter(re.sub(r"\s", "", plain))
    return sum((want - have).values()) / max(1, sum(want.values()))


def _joined(line: list[Cell]) -> str:
    return " ".join(" ".join(c.text.split()) for c in line)


def _side_by_side(rows: list[list[Cell]], plain: str) -> bool:
    """Whether layout mode put two prose columns on one line (a sidebar, a two-column article): lines with
    two cells of prose whose text, spaces aside, the plain extraction does not hold in that order."""
    def prose(cell: Cell) -> bool:
        return sum(1 for w in cell.text.split() if re.search(r"[A-Za-z]{2,}", w)) >= PROSE_WORDS

    squeezed = re.sub(r"\s+", "", plain)
    return sum(1 for line in rows if sum(prose(c) for c in line) >= 2 and not _PERIOD.search(_joined(line))
               and "".join(c.text.replace(" ", "") for c in line) not in squeezed) >= SIDE_BY_SIDE_LINES


def _continues(line: list[Cell], following: list[Cell]) -> bool:
    """A label's first line: text alone on its line, not a group label ("Net sales:"), and the next line a
    row that finishes it: its label goes on in lowercase ("assets (349) (1,206)"), or this line is left
    open (a trailing ",", "and", "of", an unclosed parenthesis: "… as of December 25," + "2021) 30,912"),
    or it is figures alone, right of this text ("Marketable equity securities" + "1,100 85 — 1,185")."""
    if len(line) != 1 or is_value(line[0].text) or line[0].text.endswith(":") or not is_row(following):
        return False
    text = line[0].text
    open_end = bool(_OPEN_END.search(text)) or text.count("(") > text.count(")")
    if is_value(following[0].text) and following[0].start > line[0].end:
        return True   # figures without a label, printed right of this text, a little lower
    return following[0].start >= line[0].start and (following[0].text[:1].islower() or open_end)


def _compose_header(rows: list[list[Cell]], first_row: int, out: list[str]) -> None:
    """Replace the header lines above ``rows[first_row]`` (already in ``out``) by one line naming each column.

    Header lines are the non-row lines right above the first row (group labels such as "Net sales:"
    skipped) that reach over the figures; each cell of the lowest one is a column, named by the cells
    above it and by a period written in the stub ("Three Months Ended September 30," left of the years).
    Nothing changes unless the composed names hold a period ("… Months Ended") and a date.
    """
    value_left = min(c.start for c in rows[first_row][1:])
    slack = max(4.0, HEADER_SLACK * value_left)   # a header centred over right-aligned figures starts a little left
    header: list[int] = []
    j = first_row - 1
    while j >= 0 and len(header) < HEADER_LINES and not is_row(rows[j]):
        line = rows[j]
        over = [c for c in line if c.end > value_left]
        if any(c.start < value_left - slack < c.end for c in line) or (
                over and all(c.text.startswith("(") and c.text.endswith(")") for c in over)):
            break   # a title or sentence across the columns, or a note ("(Unaudited)"): above the header
        if header and _PERIOD.search(" ".join(_joined(rows[k]) for k in header)) and not _DATED.search(_joined(line)):
            break   # a title over a header that already names its periods ("Table of Contents")
        if not over:
            if header:
                break
            j -= 1   # a group label between the header and the rows ("Net sales:")
            continue
        header.insert(0, j)
        j -= 1
    if not header:
        return
    levels = [[c for c in rows[k] if c.end > value_left] for k in header]
    stub = [c.text for k in header for c in rows[k] if c.end <= value_left]
    names = _column_names(levels)
    period = [s for s in stub if _PERIOD.search(s)]
    names = [f"{period[0]} {name}" if period and not _PERIOD.search(name) else name for name in names]
    composed = "; ".join(" ".join(n.split()) for n in names)
    if not (_PERIOD.search(composed) and _DATE.search(composed)):
        return
    # The header lines are the last len(header) + skipped-label lines of ``out``; rebuild that tail.
    tail = [_joined(rows[k]) for k in range(header[0], first_row)]
    if out[len(out) - len(tail):] != tail:
        return   # a label line was joined into the first row: leave the header as it was
    del out[len(out) - len(tail):]
    other = [s for s in stub if s not in period]
    out.extend(([" ".join(other)] if other else []) + [composed]
               + [_joined(rows[k]) for k in range(header[-1] + 1, first_row)])


def _column_names(levels: list[list[Cell]]) -> list[str]:
    """Each column's name, left to right: a cell of the lowest header line after the cells above it, and
    upper cells over no lower one ("Percentage" over "Change" beside the years) a column of their own."""
    used: set[int] = set()
    columns = []
    for leaf in levels[-1]:
        owners = [_owner(level, leaf) for level in levels[:-1] if level]
        used.update(id(cell) for cell in owners)
        columns.append((leaf.center, " ".join([cell.text for cell in owners] + [leaf.text])))
    stacks: list[list[Cell]] = []
    for cell in (c for level in levels[:-1] for c in level if id(c) not in used):
        stack = next((s for s in stacks if s[-1].start <= cell.end and cell.start <= s[-1].end), None)
        if stack is None:
            stacks.append([cell])
        else:
            stack.append(cell)
    columns += [(stack[0].center, " ".join(c.text for c in stack)) for stack in stacks]
    return [name for _, name in sorted(columns, key=lambda column: column[0])]


def _owner(level: list[Cell], leaf: Cell) -> Cell:
    """The cell of an upper header line over ``leaf``: the one whose share of the line (split at the
    midpoints between cells) holds the leaf's middle."""
    ordered = sorted(level, key=lambda c: c.center)
    for left, right in zip(ordered, ordered[1:]):
        if leaf.center < (left.center + right.center) / 2:
            return left
    return ordered[-1]
