"""Where ragkit keeps files outside an index: the XDG base directories, in one place."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/ragkit``, or ``~/.cache/ragkit``: model-call cache, unpacked tokenizer files, joined GGUFs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ragkit"


def data_dir() -> Path:
    """``$XDG_DATA_HOME/ragkit``, or ``~/.local/share/ragkit``: chat history."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ragkit"
