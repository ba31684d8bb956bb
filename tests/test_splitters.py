"""Splitters: spans point at the chunk text, ids are stable, each kind works offline."""

from langchain_core.documents import Document

from ragkit.config import SplitterConfig
from ragkit.ingest.splitters import split_documents

TEXT = ("Retrieval finds passages. " * 30 + "\n\n") * 4


def _doc(text=TEXT, **meta):
    return Document(page_content=text, metadata={"source": "a.txt", "doc_id": "a.txt", **meta})


def test_recursive_spans_point_at_chunk_text():
    chunks = split_documents([_doc()], SplitterConfig(chunk_size=200, chunk_overlap=20))
    assert len(chunks) > 3
    for c in chunks:
        assert TEXT[c.metadata["start"] : c.metadata["end"]] == c.page_content
        assert len(c.page_content) <= 200
    assert [c.metadata["chunk_index"] for c in chunks] == list(range(len(chunks)))
    # Repeated text: offsets must advance, not all point at the first copy.
    starts = [c.metadata["start"] for c in chunks]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)


def test_chunk_ids_are_stable_and_depend_on_content_and_position():
    cfg = SplitterConfig(chunk_size=200, chunk_overlap=20)
    first = [c.metadata["chunk_id"] for c in split_documents([_doc()], cfg)]
    again = [c.metadata["chunk_id"] for c in split_documents([_doc()], cfg)]
    assert first == again and len(set(first)) == len(first)
    other_source = split_documents([Document(page_content=TEXT, metadata={"source": "b.txt", "doc_id": "b.txt"})], cfg)
    assert not set(first) & {c.metadata["chunk_id"] for c in other_source}
    other_page = split_documents([_doc(page=2)], cfg)
    assert not set(first) & {c.metadata["chunk_id"] for c in other_page}


def test_metadata_is_carried_to_every_chunk():
    chunks = split_documents([_doc(page=3, title="T")], SplitterConfig(chunk_size=300, chunk_overlap=0))
    assert all(c.metadata["page"] == 3 and c.metadata["title"] == "T" and c.metadata["source"] == "a.txt" for c in chunks)


def test_token_splitter_counts_tokens_offline():
    from ragkit.text.tiktoken_offline import get_encoding

    chunks = split_documents([_doc()], SplitterConfig(kind="token", chunk_size=50, chunk_overlap=5))
    encoding = get_encoding("cl100k_base")
    assert len(chunks) > 5
    assert all(len(encoding.encode(c.page_content)) <= 50 for c in chunks)


def test_markdown_splitter_records_header_path():
    text = "# Guide\n\nIntro text here.\n\n## Hybrid retrieval\n\n" + "Fusion merges lists. " * 20 + "\n\n## BM25\n\nTerm weights."
    chunks = split_documents([_doc(text)], SplitterConfig(kind="markdown", chunk_size=200, chunk_overlap=0))
    by_text = {c.page_content: c.metadata.get("headers") for c in chunks}
    assert any(h == "Guide > Hybrid retrieval" for h in by_text.values())
    bm25 = [c for c in chunks if "Term weights" in c.page_content][0]
    assert bm25.metadata["headers"] == "Guide > BM25"


def test_blank_documents_give_no_chunks():
    assert split_documents([_doc("   \n\n ")], SplitterConfig()) == []


def test_a_short_header_is_not_left_as_a_chunk_of_its_own():
    """LangChain's splitter flushes 'Title' alone before a long paragraph; ours keeps it with the text."""
    text = "A short title\n\n" + "Long paragraph words " * 80
    chunks = split_documents([_doc(text)], SplitterConfig(chunk_size=300, chunk_overlap=30))
    assert chunks[0].page_content.startswith("A short title\n\nLong paragraph")
    assert all(len(c.page_content) <= 300 for c in chunks)
    assert all(text[c.metadata["start"]:c.metadata["end"]] == c.page_content for c in chunks)
