"""Project-wide rules: no pickle, the sample PDF is reproducible, configs in the repo are valid."""

import hashlib
import re
import subprocess
import sys
from pathlib import Path

from ragkit.config import load_config

from conftest import REPO

BANNED = re.compile(r"^\s*(import|from)\s+(pickle|joblib|dill|cloudpickle|shelve)\b|allow_dangerous_deserialization\s*=\s*True|allow_pickle\s*=\s*True", re.M)


def test_no_pickle_anywhere_in_code():
    offenders = [str(p.relative_to(REPO)) for folder in ("ragkit", "benchmarks", "scripts")
                 for p in (REPO / folder).rglob("*.py") if BANNED.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_sample_pdf_is_what_the_generator_makes(tmp_path):
    out = tmp_path / "notes.pdf"
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_sample_pdf.py"), str(out)], check=True,
                   capture_output=True)
    committed = (REPO / "sample_docs" / "field-notes.pdf").read_bytes()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(committed).hexdigest()


def test_shipped_configs_load():
    import yaml

    from ragkit.evaluation.spec import EvalConfigError, load_eval_config

    for path in sorted((REPO / "configs").glob("*.yaml")):
        if "datasets" in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}):
            try:
                load_eval_config(path)  # an eval config: its data may be absent outside CI
            except EvalConfigError as exc:
                assert "not found" in str(exc) or "missing" in str(exc), exc
        else:
            load_config(path)


def test_readme_lists_the_exit_codes_errors_defines():
    from ragkit.errors import EXIT_CODES

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    line = next(line for line in readme.splitlines() if line.startswith("`0` success"))
    listed = [part.strip() for part in line.rstrip(".").split("·")]
    assert listed == [f"`{code}` {meaning}" for code, meaning in EXIT_CODES.items()]


def test_readme_layout_names_every_subpackage_and_module_of_the_package():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## How the code is laid out", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    parts = [p.name + "/" for p in (REPO / "ragkit").iterdir() if (p / "__init__.py").exists()]
    parts += [p.name for p in (REPO / "ragkit").glob("*.py") if p.name != "__init__.py"]
    assert [part for part in parts if part not in layout] == []


def test_the_shipped_default_config_is_the_default():
    """configs/default.yaml lists every setting at its default: copying it must not change a thing."""
    import dataclasses

    from ragkit.config import Config, load_config

    shipped = load_config(REPO / "configs" / "default.yaml")
    assert Path(shipped.index).name == Path(Config().index).name  # a relative index is read from the config's folder
    assert dataclasses.replace(shipped, index=Config().index) == Config()
