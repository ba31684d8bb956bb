"""BM25 at size: the posting arrays load memory-mapped, rankings are those of the arrays in memory,
and a damaged posting list is refused when a search touches it."""

import numpy as np
import pytest

from ragkit.errors import IndexDamaged
from ragkit.store.backends.bm25s import DATA_FILE, DIR_NAME, INDICES_FILE, BM25Index
from ragkit.store.documents import DIR_NAME as DOCUMENTS_DIR
from ragkit.store.documents import DocumentIndex, build_document_index

WORDS = ("cell protein gene mouse tumour receptor binding pathway signal growth immune response virus "
         "infection dose trial patient risk blood brain neuron memory sleep diet insulin").split()


def corpus(n: int = 3000, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(5, 40))) for _ in range(n)]


def test_loaded_arrays_are_memory_mapped_and_rank_exactly_as_built(tmp_path):
    texts = corpus()
    built = BM25Index()
    built.build(texts)
    built.save(tmp_path)
    loaded = BM25Index.load(tmp_path)
    assert isinstance(loaded.model.scores["data"], np.memmap) and isinstance(loaded.model.scores["indices"], np.memmap)
    rng = np.random.default_rng(1)
    for _ in range(100):
        query = " ".join(rng.choice(WORDS, size=rng.integers(1, 6)))
        assert np.array_equal(loaded.scores(query), built.scores(query))
        for a, b in zip(loaded.search(query, 50), built.search(query, 50)):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("array, value, what", [(INDICES_FILE, 10**6, "document numbers out of range"),
                                                (DATA_FILE, np.nan, "scores not finite")])
def test_a_damaged_posting_list_is_refused_when_a_search_touches_it(tmp_path, array, value, what):
    index = BM25Index()
    index.build(corpus(200))
    index.save(tmp_path)
    ids = index.model.vocab_dict
    term, other = "cell", "virus"
    path = tmp_path / DIR_NAME / array
    values = np.load(path)
    values[int(index.model.scores["indptr"][ids[term]])] = value   # the first posting of "cell"
    np.save(path, values, allow_pickle=False)
    loaded = BM25Index.load(tmp_path)           # the load checks only the O(vocabulary) structure
    assert loaded.term_scores([other]).any()    # a search that does not touch it works
    with pytest.raises(IndexDamaged, match=what):
        loaded.term_scores([term])


def test_damage_in_the_document_index_postings_names_its_own_folder(tmp_path):
    texts = corpus(50)
    build_document_index(texts, [str(i // 5) for i in range(50)], BM25Index().settings()).save(tmp_path)
    path = tmp_path / DOCUMENTS_DIR / DIR_NAME / DATA_FILE
    values = np.load(path)
    values[:] = np.nan
    np.save(path, values, allow_pickle=False)
    loaded = DocumentIndex.load(tmp_path)
    with pytest.raises(IndexDamaged) as caught:
        loaded.document_scores("cell")
    assert caught.value.file == f"{DOCUMENTS_DIR}/{DIR_NAME}/{DATA_FILE}"
