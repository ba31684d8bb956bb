"""Text helpers every stage shares: one line for messages, the one tokenizer, the one sentence splitter,
the one way untrusted text is escaped inside prompt delimiters, and the one way it is shown on a terminal.

The tokenizer is BM25's (lowercase word tokens, stopwords removed, Snowball-stemmed), so whatever
matches words against a question — sparse search, the extract chain, sentence-window expansion —
sees the same terms. bm25s is imported on first use: it is slow to import.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["escape_attribute", "escape_tags", "one_line", "printable", "split_sentences", "tokenize"]


def one_line(text: str, limit: int = 200) -> str:
    """``text`` on one line, whitespace collapsed, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- tokens


@lru_cache(maxsize=4)
def _stemmer(language: str | None):
    if not language:
        return None
    import Stemmer

    return Stemmer.Stemmer(language)


def tokenize(texts: list[str], stemmer: str | None = "english", stopwords: str | None = "en") -> list[list[str]]:
    """Each text as BM25 tokens: lowercase words, ``stopwords`` removed, ``stemmer``-stemmed."""
    import bm25s

    return bm25s.tokenize(texts, lower=True, stopwords=stopwords, stemmer=_stemmer(stemmer),
                          return_ids=False, show_progress=False)


# --------------------------------------------------------------------------- sentences

_LIST_ITEM = re.compile(r"(?:#{1,6}|[-*\u2022>]|\d+[.)])\s+")
_SENTENCE_BREAK = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[^a-z\s])")


def split_sentences(text: str, min_words: int = 1) -> list[str]:
    """Deterministic sentence split: paragraphs, headings and list items, then end punctuation.

    A blank line, a list item and the line after a heading each start a new piece; within a piece a
    sentence ends at ``.``, ``!`` or ``?`` followed by something that is not a lowercase letter.
    Sentences shorter than ``min_words`` words are left out.
    """
    pieces: list[str] = []
    lines: list[str] = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if lines and (not line or _LIST_ITEM.match(line) or lines[0].startswith("#")):
            pieces.append(" ".join(lines))
            lines = []
        if line:
            lines.append(line)
    if lines:
        pieces.append(" ".join(lines))
    out = []
    for piece in pieces:
        piece = _LIST_ITEM.sub("", piece, count=1) if _LIST_ITEM.match(piece) else piece
        out.extend(s.strip() for s in _SENTENCE_BREAK.split(piece) if s.strip() and len(s.split()) >= min_words)
    return out


# --------------------------------------------------------------------------- prompt delimiting


def escape_tags(text: str, tags: tuple[str, ...]) -> str:
    """``text`` with every opening or closing ``tags`` tag neutralised (its ``<`` escaped).

    Untrusted text (a chunk, a question, a model's earlier output) placed inside a delimited
    block of a prompt must not be able to close the block and speak outside it. The bare
    ``<tag`` is matched (no ``>`` needed), so ``</source`` split across odd whitespace is caught too.
    """
    pattern = re.compile(r"<(\s*/?\s*(?:%s)\b)" % "|".join(map(re.escape, tags)), re.I)
    return pattern.sub(r"&lt;\1", text)


def escape_attribute(value: str) -> str:
    """``value`` made safe inside a double-quoted attribute of a delimiter tag, on one line."""
    value = " ".join(value.split())
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


# --------------------------------------------------------------------------- terminal output

# What a terminal would obey rather than show: C0 controls and DEL (ESC starts clear-screen, window
# title and hyperlink sequences; CR and BS overwrite), C1 controls (0x9b is a one-byte CSI), Unicode
# line separators, bidirectional overrides (they reorder what is shown), and lone surrogates.
_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE_IN_TEXT = re.compile(f"[{_CONTROL}]")
_UNSAFE_IN_LINE = re.compile(f"[\t\n{_CONTROL}]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for the undecodable byte code - 0xDC00
        code -= 0xDC00
    return _NAMED.get(match.group()) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: object, *, one_line: bool = False) -> str:
    """``text`` safe to show on a terminal: every control character written as an escape (``\\x1b``,
    ``\\u202e``) instead of sent raw. Document text keeps its tabs and newlines; with ``one_line``
    (file names, queries, session names) they are escaped too, so a name cannot forge a line.

    Use it on all text from documents, file names, models and users before it reaches human
    output; ``--json`` output needs nothing (JSON escapes control characters itself).
    """
    return (_UNSAFE_IN_LINE if one_line else _UNSAFE_IN_TEXT).sub(_escaped, str(text))
