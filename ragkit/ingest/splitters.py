"""Splitters: documents in, chunks out, each chunk carrying a stable id and its character span.

Three kinds, chosen with ``splitter.kind``:

- ``recursive`` (default): LangChain's ``RecursiveCharacterTextSplitter`` (paragraphs, then
  lines, then sentences, then words).
- ``token``: windows of exactly ``chunk_size`` tiktoken tokens (encodings loaded offline).
- ``markdown``: splits at markdown headers first, and records the header path of each chunk
  in ``headers`` (for example ``"Guide > Hybrid retrieval"``).

Every chunk gets ``chunk_id`` (a hash of source, document, page, start offset and text:
stable across runs, different when the content or its position changes), ``chunk_index``,
``start`` and ``end`` (character offsets in the page or document text).

With ``splitter.context`` on, each chunk also records ``context``: a short line naming where it
is (the document's title, or else its file name; the markdown heading path; the PDF page, as
"p. 3"). The indexes see that line before the chunk's text (:func:`ragkit.text.context.indexed_text`);
the chunk's own text, and so its id, are unchanged.

Parent sections (``splitter.parent_size`` characters, no overlap) tile each document; every
chunk records the ``parent_id`` of the section it starts in, so parent-document retrieval can
search small chunks and hand the model their larger sections.
"""

from __future__ import annotations

import copy
import hashlib
import re
from pathlib import PurePosixPath
from typing import Callable, Iterable

from langchain_core.documents import Document
from langchain_text_splitters import Language, RecursiveCharacterTextSplitter, TextSplitter, TokenTextSplitter
from langchain_text_splitters.character import _split_text_with_regex

from ragkit.config import SplitterConfig
from ragkit.errors import ConfigError
from ragkit.ingest.pdf_tables import header_in_force
from ragkit.text.context import CONTEXT_KEY, TABLE_HEADER_KEY

_HEADER = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


class CohesiveRecursiveSplitter(RecursiveCharacterTextSplitter):
    """LangChain's recursive splitter, minus its orphan chunks.

    The stock splitter flushes the short pieces it has gathered whenever the next piece is
    too long, so a title or a header line followed by a long paragraph becomes a chunk of its
    own (on SciFact a third of all chunks were bare titles, and BM25 lost by it). Here short gathered pieces (under a quarter of a chunk) are carried into the long
    piece and split with it, so the header starts the next chunk instead. ``_split_text`` is LangChain's, with that one change.
    """

    def _split_text(self, text: str, separators: list[str]) -> list[str]:
        final_chunks: list[str] = []
        separator, new_separators = separators[-1], []
        for i, candidate in enumerate(separators):
            pattern = candidate if self._is_separator_regex else re.escape(candidate)
            if not candidate:
                separator = candidate
                break
            if re.search(pattern, text):
                separator, new_separators = candidate, separators[i + 1 :]
                break
        pattern = separator if self._is_separator_regex else re.escape(separator)
        splits = _split_text_with_regex(text, pattern, keep_separator=self._keep_separator)
        joiner = "" if self._keep_separator else separator
        small = self._chunk_size // 4
        good: list[str] = []
        for piece in splits:
            if self._length_function(piece) < self._chunk_size:
                good.append(piece)
                continue
            if good:
                gathered = joiner.join(good)
                if new_separators and self._length_function(gathered) < small:
                    piece = gathered + joiner + piece  # carry the short pieces into the long one
                else:
                    final_chunks.extend(self._merge_splits(good, joiner))
                good = []
            if not new_separators:
                final_chunks.append(piece)
            else:
                final_chunks.extend(self._split_text(piece, new_separators))
        if good:
            final_chunks.extend(self._merge_splits(good, joiner))
        return final_chunks


def wordpiece_length() -> Callable[[str], int]:
    """A text's length in the local embedder's word pieces (MiniLM's [CLS] and [SEP] not counted)."""
    from ragkit.embedders.local import LocalMiniLMEmbeddings

    count = LocalMiniLMEmbeddings().count_tokens
    specials = count([""])[0]
    return lambda text: count([text])[0] - specials


def make_splitter(cfg: SplitterConfig) -> TextSplitter:
    """Build the LangChain text splitter named by ``cfg.kind`` (lengths measured as ``cfg.length`` says)."""
    common = {"chunk_size": cfg.chunk_size, "chunk_overlap": cfg.chunk_overlap, "add_start_index": True}
    if cfg.length == "wordpieces":
        common["length_function"] = wordpiece_length()
    if cfg.kind == "recursive":
        return CohesiveRecursiveSplitter(**common)
    if cfg.kind == "token":
        from ragkit.text.tiktoken_offline import prepare_tiktoken_cache

        prepare_tiktoken_cache()
        # Exact token windows: the recursive splitter measured in tokens overshoots by a token
        # or two where pieces are joined, and a token budget is a hard limit.
        return TokenTextSplitter(encoding_name=cfg.encoding, **common)
    if cfg.kind == "markdown":
        return CohesiveRecursiveSplitter.from_language(Language.MARKDOWN, **common)
    raise ConfigError(f"unknown splitter.kind {cfg.kind!r}; choose recursive, token or markdown")


def chunk_id_for(source: str, doc_id: str, page: object, start: int, text: str) -> str:
    """A stable chunk id: the same content at the same place always gets the same id."""
    key = "\x1f".join([source, doc_id, str(page if page is not None else ""), str(start), text])
    # surrogatepass: a lone surrogate (a JSONL "\\ud800") must not crash the hash; valid text hashes as UTF-8.
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _header_path(text: str, offset: int) -> str:
    """The markdown headers in force at ``offset`` (deepest last), joined with ' > '."""
    stack: list[tuple[int, str]] = []
    for match in _HEADER.finditer(text):
        if match.start() > offset:
            break
        level = len(match.group(1))
        stack = [item for item in stack if item[0] < level] + [(level, match.group(2).strip())]
    return " > ".join(title for _, title in stack)


def context_line(meta: dict, text: str) -> str:
    """Where a chunk is, in one line: title (or file name), heading path, PDF page; parts joined by ' | '.

    The title is left out when the chunk already begins with it (a jsonl record's first chunk),
    and so is a heading path's first heading when it is the title.
    """
    title = " ".join(str(meta.get("title") or "").split())
    if not title and meta.get("doc_id") == meta.get("source"):  # a whole file: its name says what it is
        title = PurePosixPath(str(meta.get("source", ""))).stem
    headers = str(meta.get("headers") or "")
    parts = []
    if headers.startswith(title) and title:
        parts.append(headers)
    else:
        if title and not text.lstrip().startswith(title):
            parts.append(title)
        if headers:
            parts.append(headers)
    if meta.get("page") is not None:
        parts.append(f"p. {meta['page']}")
    return " | ".join(parts)


def _leave_room_for_context(splitter: TextSplitter, cfg: SplitterConfig, doc_meta: dict) -> TextSplitter:
    """With word-piece lengths and context lines, a splitter whose chunks leave room for the document's context.

    ``chunk_size`` word pieces is then the budget of what the embedder reads (context line and
    text), so the text gets what the line leaves; a heading path is not counted (it varies by chunk).
    """
    if not (cfg.context and cfg.length == "wordpieces"):
        return splitter
    line = context_line(doc_meta, "")
    if not line:
        return splitter
    fitted = copy.copy(splitter)
    fitted._chunk_size = max(cfg.chunk_size - splitter._length_function(line), cfg.chunk_size // 2, cfg.chunk_overlap + 1)
    return fitted


def split_documents(docs: Iterable[Document], cfg: SplitterConfig, splitter: TextSplitter | None = None) -> list[Document]:
    """Split documents into chunks with ``chunk_id``, ``chunk_index``, ``start`` and ``end`` metadata."""
    splitter = splitter or make_splitter(cfg)
    chunks: list[Document] = []
    for doc in docs:
        text = doc.page_content
        if not text.strip():
            continue
        base = dict(doc.metadata)
        is_markdown = cfg.kind == "markdown" or base.get("type") == "md"
        fitted = _leave_room_for_context(splitter, cfg, base)
        # add_start_index makes LangChain locate each chunk in the text, searching forward
        # from the previous one, so repeated passages get their own offsets.
        for index, piece in enumerate(fitted.create_documents([text], [base])):
            meta = piece.metadata
            start = int(meta.pop("start_index", -1))
            meta["chunk_index"] = index
            meta["start"] = start
            meta["end"] = start + len(piece.page_content) if start >= 0 else -1
            if is_markdown and start >= 0:
                path = _header_path(text, start)
                if path:
                    meta["headers"] = path
            if base.get("type") == "pdf" and start >= 0:
                # A chunk cut below a table's header keeps it, so its rows still know their periods.
                header = header_in_force(text, start)
                if header:
                    meta[TABLE_HEADER_KEY] = header
            if cfg.context:
                line = context_line(meta, piece.page_content)
                if line:
                    meta[CONTEXT_KEY] = line
            # The id is the text and its place: the context is derived from the same file, whose
            # chunks are always replaced together, so it need not be part of the id.
            meta["chunk_id"] = chunk_id_for(
                str(base.get("source", "")), str(base.get("doc_id", "")), base.get("page"), start, piece.page_content
            )
            chunks.append(piece)
    return chunks



def split_with_parents(docs: Iterable[Document], cfg: SplitterConfig, splitter: TextSplitter | None = None
                       ) -> tuple[list[Document], list[Document]]:
    """Chunks (each with ``parent_id`` when parents are on) and the parent sections they belong to."""
    splitter = splitter or make_splitter(cfg)
    if cfg.parent_size <= 0:
        return split_documents(docs, cfg, splitter), []
    parent_splitter = CohesiveRecursiveSplitter(chunk_size=cfg.parent_size, chunk_overlap=0, add_start_index=True)
    chunks: list[Document] = []
    parents: list[Document] = []
    for doc in docs:
        doc_chunks = split_documents([doc], cfg, splitter)
        if not doc_chunks:
            continue
        base = dict(doc.metadata)
        sections = []
        for piece in parent_splitter.create_documents([doc.page_content], [base]):
            start = int(piece.metadata.pop("start_index", -1))
            piece.metadata.update(start=start, end=start + len(piece.page_content) if start >= 0 else -1)
            piece.metadata["parent_id"] = "p" + chunk_id_for(
                str(base.get("source", "")), str(base.get("doc_id", "")), base.get("page"), start, piece.page_content
            )[1:]
            sections.append(piece)
        for chunk in doc_chunks:
            chunk.metadata["parent_id"] = _containing(sections, chunk).metadata["parent_id"]
        chunks.extend(doc_chunks)
        parents.extend(sections)
    return chunks, parents


def _containing(sections: list[Document], chunk: Document) -> Document:
    """The section a chunk starts in (the last section starting at or before it)."""
    start = chunk.metadata.get("start", -1)
    if start < 0:  # offset unknown: find the section that holds the beginning of its text
        head = chunk.page_content[:80]
        return next((s for s in sections if head in s.page_content), sections[0])
    best = sections[0]
    for section in sections:
        if 0 <= section.metadata["start"] <= start:
            best = section
    return best
