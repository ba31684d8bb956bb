"""Search: modes, filters on both sides before fusion, embedder refusal, batch queries."""

import dataclasses

import pytest

from ragkit.config import DEFAULT_FUSION_WEIGHTS, config_from_dict
from ragkit.errors import EmbedderMismatch, IndexMissing, SearchError
from ragkit.ingest.pipeline import ingest
from ragkit.retrieval.fusion import length_weights, reciprocal_rank_fusion
from ragkit.retrieval.search import Searcher, parse_filters


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_each_mode_finds_the_obvious_document(searcher, mode):
    results = searcher.search("Jupiter largest planet", mode=mode, k=3)
    assert results[0].source == "space/planets.txt"
    assert [r.rank for r in results] == list(range(1, len(results) + 1))
    assert all(results[i].score >= results[i + 1].score for i in range(len(results) - 1))


def test_hybrid_is_the_rrf_of_dense_and_sparse(searcher):
    query = "dog training commands"
    dense = [r.chunk_id for r in searcher.search(query, mode="dense", k=100)]
    sparse = [r.chunk_id for r in searcher.search(query, mode="sparse", k=100)]
    expected = [key for key, _ in reciprocal_rank_fusion([dense, sparse], [1.0, 1.0], k=60)][:5]
    assert [r.chunk_id for r in searcher.search(query, mode="hybrid", k=5)] == expected


def test_fusion_weights_come_from_config(docs, tmp_path, fast_cfg):
    ingest(docs, tmp_path / "idx", fast_cfg)
    only_sparse = dataclasses.replace(fast_cfg, search=dataclasses.replace(fast_cfg.search, weights={"dense": 0.0, "sparse": 1.0}))
    s = Searcher(tmp_path / "idx", only_sparse)
    query = "yellow dwarf star"
    sparse = [r.chunk_id for r in s.search(query, mode="sparse", k=3)]
    assert [r.chunk_id for r in s.search(query, mode="hybrid", k=len(sparse))] == sparse
    s.close()


def test_a_weight_not_given_keeps_its_default(docs, tmp_path, fast_cfg):
    ingest(docs, tmp_path / "idx", fast_cfg)
    dense_only_given = dataclasses.replace(fast_cfg, search=dataclasses.replace(fast_cfg.search, weights={"dense": 2.0}))
    s = Searcher(tmp_path / "idx", dense_only_given)
    assert s.fusion_weights("any query") == {"dense": 2.0, "sparse": DEFAULT_FUSION_WEIGHTS["sparse"]}
    s.close()


@pytest.mark.parametrize("mode", ["dense", "sparse", "hybrid"])
def test_filters_apply_before_ranking(searcher, mode):
    results = searcher.search("Jupiter largest planet", mode=mode, k=5, filters={"source": "space/*"})
    assert results and all(r.source.startswith("space/") for r in results)
    only_cats = searcher.search("Jupiter largest planet", mode=mode, k=5, filters={"source": "cats.txt"})
    assert all(r.source == "cats.txt" for r in only_cats)
    assert searcher.search("Jupiter", mode=mode, k=5, filters={"source": "nothing-matches"}) == []


def test_html_title_metadata_is_filterable_and_script_text_not_indexed(searcher):
    results = searcher.search("Betelgeuse", mode="sparse", k=5, filters={"title": "Stars"})
    assert results and results[0].source == "space/stars.html"
    assert searcher.search("hiddenScriptWord", mode="sparse", k=5) == []


def test_search_many_equals_single_searches(searcher):
    queries = ["cats and mice", "saturn rings", "loyal dogs"]
    batch = searcher.search_many(queries, mode="hybrid", k=3)
    assert [[r.chunk_id for r in rs] for rs in batch] == [[r.chunk_id for r in searcher.search(q, mode="hybrid", k=3)] for q in queries]


@pytest.mark.parametrize("kwargs, message", [
    ({"query": "   "}, "empty"), ({"query": "x", "mode": "fuzzy"}, "mode"), ({"query": "x", "k": 0}, "k must"),
])
def test_bad_queries_are_refused_clearly(searcher, kwargs, message):
    with pytest.raises(SearchError, match=message):
        searcher.search(**kwargs)


def test_filter_parsing():
    assert parse_filters(["source=a.md", "page = 2"]) == {"source": "a.md", "page": "2"}
    with pytest.raises(SearchError, match="KEY=VALUE"):
        parse_filters(["nonsense"])


def test_querying_with_another_embedder_is_refused(docs, tmp_path, fast_cfg):
    ingest(docs, tmp_path / "idx", fast_cfg)
    other = config_from_dict({"embedder": {"kind": "hash", "dimension": 128}})
    s = Searcher(tmp_path / "idx", other)
    with pytest.raises(EmbedderMismatch, match="built with embedder hash:256"):
        s.search("cats", mode="dense")
    assert s.search("cats", mode="sparse")  # BM25 needs no embedder
    s.close()


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexMissing, match="ragkit ingest"):
        Searcher(tmp_path / "nowhere")


def test_document_fusion_credits_a_document_found_through_different_chunks(tmp_path, fast_cfg):
    from conftest import write_docs

    folder = write_docs(tmp_path / "d", {"a.txt": "alpha " * 60 + "\n\n" + "omega " * 60, "b.txt": "beta gamma",
                                         "c.txt": "delta"})
    ingest(folder, tmp_path / "idx", fast_cfg)
    rrf = dataclasses.replace(fast_cfg.search, fusion="rrf", weights={"dense": 1.0, "sparse": 1.0})
    fast_cfg = dataclasses.replace(fast_cfg, search=rrf)
    s = Searcher(tmp_path / "idx", fast_cfg)
    rows = {c.source + str(c.metadata["chunk_index"]): c.row for c in s.index.docstore.iter_chunks()}
    a0, a1, b, c = rows["a.txt0"], rows["a.txt1"], rows["b.txt0"], rows["c.txt0"]
    dense, sparse = [a0, b, c], [a1, b, c]
    # Chunk RRF puts b first (2nd in both lists beats 1st in one); by document, a was 1st in both.
    by_chunk = reciprocal_rank_fusion([dense, sparse], [1.0, 1.0])
    assert by_chunk[0][0] == b
    fused = s.fuse(dense, sparse)
    # a's best chunk carries a's document score (1st in both lists); its other chunk keeps its
    # own chunk score (1/61), below the document scores of b (2/62) and c (2/63).
    assert [row for row, _ in fused] in ([a0, b, c, a1], [a1, b, c, a0])
    assert fused[0][1] == pytest.approx(2 / 61) and fused[1][1] == pytest.approx(2 / 62)
    chunk_cfg = dataclasses.replace(fast_cfg, search=dataclasses.replace(fast_cfg.search, fusion_unit="chunk"))
    assert Searcher(tmp_path / "idx", chunk_cfg).fuse(dense, sparse) == by_chunk
    s.close()


def test_convex_fusion_is_selectable(searcher, fast_cfg, tmp_path):
    convex = dataclasses.replace(fast_cfg, search=dataclasses.replace(fast_cfg.search, fusion="convex"))
    s = Searcher(searcher.index.path, convex)
    results = s.search("Jupiter largest planet", mode="hybrid", k=3)
    assert results[0].source == "space/planets.txt" and 0 < results[0].score <= 1.0
    s.close()


def test_hybrid_with_a_side_that_finds_nothing_is_the_other_side(searcher):
    # a made-up word: BM25 has no match at all, so hybrid must be exactly the dense ranking
    query = "zqxvbnm"
    assert searcher.search(query, mode="sparse", k=5) == []
    dense = [r.chunk_id for r in searcher.search(query, mode="dense", k=5)]
    assert [r.chunk_id for r in searcher.search(query, mode="hybrid", k=5)] == dense


@pytest.mark.parametrize("normalization", ["minmax", "max", "zscore"])
def test_convex_normalisation_is_selectable_and_shown(searcher, fast_cfg, normalization):
    search = dataclasses.replace(fast_cfg.search, fusion="convex", normalization=normalization,
                                 weights={"dense": 0.6, "sparse": 0.4})
    s = Searcher(searcher.index.path, dataclasses.replace(fast_cfg, search=search))
    assert s.search("Jupiter largest planet", mode="hybrid", k=3)[0].source == "space/planets.txt"
    assert s.fusion_summary() == f"convex ({normalization}), weights dense 0.6, sparse 0.4, by document"
    s.close()


def test_trace_labels_each_hybrid_query_with_its_fusion_weights(searcher):
    from ragkit.retrieval.pipeline import retrieve
    from ragkit.retrieval.transforms import QueryPlan

    _, trace = retrieve(searcher, QueryPlan(strategy="none", question="Jupiter largest planet", queries=["Jupiter largest planet"]), "hybrid", 5)
    labels = [entry["query"] for entry in trace]
    assert labels[:2] == ["dense: Jupiter largest planet", "sparse: Jupiter largest planet"]
    assert labels[2] == ("hybrid: Jupiter largest planet (fused by convex (max), weights dense 0.7, sparse 0.3 "
                         "(by query length), by document)")


def test_by_default_short_queries_lean_dense_and_long_questions_lean_sparse(searcher):
    short, long = "Jupiter", ("Which of the planets that orbit the yellow dwarf star is the largest gas giant "
                              "with a great red storm, faint rings and dozens of moons circling it since ancient times?")
    assert searcher.fusion_weights(short) == {"dense": 0.7, "sparse": 0.3}
    assert searcher.fusion_weights(long) == {"dense": 0.2, "sparse": 0.8}   # 20 distinct terms
    middle = length_weights("one two three four five six seven eight nine ten eleven twelve thirteen fourteen")
    assert middle == {"dense": pytest.approx(0.45), "sparse": pytest.approx(0.55)}   # 14 distinct terms: half-way
    assert length_weights("the of and") == {"dense": 0.7, "sparse": 0.3}   # no terms: the short end


def test_results_show_the_context_line_apart_from_the_text(tmp_path, fast_cfg):
    from typer.testing import CliRunner

    from ragkit.cli import app

    from conftest import write_docs

    folder = write_docs(tmp_path / "docs", {"obedience-training.txt": "A dog learns commands through rewards."})
    ingest(folder, tmp_path / "idx", fast_cfg)
    hit = Searcher(tmp_path / "idx", fast_cfg).search("dog commands", k=1)[0]
    assert "obedience-training" in hit.to_json()["context"]  # a whole file: its name stands for a title
    assert hit.to_json()["text"] == hit.text == "A dog learns commands through rewards."  # the text stays its own
    config = tmp_path / "fast.yaml"
    config.write_text("embedder: {kind: hash}\nsplitter: {chunk_size: 300, chunk_overlap: 30}\n", encoding="utf-8")
    shown = CliRunner().invoke(app, ["search", "dog commands", "--index", str(tmp_path / "idx"), "-c", str(config)]).stdout
    assert shown.count("obedience-training") == 2 and "A dog learns commands" in shown  # the source, and the context line
