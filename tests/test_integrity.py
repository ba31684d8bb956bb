"""Integrity: damage to any index file is a one-line error naming it, `ingest --rebuild` repairs
it whatever state the index is in, and a reader survives generations removed under it.

Damage is done two ways to each file kind: bytes flipped in the middle (same size) and the file
cut to half. The fast tier runs a few; the whole matrix is in the integration tier.
"""

from __future__ import annotations

import json

import faiss
import pytest
from typer.testing import CliRunner

import ragkit.store.index as index_module
import ragkit.store.integrity as integrity
from ragkit.cli import app
from ragkit.errors import IndexDamaged
from ragkit.ingest.pipeline import ingest
from ragkit.store.generations import current_generation
from ragkit.store.index import open_index

runner = CliRunner()

FILE_KINDS = ["CURRENT", "manifest.json", "dense.faiss", "docstore.sqlite",
              "sparse/data.csc.index.npy", "sparse/indices.csc.index.npy", "sparse/indptr.csc.index.npy",
              "sparse/vocab.index.json", "sparse/params.index.json", "sparse/ragkit_sparse.json",
              "documents/rows.npy", "documents/sparse/data.csc.index.npy", "documents/sparse/ragkit_sparse.json"]
DAMAGES = ["flip", "truncate"]
FAST_CASES = [("dense.faiss", "flip"), ("manifest.json", "truncate"), ("CURRENT", "flip"), ("docstore.sqlite", "flip"),
              ("documents/rows.npy", "flip")]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def damage(index_dir, rel: str, how: str) -> str:
    """Flip 8 bytes in the middle of a file of the live generation, or cut it to half; return its label."""
    generation = current_generation(index_dir)
    path = index_dir / rel if rel == "CURRENT" else generation / rel
    data = bytearray(path.read_bytes())
    if how == "flip":
        middle = len(data) // 2
        for i in range(middle, min(middle + 8, len(data))):
            data[i] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    return rel if rel == "CURRENT" else f"{generation.name}/{rel}"


def assert_damaged(result, label: str) -> None:
    """Exit 1, one line naming the damaged file and the repair, no traceback."""
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"Error: index damaged: {label} (")
    assert result.stderr.rstrip().endswith("run `ragkit ingest --rebuild`")


def search_json(index, config, query="cats"):
    result = run("search", query, "--index", index, "--config", config, "--json", "-k", "20")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def check_damage_case(docs, tmp_path, config, rel, how):
    index = tmp_path / "idx"
    assert run("ingest", docs, "--index", index, "--config", config).exit_code == 0
    label = damage(index, rel, how)
    (docs / "zebras.txt").write_text("Zebras have black and white stripes.", encoding="utf-8")
    for command in (["search", "cats"], ["search", "rings", "--mode", "dense"], ["info"], ["info", "--check"],
                    ["ask", "Which planet has rings?", "--chain", "extract"], ["ingest", docs]):
        assert_damaged(run(*command, "--index", index, "--config", config), label)
    assert run("ingest", docs, "--index", index, "--config", config, "--rebuild").exit_code == 0
    assert run("info", "--check", "--index", index, "--config", config).exit_code == 0
    fresh = tmp_path / "fresh"
    assert run("ingest", docs, "--index", fresh, "--config", config).exit_code == 0
    for query in ("cats", "zebra stripes", "Which planet has rings?"):
        assert search_json(index, config, query) == search_json(fresh, config, query)


@pytest.mark.parametrize("rel, how", FAST_CASES)
def test_damage_is_named_by_every_command_and_repaired_by_rebuild(docs, tmp_path, fast_config, rel, how):
    check_damage_case(docs, tmp_path, fast_config, rel, how)


@pytest.mark.integration
@pytest.mark.parametrize("how", DAMAGES)
@pytest.mark.parametrize("rel", FILE_KINDS)
def test_damage_matrix_every_file_kind(docs, tmp_path, fast_config, rel, how):
    if (rel, how) in FAST_CASES:
        pytest.skip("in the fast tier")
    check_damage_case(docs, tmp_path, fast_config, rel, how)


@pytest.fixture
def cheap_only(monkeypatch):
    """Open as an index too big to hash on every open would: sizes, counts and structure only."""
    monkeypatch.setattr(integrity, "FULL_CHECK_BYTES", -1)


@pytest.mark.parametrize("rel", FILE_KINDS)
def test_cheap_checks_catch_every_truncated_file(docs, tmp_path, fast_cfg, cheap_only, rel):
    ingest(docs, tmp_path / "idx", fast_cfg)
    label = damage(tmp_path / "idx", rel, "truncate")
    with pytest.raises(IndexDamaged, match=f"index damaged: {label} "):
        open_index(tmp_path / "idx")


def _scale_vector(generation, row: int, factor: float) -> None:
    """Rewrite dense.faiss with one vector scaled: same size, valid FAISS, wrong content."""
    index = faiss.read_index(str(generation / "dense.faiss"))
    vectors = index.reconstruct_n(0, index.ntotal)
    vectors[row] *= factor
    damaged = faiss.IndexFlatIP(index.d)
    damaged.add(vectors)
    faiss.write_index(damaged, str(generation / "dense.faiss"))


def test_a_vector_changed_in_place_is_never_a_cosine_above_one(docs, tmp_path, fast_cfg, cheap_only):
    from ragkit.retrieval.search import Searcher

    ingest(docs, tmp_path / "idx", fast_cfg)
    generation = current_generation(tmp_path / "idx")
    size = (generation / "dense.faiss").stat().st_size
    _scale_vector(generation, 0, 2.59)
    assert (generation / "dense.faiss").stat().st_size == size  # the cheap size check cannot see it
    searcher = Searcher(tmp_path / "idx", fast_cfg)  # opens: sizes and counts pass
    with pytest.raises(IndexDamaged, match="dense.faiss .*length 2.59, not 1"):
        searcher.search("cats", mode="dense", k=10)
    searcher.close()
    with pytest.raises(IndexDamaged, match="dense.faiss .*sha256"):
        open_index(tmp_path / "idx", full_check=True)  # ragkit info --check


def test_small_indexes_are_hashed_on_every_open(docs, tmp_path, fast_cfg):
    ingest(docs, tmp_path / "idx", fast_cfg)
    _scale_vector(current_generation(tmp_path / "idx"), 0, 0.5)  # length 0.5: the search guard would miss it
    with pytest.raises(IndexDamaged, match="dense.faiss .*sha256"):
        open_index(tmp_path / "idx")


def test_an_incremental_ingest_never_carries_damaged_vectors_forward(docs, tmp_path, fast_cfg, cheap_only):
    index_dir = tmp_path / "idx"
    ingest(docs, index_dir, fast_cfg)
    _scale_vector(current_generation(index_dir), 0, 0.5)
    (docs / "zebras.txt").write_text("Zebras have black and white stripes.", encoding="utf-8")
    with pytest.raises(IndexDamaged, match="dense.faiss .*sha256"):
        ingest(docs, index_dir, fast_cfg)
    assert current_generation(index_dir).name == "gen-000001"  # nothing was published
    assert ingest(docs, index_dir, fast_cfg, rebuild=True).generation == "gen-000002"
    open_index(index_dir, full_check=True).close()


def test_current_naming_another_complete_generation_is_damage(docs, tmp_path, fast_cfg):
    index_dir = tmp_path / "idx"
    ingest(docs, index_dir, fast_cfg)
    (docs / "zebras.txt").write_text("Zebras have black and white stripes.", encoding="utf-8")
    ingest(docs, index_dir, fast_cfg)
    pointer = index_dir / "CURRENT"
    pointer.write_text(pointer.read_text().replace("gen-000002", "gen-000001"))  # one digit flipped
    with pytest.raises(IndexDamaged, match="index damaged: CURRENT .*names gen-000001"):
        open_index(index_dir)


@pytest.mark.parametrize("state", ["names-nothing", "garbage", "missing-manifest", "no-generation-left"])
def test_rebuild_repairs_whatever_state_current_and_the_manifest_are_in(docs, tmp_path, fast_cfg, state):
    import shutil

    index_dir = tmp_path / "idx"
    ingest(docs, index_dir, fast_cfg)
    generation = current_generation(index_dir)
    if state == "names-nothing":
        (index_dir / "CURRENT").write_text("gen-000042 " + "0" * 64 + "\n")
    elif state == "garbage":
        (index_dir / "CURRENT").write_bytes(b"\xff\x00 not a pointer")
    elif state == "missing-manifest":
        (generation / "manifest.json").unlink()
    else:
        shutil.rmtree(generation)
    with pytest.raises(IndexDamaged):
        ingest(docs, index_dir, fast_cfg)
    report = ingest(docs, index_dir, fast_cfg, rebuild=True)
    assert report.rebuilt and report.counts()["added"] == 4
    loaded = open_index(index_dir, full_check=True)
    assert loaded.generation.name == report.generation and loaded.docstore.count() == report.chunks_total
    loaded.close()
    ingest(docs, index_dir, fast_cfg)  # the next incremental ingest works and collects the debris
    assert not [p for p in index_dir.iterdir() if ".tmp-" in p.name]


def test_a_reader_whose_generation_is_collected_opens_the_new_one(docs, tmp_path, fast_cfg, monkeypatch):
    """Item 9: CURRENT read, then two ingests publish (the second removes the generation read)."""
    index_dir = tmp_path / "idx"
    ingest(docs, index_dir, fast_cfg)
    real_read = index_module.read_manifest
    calls, ingesting = [], []

    def two_ingests_first(generation):
        if ingesting:  # the ingests' own reads
            return real_read(generation)
        if not calls:
            ingesting.append(True)
            for name in ("zebras.txt", "lions.txt"):
                (docs / name).write_text(f"A page about {name[:-4]}.", encoding="utf-8")
                ingest(docs, index_dir, fast_cfg)
            ingesting.clear()
            assert not generation.exists()  # collected: only gen-000002 and gen-000003 remain
        calls.append(generation.name)
        return real_read(generation)

    monkeypatch.setattr(index_module, "read_manifest", two_ingests_first)
    loaded = open_index(index_dir)
    assert calls == ["gen-000001", "gen-000003"]
    assert loaded.generation.name == "gen-000003"
    assert loaded.dense.size == loaded.docstore.count() == loaded.sparse.size == loaded.manifest["chunks"]
    loaded.close()


def test_the_manifest_records_every_file_and_the_counts(docs, tmp_path, fast_cfg):
    ingest(docs, tmp_path / "idx", fast_cfg)
    generation = current_generation(tmp_path / "idx")
    manifest = json.loads((generation / "manifest.json").read_text())
    recorded = manifest["integrity"]
    on_disk = {p.relative_to(generation).as_posix() for p in generation.rglob("*") if p.is_file()}
    assert set(recorded["files"]) == on_disk - {"manifest.json"}
    assert all(len(r["sha256"]) == 64 and r["size"] > 0 for r in recorded["files"].values())
    assert recorded["counts"] == {"docstore": manifest["chunks"], "dense": manifest["chunks"],
                                  "sparse": manifest["chunks"], "documents": manifest["chunks"]}
    assert (tmp_path / "idx" / "CURRENT").read_text().split() == [generation.name, manifest["checksum"]]
