"""Parent-document and sentence-window expansion over a real (hash-embedded) index."""

import dataclasses

import pytest

from ragkit.errors import SearchError
from ragkit.ingest.pipeline import ingest
from ragkit.retrieval.expansion import expand
from ragkit.retrieval.search import Searcher
from ragkit.text import split_sentences

from conftest import write_docs

LONG = " ".join(f"Sentence number {i} talks about topic {'zebras' if i == 42 else 'weather'}." for i in range(80))


@pytest.fixture
def searcher(tmp_path, fast_cfg):
    cfg = dataclasses.replace(fast_cfg, splitter=dataclasses.replace(fast_cfg.splitter, chunk_size=200,
                                                                      chunk_overlap=0, parent_size=1200))
    folder = write_docs(tmp_path / "docs", {"long.txt": LONG, "other.txt": "Cats sleep. Dogs bark."})
    ingest(folder, tmp_path / "idx", cfg)
    s = Searcher(tmp_path / "idx", cfg)
    yield s
    s.close()


def test_parents_survive_restart_and_contain_their_children(searcher, tmp_path, fast_cfg):
    results = searcher.search("zebras", mode="sparse", k=3)
    expanded, notes = expand(results, "parent", searcher.index.docstore)
    assert notes == []
    top = expanded[0]
    assert top.metadata["expanded"] == "parent" and results[0].text in top.text
    assert len(top.text) > len(results[0].text) and len(top.text) <= 1200
    assert top.chunk_id == results[0].chunk_id  # citations still point at the retrieved chunk
    # Children sharing a parent collapse into one entry; ranks stay 1..n.
    many = searcher.search("weather topic sentence", mode="sparse", k=10)
    collapsed, _ = expand(many, "parent", searcher.index.docstore)
    assert len({r.metadata["parent_id"] for r in collapsed}) == len(collapsed) < len(many)
    assert [r.rank for r in collapsed] == list(range(1, len(collapsed) + 1))


def test_window_centres_on_the_matching_sentence(searcher):
    results = searcher.search("zebras", mode="sparse", k=1)
    expanded, _ = expand(results, "window", searcher.index.docstore, question="zebras", window=1)
    sentences = split_sentences(expanded[0].text)
    assert len(sentences) == 3 and "zebras" in sentences[1]


def test_unknown_expansion():
    with pytest.raises(SearchError, match="parent"):
        expand([], "grandparent", None)


def test_index_without_parents_falls_back_with_a_note(tmp_path, fast_cfg):
    cfg = dataclasses.replace(fast_cfg, splitter=dataclasses.replace(fast_cfg.splitter, parent_size=0))
    folder = write_docs(tmp_path / "docs", {"a.txt": "Zebras run. Lions hunt."})
    ingest(folder, tmp_path / "idx", cfg)
    s = Searcher(tmp_path / "idx", cfg)
    results = s.search("zebras", mode="sparse", k=1)
    expanded, notes = expand(results, "parent", s.index.docstore)
    assert expanded == results and "no parent sections" in notes[0]
    s.close()


def test_sentence_split():
    assert split_sentences("One. Two! Three? four.\n\nFive") == ["One.", "Two!", "Three? four.", "Five"]
