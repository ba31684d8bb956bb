"""The README's Python API example runs as it stands: in a fresh process, in a folder holding a copy of
sample_docs, with the hash embedder here (fast tier) and with the embedded default model (heavy tier)."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, have_local_model

README = (REPO / "README.md").read_text(encoding="utf-8")


def _example() -> str:
    section = README.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Python API section has one runnable example"
    return blocks[0]


def _run_example(tmp_path, config: str | None) -> list[str]:
    shutil.copytree(REPO / "sample_docs", tmp_path / "sample_docs")
    env = {k: v for k, v in os.environ.items() if k not in ("RAGKIT_CONFIG", "RAGKIT_INDEX") and
           not k.startswith(("LANGSMITH_", "LANGCHAIN_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if config:
        env["RAGKIT_CONFIG"] = config
    # Saved as a file and run as a script, as a user would: PDF workers re-import it (the __main__ guard)
    (tmp_path / "example.py").write_text(_example(), encoding="utf-8")
    result = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".ragkit").is_dir()
    return result.stdout.splitlines()


def _check(lines: list[str]) -> None:
    hits = [line.split() for line in lines[:3]]
    assert [h[0] for h in hits] == ["1", "2", "3"] and any(h[1] == "rag-techniques.md" for h in hits)
    answer = [line for line in lines[3:] if line.startswith('"')]
    assert answer and all(line.endswith("]") for line in answer)   # quoted sentences, each with its citation
    assert any("1/(60 + rank)" in line for line in answer)
    sources = [line for line in lines if re.fullmatch(r"\[\d+\] \S+", line)]
    assert sources[0].startswith("[1] ") and any(line.endswith(" rag-techniques.md") for line in sources)
    documents = [line.split() for line in lines[-3:]]
    assert any(d[0] == "field-notes.pdf" for d in documents) and all(float(d[1]) > 0 for d in documents)


def test_the_readme_python_example_runs_with_the_hash_embedder(tmp_path):
    _check(_run_example(tmp_path, str(REPO / "configs" / "fast.yaml")))


@pytest.mark.integration
@pytest.mark.skipif(not have_local_model(), reason="local model packages not installed")
def test_the_readme_python_example_runs_with_the_embedded_default(tmp_path):
    _check(_run_example(tmp_path, None))
