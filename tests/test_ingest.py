"""Ingest: incremental by content hash, every index kept in step, bad input contained."""

import json
import os

import numpy as np
import pytest

from ragkit.errors import EXIT_PARTIAL, FolderError, IndexLocked
from ragkit.ingest.pipeline import ingest
from ragkit.retrieval.search import Searcher
from ragkit.store.generations import WriterLock, current_generation
from ragkit.store.index import open_index
from ragkit.store.manifest import read_manifest
from ragkit.text.context import indexed_text

from conftest import have_local_model, write_docs


def _sources(index_dir):
    loaded = open_index(index_dir)
    try:
        return {c.source for c in loaded.docstore.iter_chunks()}, loaded
    finally:
        loaded.close()


def _consistent(index_dir):
    """Docstore, dense and sparse indexes all have one row per chunk."""
    loaded = open_index(index_dir)
    try:
        n = loaded.docstore.count()
        assert loaded.dense.size == n == loaded.sparse.size == loaded.manifest["chunks"]
        rows = [c.row for c in loaded.docstore.iter_chunks()]
        assert rows == list(range(n))
        return n
    finally:
        loaded.close()


def test_first_ingest_indexes_every_format(docs, tmp_path, fast_cfg):
    report = ingest(docs, tmp_path / "idx", fast_cfg)
    assert report.counts() == {"added": 4, "updated": 0, "unchanged": 0, "removed": 0, "failed": 0}
    assert report.exit_code == 0
    sources, _ = _sources(tmp_path / "idx")
    assert sources == {"cats.txt", "dogs.md", "space/planets.txt", "space/stars.html"}
    assert _consistent(tmp_path / "idx") == report.chunks_total > 0
    manifest = read_manifest(current_generation(tmp_path / "idx"))
    assert manifest["embedder"] == {"id": "hash:256", "dimension": 256}
    assert manifest["dense"]["backend"] == "faiss" and manifest["sparse"]["backend"] == "bm25s"
    assert set(manifest["files"]) == sources
    assert all(len(f["sha256"]) == 64 and f["chunk_ids"] for f in manifest["files"].values())


def test_every_chunk_has_the_promised_metadata(docs, tmp_path, fast_cfg):
    ingest(docs, tmp_path / "idx", fast_cfg)
    loaded = open_index(tmp_path / "idx")
    for chunk in loaded.docstore.iter_chunks():
        meta = chunk.metadata
        assert {"chunk_id", "doc_id", "source", "start", "end"} <= set(meta)
        assert meta["end"] - meta["start"] == len(chunk.text)
    loaded.close()


def test_unchanged_folder_embeds_nothing_and_writes_no_generation(docs, tmp_path, fast_cfg):
    ingest(docs, tmp_path / "idx", fast_cfg)
    generation = current_generation(tmp_path / "idx")
    again = ingest(docs, tmp_path / "idx", fast_cfg)
    assert again.counts() == {"added": 0, "updated": 0, "unchanged": 4, "removed": 0, "failed": 0}
    assert again.chunks_embedded == 0
    assert current_generation(tmp_path / "idx") == generation


def test_touched_but_identical_file_is_unchanged(docs, tmp_path, fast_cfg):
    ingest(docs, tmp_path / "idx", fast_cfg)
    os.utime(docs / "cats.txt", (1, 1))  # mtime moves, content does not
    again = ingest(docs, tmp_path / "idx", fast_cfg)
    assert again.counts()["unchanged"] == 4 and again.chunks_embedded == 0


def test_changed_file_replaces_its_chunks_everywhere(docs, tmp_path, fast_cfg):
    index_dir = tmp_path / "idx"
    ingest(docs, index_dir, fast_cfg)
    (docs / "cats.txt").write_text("Cats now write poetry about zebras.", encoding="utf-8")
    report = ingest(docs, index_dir, fast_cfg)
    assert report.counts() == {"added": 0, "updated": 1, "unchanged": 3, "removed": 0, "failed": 0}
    assert report.chunks_embedded == 1
    _consistent(index_dir)
    searcher = Searcher(index_dir, fast_cfg)
    for mode in ("dense", "sparse", "hybrid"):
        top = searcher.search("zebras poetry", mode=mode, k=1)[0]
        assert top.source == "cats.txt" and "zebras" in top.text
        assert not any("mice" in r.text for r in searcher.search("mice hunts", mode=mode, k=10))
    searcher.close()


def test_deleted_file_leaves_every_index(docs, tmp_path, fast_cfg):
    index_dir = tmp_path / "idx"
    ingest(docs, index_dir, fast_cfg)
    (docs / "space" / "planets.txt").unlink()
    report = ingest(docs, index_dir, fast_cfg)
    assert report.counts() == {"added": 0, "updated": 0, "unchanged": 3, "removed": 1, "failed": 0}
    sources, _ = _sources(index_dir)
    assert "space/planets.txt" not in sources
    _consistent(index_dir)
    searcher = Searcher(index_dir, fast_cfg)
    assert all(r.source != "space/planets.txt" for mode in ("dense", "sparse")
               for r in searcher.search("Jupiter planet rings", mode=mode, k=10))
    assert "space/planets.txt" not in read_manifest(current_generation(index_dir))["files"]
    searcher.close()


def test_kept_vectors_are_the_original_vectors(docs, tmp_path, fast_cfg):
    """Carrying unchanged chunks into a new generation must keep each vector with its chunk."""
    index_dir = tmp_path / "idx"
    ingest(docs, index_dir, fast_cfg)
    (docs / "aardvark.txt").write_text("Aardvarks dig burrows.", encoding="utf-8")
    (docs / "cats.txt").unlink()
    ingest(docs, index_dir, fast_cfg)
    loaded = open_index(index_dir)
    from ragkit.embedders import HashEmbeddings
    from ragkit.text.context import indexed_text

    chunks = list(loaded.docstore.iter_chunks())
    expected = HashEmbeddings(256).embed_array([indexed_text(c.text, c.metadata) for c in chunks])
    assert np.allclose(loaded.dense.vectors(), expected, atol=1e-6)
    loaded.close()


def test_rebuild_reembeds_everything(docs, tmp_path, fast_cfg):
    first = ingest(docs, tmp_path / "idx", fast_cfg)
    again = ingest(docs, tmp_path / "idx", fast_cfg, rebuild=True)
    assert again.chunks_embedded == first.chunks_embedded and again.rebuilt
    assert again.counts()["added"] == 4


def test_changed_splitter_settings_trigger_a_full_rebuild(docs, tmp_path, fast_cfg):
    import dataclasses

    ingest(docs, tmp_path / "idx", fast_cfg)
    smaller = dataclasses.replace(fast_cfg, splitter=dataclasses.replace(fast_cfg.splitter, chunk_size=100, chunk_overlap=10))
    report = ingest(docs, tmp_path / "idx", smaller)
    assert report.rebuilt and report.notes and "splitter" in report.notes[0]
    _consistent(tmp_path / "idx")


def test_pdf_extraction_settings_rebuild_only_an_index_that_holds_a_pdf(docs, tmp_path, fast_cfg):
    import dataclasses

    from test_loaders import make_pdf

    ingest(docs, tmp_path / "idx", fast_cfg)
    no_tables = dataclasses.replace(fast_cfg, loader=dataclasses.replace(fast_cfg.loader, pdf_tables=False))
    report = ingest(docs, tmp_path / "idx", no_tables)   # text files only: their text does not change
    assert not report.rebuilt and report.chunks_embedded == 0 and report.counts()["unchanged"] == 4
    (docs / "report.pdf").write_bytes(make_pdf(["Jupiter is the largest planet."]))
    ingest(docs, tmp_path / "idx", no_tables)
    report = ingest(docs, tmp_path / "idx", fast_cfg)   # with a PDF, its text may change: everything again
    assert report.rebuilt and "splitter" in report.notes[0]
    _consistent(tmp_path / "idx")


def test_bad_files_fail_alone_with_a_reason(docs, tmp_path, fast_cfg):
    (docs / "junk.txt").write_bytes(b"\x00\x01\x02binary\x00junk" * 10)
    (docs / "latin.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog")
    (docs / "empty.md").write_bytes(b"")
    (docs / "notes.docx").write_bytes(b"PK\x03\x04")
    report = ingest(docs, tmp_path / "idx", fast_cfg)
    failed = {f["source"]: f["reason"] for f in report.failed}
    assert set(failed) == {"junk.txt", "latin.txt", "broken.pdf"}
    assert all(reason and "\n" not in reason for reason in failed.values())
    assert "UTF-8" in failed["latin.txt"]
    skipped = {s["source"] for s in report.skipped}
    assert {"empty.md", "notes.docx"} <= skipped
    assert report.counts()["added"] == 4 and report.exit_code == EXIT_PARTIAL
    _consistent(tmp_path / "idx")


def test_a_file_that_turns_bad_keeps_its_previous_version(docs, tmp_path, fast_cfg):
    index_dir = tmp_path / "idx"
    ingest(docs, index_dir, fast_cfg)
    (docs / "cats.txt").write_bytes(b"\x00\x01garbage\x00")
    report = ingest(docs, index_dir, fast_cfg)
    assert report.failed[0]["source"] == "cats.txt" and report.failed[0]["kept_previous"]
    sources, _ = _sources(index_dir)
    assert "cats.txt" in sources
    # Fixed later: picked up again because the recorded hash is still the old one.
    (docs / "cats.txt").write_text("Cats are back.", encoding="utf-8")
    assert ingest(docs, index_dir, fast_cfg).counts()["updated"] == 1


@pytest.mark.parametrize("setup, message", [
    (lambda p: p, "No such folder"),
    (lambda p: (p.write_text("x"), p)[1], "is a file"),
])
def test_unusable_folder_is_a_clear_error(tmp_path, fast_cfg, setup, message):
    target = setup(tmp_path / "thing")
    with pytest.raises(FolderError, match=message):
        ingest(target, tmp_path / "idx", fast_cfg)
    assert current_generation(tmp_path / "idx") is None


def test_empty_folder_gives_an_empty_but_valid_index(tmp_path, fast_cfg):
    (tmp_path / "empty").mkdir()
    report = ingest(tmp_path / "empty", tmp_path / "idx", fast_cfg)
    assert report.counts() == {"added": 0, "updated": 0, "unchanged": 0, "removed": 0, "failed": 0}
    assert _consistent(tmp_path / "idx") == 0
    searcher = Searcher(tmp_path / "idx", fast_cfg)
    assert searcher.search("anything", mode="hybrid") == []
    searcher.close()


def test_symlinks_outside_the_root_are_skipped(docs, tmp_path, fast_cfg):
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret outside text", encoding="utf-8")
    (docs / "link.txt").symlink_to(secret)
    (docs / "loop").symlink_to(docs, target_is_directory=True)
    report = ingest(docs, tmp_path / "idx", fast_cfg)
    assert "link.txt" in {s["source"] for s in report.skipped}
    sources, _ = _sources(tmp_path / "idx")
    assert all("secret" not in s for s in sources)
    assert report.counts()["added"] == 4


def test_second_writer_fails_fast(docs, tmp_path, fast_cfg):
    index_dir = tmp_path / "idx"
    with WriterLock(index_dir):
        with pytest.raises(IndexLocked, match="another ragkit ingest"):
            ingest(docs, index_dir, fast_cfg)
    ingest(docs, index_dir, fast_cfg)  # released: works


def test_json_summary_has_the_counts_at_top_level(docs, tmp_path, fast_cfg):
    data = ingest(docs, tmp_path / "idx", fast_cfg).to_json()
    json.dumps(data)
    for key in ("added", "updated", "unchanged", "removed", "failed"):
        assert isinstance(data[key], int)


def test_an_index_inside_the_folder_is_not_indexed(docs, fast_cfg):
    index_dir = docs / "my-index"
    ingest(docs, index_dir, fast_cfg)
    report = ingest(docs, index_dir, fast_cfg)
    assert report.counts()["unchanged"] == 4 and report.counts()["added"] == 0
    assert not any(s["source"].startswith("my-index") for s in report.skipped)


def test_parents_follow_their_files_through_updates_and_removals(docs, tmp_path, fast_cfg):
    index_dir = tmp_path / "idx"
    ingest(docs, index_dir, fast_cfg)
    (docs / "cats.txt").write_text("Cats now write poetry about zebras.", encoding="utf-8")
    (docs / "dogs.md").unlink()
    ingest(docs, index_dir, fast_cfg)
    loaded = open_index(index_dir)
    chunks = list(loaded.docstore.iter_chunks())
    parents = loaded.docstore.parents(c.metadata["parent_id"] for c in chunks)
    assert all(c.metadata["parent_id"] in parents for c in chunks)
    assert {p.metadata["source"] for p in parents.values()} == {c.source for c in chunks}
    assert not list(loaded.docstore.iter_parents({"dogs.md"}))
    assert [p.page_content for p in loaded.docstore.iter_parents({"cats.txt"})] == ["Cats now write poetry about zebras."]
    loaded.close()


def test_a_touched_file_is_hashed_once_not_on_every_ingest(docs, tmp_path, fast_cfg, monkeypatch):
    import ragkit.ingest.changes as changes_module

    ingest(docs, tmp_path / "idx", fast_cfg)
    os.utime(docs / "cats.txt", (5, 5))
    calls = []
    real = changes_module.file_sha256
    monkeypatch.setattr(changes_module, "file_sha256", lambda path: calls.append(path) or real(path))
    assert ingest(docs, tmp_path / "idx", fast_cfg).counts()["unchanged"] == 4 and len(calls) == 1
    assert ingest(docs, tmp_path / "idx", fast_cfg).counts()["unchanged"] == 4 and len(calls) == 1
    (docs / "cats.txt").write_text("Changed after the touch.", encoding="utf-8")
    assert ingest(docs, tmp_path / "idx", fast_cfg).counts()["updated"] == 1
    assert not (tmp_path / "idx" / "stat-cache.json").exists()


def test_an_index_in_another_format_is_refused_for_search_and_rebuilt_by_ingest(docs, tmp_path, fast_cfg):
    import json

    from ragkit.errors import StoreError
    from ragkit.store.manifest import FORMAT_VERSION

    index_dir = tmp_path / "idx"
    ingest(docs, index_dir, fast_cfg)
    manifest_path = current_generation(index_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    # As format 2 wrote it: no checksum or integrity records, CURRENT holds the name alone.
    manifest["format_version"] = FORMAT_VERSION - 1
    del manifest["checksum"], manifest["integrity"]
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    (index_dir / "CURRENT").write_text(f"{manifest_path.parent.name}\n", encoding="utf-8")
    with pytest.raises(StoreError, match="re-ingest"):
        Searcher(index_dir, fast_cfg)
    report = ingest(docs, index_dir, fast_cfg)
    assert report.rebuilt and "format" in report.notes[0]
    assert Searcher(index_dir, fast_cfg).search("cats", k=1)[0].source == "cats.txt"


# ---------------------------------------------------------------- loading and embedding overlap

class _RecordingProgress:
    """A Progress that records which stage advanced, in order."""

    def __init__(self):
        self.events = []

    def start(self, stage, total):
        pass

    def advance(self, stage, amount=1):
        self.events.append(stage)

    def grow(self, stage, amount):
        pass

    def note(self, message):
        pass


def _pdfs_and_text(root):
    """PDFs (one slow, one broken) and text files; the slow PDF sorts first, so it is first in the load list."""
    from test_loaders import make_pdf, raw_pdf

    words = "ledger revenue quarter margin segment outlook liquidity filing".split()
    write_docs(root, {"b-notes.txt": " ".join(words * 30), "d-guide.md": "# Guide\n\n" + " ".join(reversed(words)) * 20})
    (root / "a-slow.pdf").write_bytes(raw_pdf(80, lines=12))
    (root / "c-report.pdf").write_bytes(make_pdf([f"{w} " * 5 for w in words]))
    good = make_pdf(["never read"])
    (root / "e-broken.pdf").write_bytes(good[: len(good) // 2])
    (root / "f-brief.pdf").write_bytes(make_pdf(["alpha beta", None, "gamma delta"]))
    return root


def _index_contents(index_dir):
    """(row, chunk id, source, indexed text) of every chunk in row order, the parent ids in order, the vectors."""
    loaded = open_index(index_dir)
    try:
        chunks = list(loaded.docstore.iter_chunks())
        parents = [p.metadata["parent_id"] for p in loaded.docstore.iter_parents({c.source for c in chunks})]
        rows = [(c.row, c.chunk_id, c.source, indexed_text(c.text, c.metadata)) for c in chunks]
        return rows, parents, loaded.dense.vectors()
    finally:
        loaded.close()


@pytest.mark.parametrize("kind", [
    pytest.param("hash", id="hash"),
    pytest.param("local", id="local", marks=[pytest.mark.integration,
                 pytest.mark.skipif(not have_local_model(), reason="local model packages not installed")])])
def test_overlapped_ingest_gives_the_index_of_loading_everything_first(tmp_path, monkeypatch, kind):
    from ragkit.config import config_from_dict
    from ragkit.embedders import build_embedder
    from ragkit.ingest import streaming

    monkeypatch.setattr(streaming, "EMBED_STEP", 5)  # many small steps between looks for parsed PDFs
    folder = _pdfs_and_text(tmp_path / "docs")
    settings = {"embedder": {"kind": kind}, "splitter": {"chunk_size": 200, "chunk_overlap": 20}}
    overlapped_cfg = config_from_dict({**settings, "loader": {"workers": 2}})
    progress = _RecordingProgress()
    report = ingest(folder, tmp_path / "overlapped", overlapped_cfg, progress=progress)
    assert report.added == ["a-slow.pdf", "b-notes.txt", "c-report.pdf", "d-guide.md", "f-brief.pdf"]
    assert [(f["source"], f["reason"].split(":")[0]) for f in report.failed] == [("e-broken.pdf", "not a readable PDF")]
    # It did overlap: chunks were embedded before the last file had loaded.
    assert "embed" in progress.events[:max(i for i, stage in enumerate(progress.events) if stage == "load")]
    # Loading everything first: PDFs in-process, then one embedding call for all chunks.
    sequential = ingest(folder, tmp_path / "sequential", config_from_dict({**settings, "loader": {"workers": 0}}))
    assert sequential.counts() == report.counts() and sequential.chunks_total == report.chunks_total
    rows, parents, vectors = _index_contents(tmp_path / "overlapped")
    rows_first, parents_first, vectors_first = _index_contents(tmp_path / "sequential")
    assert rows == rows_first and parents == parents_first
    np.testing.assert_allclose(vectors, vectors_first, rtol=0, atol=1e-6)
    # Rows follow the load list (sorted paths), not the order the files finished in.
    sources = [source for _, _, source, _ in rows]
    assert sorted(set(sources)) == report.added and sources == sorted(sources)
    expected = build_embedder(overlapped_cfg.embedder).embed_array([text for _, _, _, text in rows])
    np.testing.assert_allclose(vectors, expected, rtol=0, atol=1e-6)


def test_streaming_embedder_returns_chunks_in_load_order_whatever_order_they_arrive():
    from langchain_core.documents import Document

    from ragkit.embedders import HashEmbeddings
    from ragkit.ingest.report import SilentProgress
    from ragkit.ingest.streaming import StreamingEmbedder

    def chunks(name, n):
        return [Document(page_content=f"{name} chunk {i} " * (i + 1), metadata={"source": name}) for i in range(n)]

    embedder = HashEmbeddings(64)
    stream = StreamingEmbedder(embedder, SilentProgress(), step=2)
    assert stream.embed_some() is False  # nothing waiting
    stream.add(2, chunks("c", 3))
    assert stream.embed_some() is True
    stream.add(0, chunks("a", 1))
    stream.add(1, [])
    stream.add(3, chunks("d", 2))
    assert stream.embed_some() is True
    ordered, vectors = stream.finish()
    texts = [c.page_content for c in chunks("a", 1) + chunks("c", 3) + chunks("d", 2)]
    assert [c.page_content for c in ordered] == texts
    np.testing.assert_array_equal(vectors, embedder.embed_array(texts))
    assert StreamingEmbedder(embedder, SilentProgress()).finish()[1].shape == (0, 64)
