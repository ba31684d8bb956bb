"""A GGUF shipped split over several packages, joined once into ragkit's cache and checked against its hash.

llama.cpp reads one file, and no registry package ships Qwen2.5-Coder-1.5B whole (docs/models.md),
so :func:`joined_gguf` concatenates the installed parts (in order) into ``<cache>/models/``. The
file is written under a temporary name and renamed only once its sha256 is the upstream file's;
a marker beside it records that hash, so later calls check the size and the marker, not 1.1 GB.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

from ragkit.errors import LLMError
from ragkit.extras import LocalModel
from ragkit.paths import cache_dir

CHUNK = 8 << 20  # bytes read at a time while joining


def part_paths(model: LocalModel) -> list[Path]:
    """The installed files of ``model.parts``, in order (the packages are found, not imported)."""
    paths = []
    for part in model.parts:
        module, _, relative = part.partition("/")
        spec = importlib.util.find_spec(module)
        folders = list(spec.submodule_search_locations or []) if spec else []
        found = [Path(folder) / relative for folder in folders if (Path(folder) / relative).is_file()]
        if not found:
            raise LLMError(f"the model {model.name} is missing its part {part}; reinstall it: "
                           f"pip install 'ragkit[{model.extra}]'")
        paths.append(found[0])
    return paths


def joined_gguf(model: LocalModel, folder: Path | None = None) -> Path:
    """The joined GGUF of ``model`` in ``folder`` (default ``<cache>/models``), joined and checked on first use."""
    folder = Path(folder or cache_dir() / "models")
    target, marker = folder / model.file_name, folder / (model.file_name + ".sha256")
    if _already_joined(target, marker, model):
        return target
    parts = part_paths(model)
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    handle, temporary = tempfile.mkstemp(prefix=f".{model.file_name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(CHUNK):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != model.sha256:
            raise LLMError(f"the joined parts of {model.name} have sha256 {digest.hexdigest()[:16]}…, not the "
                           f"upstream file's {model.sha256[:16]}…; refusing to load them (reinstall "
                           f"'ragkit[{model.extra}]' with its pinned versions)")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _write_atomically(marker, model.sha256 + "\n")
    return target


def _already_joined(target: Path, marker: Path, model: LocalModel) -> bool:
    # The file was only renamed into place after its hash matched; the marker says which hash that was.
    try:
        return target.stat().st_size == model.size and marker.read_text().strip() == model.sha256
    except OSError:
        return False


def _write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w") as out:
        out.write(text)
    os.replace(temporary, path)
