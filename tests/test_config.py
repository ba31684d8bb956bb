"""Config files: defaults, validation with errors that name the key, relative paths."""

import pytest

from ragkit.config import Config, ConfigError, load_config


def test_no_file_means_defaults():
    cfg = load_config(None)
    assert cfg == Config() and cfg.embedder.kind == "local" and cfg.search.rrf_k == 60


def test_values_are_read_and_index_is_relative_to_the_file(tmp_path):
    path = tmp_path / "conf" / "ragkit.yaml"
    path.parent.mkdir()
    path.write_text("index: idx\nsplitter: {kind: token, chunk_size: 200, chunk_overlap: 20}\n"
                    "search: {weights: {dense: 0.7, sparse: 0.3}}\n")
    cfg = load_config(path)
    assert cfg.splitter.kind == "token" and cfg.splitter.chunk_size == 200
    assert cfg.search.weights == {"dense": 0.7, "sparse": 0.3}
    assert cfg.index == str(path.parent / "idx")


@pytest.mark.parametrize("text, message", [
    ("splitter: {chunk_sise: 10}\n", "unknown key 'splitter.chunk_sise'"),
    ("retriever: {}\n", "unknown section 'retriever'"),
    ("splitter: {kind: semantic}\n", "splitter.kind"),
    ("search: {k: many}\n", "'search.k' must be an integer"),
    ("splitter: {chunk_size: 100, chunk_overlap: 100}\n", "chunk_overlap"),
    ("splitter: [1, 2\n", "line"),
    ("- a list\n", "mapping"),
])
def test_bad_configs_name_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
