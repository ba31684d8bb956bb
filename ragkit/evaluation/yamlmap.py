"""The YAML side of eval config files: a parsed file that knows the line of every key path, and
:class:`EvalConfigError`, whose messages name the file, the line and the key path.

Used by :mod:`ragkit.evaluation.spec` (which re-exports ``EvalConfigError``); it knows nothing of what
an eval config holds, only how to read one and point at a place in it.
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path
from typing import Any

import yaml

from ragkit.errors import EvalConfigError



def _dotted(keypath: tuple) -> str:
    text = ""
    for part in keypath:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _Source:
    """A parsed YAML file with the line of every key path."""

    def __init__(self, path: Path, what: str = "eval config"):
        self.path, self.lines = path, {}
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise EvalConfigError(f"{what} not found: {path}") from None
        except OSError as exc:
            raise EvalConfigError(f"cannot read {what} {path}: {exc}") from None
        self.hash = hashlib.sha256(data).hexdigest()
        try:
            text = data.decode("utf-8")
            root = yaml.compose(text, Loader=yaml.SafeLoader)
            self.raw = yaml.safe_load(text)
        except UnicodeDecodeError as exc:
            raise EvalConfigError(f"{path}: not UTF-8 text ({exc.reason})") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise EvalConfigError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
        if root is not None:
            self._index(root, (), set())

    def _index(self, node, keypath: tuple, ancestors: set) -> None:
        if id(node) in ancestors:           # a recursive alias
            return
        ancestors = ancestors | {id(node)}
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
                here = keypath + (key,)
                if here in self.lines and key != "<<":
                    raise self.error(here, f"duplicate key '{_dotted(here)}' (first on line {self.lines[here]})",
                                     line=key_node.start_mark.line + 1)
                self.lines[here] = key_node.start_mark.line + 1
                self._index(value_node, here, ancestors)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.lines[keypath + (i,)] = item.start_mark.line + 1
                self._index(item, keypath + (i,), ancestors)

    def error(self, keypath: tuple, message: str, line: int | None = None) -> EvalConfigError:
        """An error naming the file and the line of ``keypath`` (or of its nearest parent)."""
        return EvalConfigError(f"{self.path}{_line(self.lines, keypath, line)}: {message}")

    def unknown(self, keypath: tuple, known) -> EvalConfigError:
        """An unknown-key error with the known keys and a close match, when there is one."""
        close = difflib.get_close_matches(str(keypath[-1]), list(known), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return self.error(keypath, f"unknown key '{_dotted(keypath)}'{hint}; known keys: {', '.join(known)}")


def _line(lines: dict, keypath: tuple, line: int | None = None) -> str:
    while line is None and keypath:
        line, keypath = lines.get(keypath), keypath[:-1]
    return f" line {line}" if line else ""


def _check_keys(src: _Source, keypath: tuple, raw: Any, known, what: str = "a mapping") -> dict:
    if not isinstance(raw, dict):
        raise src.error(keypath, f"'{_dotted(keypath) or 'the file'}' must be {what}, got {type(raw).__name__}")
    for key in raw:
        if key not in known:
            raise src.unknown(keypath + (key,), known)
    return raw


def _path(src: _Source, keypath: tuple, value: Any) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise src.error(keypath, f"'{_dotted(keypath)}' must be a path")
    return (src.path.parent / Path(value).expanduser()).resolve()
