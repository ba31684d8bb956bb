"""Page furniture out of PDF text: running headers and footers, page numbers, stray ids, line numbers.

A PDF page's text starts and ends with what the layout repeats on every page — "General Services
Administration / Page 3 / Strategic Plan", "Apple Inc. | Q3 2023 Form 10-Q | 12", "Table of
Contents" — and export tools leave ids such as ``_4ef1c994-cf53-4e47-af79-52d26e19f5a5`` in the
text. Indexed, they match every query a little and open quotes with noise. A line near the top or
bottom of a page is furniture when, with its digits masked, it recurs at the edge of enough pages
of the same document, or when it is only a page number. Draft papers number their lines: a page
whose lines mostly end in consecutive numbers loses them.

What is dropped is kept: :func:`clean_pages` returns, per page, the running header/footer lines
and the page label, which the loader stores as metadata. Pure functions on strings; this module
is imported by the PDF worker processes, so it imports nothing heavy.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

EDGE_LINES = 3
"""How many lines at the top and at the bottom of a page are looked at for furniture."""
MIN_SHARE = 0.4
"""A masked edge line repeated on at least this share of a document's pages is furniture..."""
MIN_PAGES = 3
"""...and on at least this many pages (a two-page file has no running header to speak of)."""

_UUID = re.compile(r"(?<![0-9a-z])_?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9a-f])", re.I)
_PAGE_NUMBER = re.compile(r"(?:page\s+)?[-–(\[]?\s*\d{1,4}\s*[-–)\]]?(?:\s+of\s+\d{1,4})?", re.I)
_TRAILING_NUMBER = re.compile(r"^(.*?[^\d\s])(\d{1,4})$")   # glued on: "represen-6", "Summary5"


@dataclass
class CleanPage:
    """One page's text without furniture, and what was taken out of it."""

    text: str
    furniture: list[str] = field(default_factory=list)   # running header/footer lines, as they were
    page_label: str | None = None                        # "Page 3 of 41", "12", "-5-" when the page had one
    removed_ids: int = 0


def _mask(line: str) -> str:
    """The line as a repetition key: whitespace collapsed, every digit run one ``#``."""
    return re.sub(r"\d+", "#", " ".join(line.split())).lower()


def _is_page_number(line: str) -> bool:
    return bool(_PAGE_NUMBER.fullmatch(" ".join(line.split())))


def _edges(lines: list[str]) -> list[int]:
    """Indexes of the non-blank lines within EDGE_LINES of either end of the page."""
    filled = [i for i, line in enumerate(lines) if line.strip()]
    return sorted(set(filled[:EDGE_LINES] + filled[-EDGE_LINES:]))


def running_lines(pages: list[str]) -> set[str]:
    """The masked edge lines that recur on at least MIN_SHARE of ``pages`` (and MIN_PAGES of them)."""
    counts: Counter[str] = Counter()
    for text in pages:
        lines = text.splitlines()
        counts.update({_mask(lines[i]) for i in _edges(lines)})
    need = max(MIN_PAGES, MIN_SHARE * len(pages))
    return {key for key, n in counts.items() if n >= need and key.strip("# ")}


def strip_line_numbers(lines: list[str]) -> list[str]:
    """``lines`` without trailing line numbers, when most of them end in consecutive numbers (draft papers)."""
    ends = [_TRAILING_NUMBER.match(line.rstrip()) for line in lines]
    numbers = [int(m.group(2)) if m else None for m in ends]
    steps = sum(1 for a, b in zip(numbers, numbers[1:]) if a is not None and b == a + 1)
    if len(lines) < 5 or steps < 0.4 * len(lines):
        return lines
    out = []
    for i, (line, m) in enumerate(zip(lines, ends)):
        # Only a number that continues or leads the sequence is a line number; "2019" in a sentence is not.
        numbered = m is not None and ((i > 0 and numbers[i - 1] is not None and numbers[i] == numbers[i - 1] + 1)
                                      or (i + 1 < len(lines) and numbers[i + 1] == (numbers[i] or 0) + 1))
        out.append(m.group(1).rstrip() if numbered else line)
    return out


def clean_page(text: str, running: set[str]) -> CleanPage:
    """``text`` without the ``running`` lines and a page number at its edges, and without line numbers."""
    lines = text.splitlines()
    page = CleanPage("")
    drop: set[int] = set()
    for i in _edges(lines):
        if _mask(lines[i]) in running:
            drop.add(i)
            digits = re.search(r"\d", lines[i])
            if digits and re.fullmatch(r"(?:page\s+)?\d+(?:\s+of\s+\d+)?\b.*", lines[i].strip(), re.I):
                page.page_label = " ".join(lines[i].split())
            else:
                page.furniture.append(" ".join(lines[i].split()))
        elif _is_page_number(lines[i]):
            drop.add(i)
            page.page_label = " ".join(lines[i].split())
    kept = strip_line_numbers([line for i, line in enumerate(lines) if i not in drop])
    page.text = re.sub(r"\n{3,}", "\n\n", "\n".join(line.rstrip() for line in kept)).strip()
    return page


def strip_ids(text: str) -> tuple[str, int]:
    """``text`` without exporter ids (``_4ef1c994-cf53-…``: a UUID, glued to text or on its own line), and how many."""
    found = len(_UUID.findall(text))
    text = _UUID.sub("", text)
    # A line that held only an id goes with it, so it cannot hide a header from the edge scan.
    return ("\n".join(line for line in text.splitlines() if line.strip()) if found else text), found


def clean_pages(pages: list[tuple[int, str]]) -> list[tuple[int, CleanPage]]:
    """Every page of one document cleaned; repetition is judged across the document's pages.

    Pages left with no text are dropped, as the loader drops pages with no text.
    """
    stripped = [(number, *strip_ids(text)) for number, text in pages]
    running = running_lines([text for _, text, _ in stripped])
    cleaned = []
    for number, text, ids in stripped:
        page = clean_page(text, running)
        page.removed_ids = ids
        cleaned.append((number, page))
    return [(number, page) for number, page in cleaned if page.text]
