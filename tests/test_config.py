"""Config files: defaults, validation with errors that name the key, relative paths."""

import dataclasses
import re

import pytest

from ragkit.config import AskConfig, Config, ConfigError, LLMConfig, SearchConfig, SplitterConfig, config_from_dict, load_config
from ragkit.errors import SettingError


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


@pytest.mark.parametrize("text, line, message", [
    ("llm:\n  kind: local\n  cache: \"false\"\n", 3, "'llm.cache' must be true or false, got 'false'"),
    ("llm:\n  max_tokens: 12.9\n", 2, "'llm.max_tokens' must be an integer, got 12.9"),
    ("embedder:\n  kind: hash\n  dimension: abc\n", 3, "'embedder.dimension' must be an integer, got 'abc'"),
    ("serch:\n  mode: dense\n", 1, "unknown section 'serch' (did you mean 'search'?); known sections: index, loader"),
    ("search:\n  k: 3\n  mdoe: dense\n", 3, "unknown key 'search.mdoe' (did you mean 'mode'?); known keys: mode, k,"),
    ("search:\n  mode: fuzzy\n", 2, "'search.mode' is 'fuzzy'; choose one of dense, sparse, hybrid"),
    ("search:\n  weights: 3\n", 2, "'search.weights' must be a mapping of weights, e.g. {dense: 0.6, sparse: 0.4}, got 3"),
    ("search:\n  weights: {dense: 1, sprase: 2}\n", 2, "unknown key 'search.weights.sprase' (did you mean 'sparse'?)"),
    ("search:\n  weights: {dense: -1}\n", 2, "'search.weights.dense' must be at least 0"),
    ("ask:\n  n_queries: 11\n", 2, "'ask.n_queries' must be at most 10, got 11"),
    ("ask:\n  k: 0\n", 2, "'ask.k' must be at least 1, got 0"),
    ("llm:\n  kind: gpt\n", 2, "'llm.kind' is 'gpt'; choose one of"),
    ("splitter:\n  chunk_size: 100\n  chunk_overlap: 100\n", 3, "'splitter.chunk_overlap' (100) must be smaller"),
    ("index: idx\nsearch: 3\n", 2, "'search' must be a mapping of settings, got 3"),
    ("search:\n  k: 1\n  k: 2\n", 3, "duplicate key 'search.k' (first on line 2)"),
])
def test_bad_values_give_one_line_naming_file_line_and_key(tmp_path, text, line, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path} line {line}: ") and message in str(info.value), str(info.value)
    assert "\n" not in str(info.value)


def test_errors_without_a_file_name_the_key():
    with pytest.raises(SettingError) as info:
        config_from_dict({"llm": {"cache": "false"}}, where="inline")
    assert str(info.value) == "inline: 'llm.cache' must be true or false, got 'false'"
    assert info.value.keypath == ("llm", "cache") and info.value.reason.startswith("'llm.cache'")


@pytest.mark.parametrize("build, message", [
    (lambda: AskConfig(strategy="telepathy"), "'ask.strategy' is 'telepathy'; choose one of none,"),
    (lambda: dataclasses.replace(AskConfig(), chain="poem"), "'ask.chain' is 'poem'; choose one of auto,"),
    (lambda: SearchConfig(k=2.5), "'search.k' must be an integer, got 2.5"),
    (lambda: LLMConfig(cache="yes"), "'llm.cache' must be true or false"),
    (lambda: SplitterConfig(chunk_size=200, parent_size=100), "'splitter.parent_size' (100) must be larger"),
])
def test_sections_built_by_hand_are_validated_too(build, message):
    with pytest.raises(SettingError, match=re.escape(message)):
        build()


def test_sections_stay_plain_frozen_dataclasses():
    cfg = config_from_dict({"search": {"mode": "sparse", "weights": {"dense": 2}}, "llm": {"timeout_s": 5}})
    assert cfg.search.weights == {"dense": 2.0} and cfg.llm.timeout_s == 5.0   # an integer is a number too
    assert dataclasses.replace(cfg.search, k=3).k == 3 and dataclasses.asdict(cfg)["search"]["mode"] == "sparse"
    assert [f.name for f in dataclasses.fields(Config)][:2] == ["index", "loader"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.search.k = 4   # type: ignore[misc]
    assert config_from_dict({"search": None}) == Config()       # an empty section means its defaults
