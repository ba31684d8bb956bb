"""The local chat models: OpenMP's wait policy set before llama.cpp loads."""

import os

import pytest

from ragkit.config import LLMConfig
from ragkit.llm import build_llm
from ragkit.llm import local


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
