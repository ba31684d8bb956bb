"""Config files as YAML: a parsed file that knows the line of every key path, and one-line messages
for what is wrong at a key path, whether a hand-written check or pydantic found it.

Used by :mod:`ragkit.config` (ragkit config files) and :mod:`ragkit.evaluation.spec` (eval config
files). It knows nothing of what either file holds, only how to read one and point at a place in it.
A key path is a tuple of mapping keys and list indexes, e.g. ``("pipelines", 1, "ask", "strategy")``,
written ``pipelines[1].ask.strategy`` in messages.
"""

from __future__ import annotations

import difflib
import hashlib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml

from ragkit.errors import ConfigError


def dotted(keypath: tuple) -> str:
    """``("pipelines", 1, "ask")`` -> ``pipelines[1].ask``."""
    text = ""
    for part in keypath:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def line_suffix(lines: Mapping[tuple, int], keypath: tuple, line: int | None = None) -> str:
    """`` line N`` for ``keypath`` (or its nearest parent that has a line), or ``""``."""
    while line is None and keypath:
        line, keypath = lines.get(keypath), keypath[:-1]
    return f" line {line}" if line else ""


def unknown_key(keypath: tuple, known: Iterable[str], noun: str = "key") -> str:
    """The message for an unknown key: the known keys and a close match, when there is one."""
    known = list(known)
    close = difflib.get_close_matches(str(keypath[-1]), known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {noun} '{dotted(keypath)}'{hint}; known {noun}s: {', '.join(known)}"


class YamlFile:
    """A parsed YAML file (``raw``) with the line of every key path (``lines``) and its sha256 (``hash``).

    Errors are raised as ``error`` (a :class:`ConfigError` subclass), naming the file and the line.
    """

    def __init__(self, path: Path, what: str = "config file", error: type[ConfigError] = ConfigError):
        self.path, self.lines, self.error_class = Path(path), {}, error
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise error(f"{what} not found: {path}") from None
        except OSError as exc:
            raise error(f"cannot read {what} {path}: {exc}") from None
        self.hash = hashlib.sha256(data).hexdigest()
        try:
            text = data.decode("utf-8")
            root = yaml.compose(text, Loader=yaml.SafeLoader)
            self.raw = yaml.safe_load(text)
        except UnicodeDecodeError as exc:
            raise error(f"{path}: not UTF-8 text ({exc.reason})") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise error(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
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
                    raise self.error(here, f"duplicate key '{dotted(here)}' (first on line {self.lines[here]})",
                                     line=key_node.start_mark.line + 1)
                self.lines[here] = key_node.start_mark.line + 1
                self._index(value_node, here, ancestors)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.lines[keypath + (i,)] = item.start_mark.line + 1
                self._index(item, keypath + (i,), ancestors)

    def error(self, keypath: tuple, message: str, line: int | None = None) -> ConfigError:
        """An error naming the file and the line of ``keypath`` (or of its nearest parent)."""
        return self.error_class(f"{self.path}{line_suffix(self.lines, keypath, line)}: {message}")

    def check_keys(self, keypath: tuple, raw: Any, known: Iterable[str], what: str = "a mapping") -> dict:
        """``raw`` itself when it is a mapping whose keys are all ``known``; else an error at the culprit."""
        if not isinstance(raw, dict):
            raise self.error(keypath, f"'{dotted(keypath) or 'the file'}' must be {what}, got {type(raw).__name__}")
        known = list(known)
        for key in raw:
            if key not in known:
                raise self.error(keypath + (key,), unknown_key(keypath + (key,), known))
        return raw

    def path_at(self, keypath: tuple, value: Any) -> Path:
        """The absolute path a setting names; relative paths are relative to this file."""
        if not isinstance(value, str) or not value.strip():
            raise self.error(keypath, f"'{dotted(keypath)}' must be a path")
        return (self.path.parent / Path(value).expanduser()).resolve()


# --------------------------------------------------------------------------- pydantic errors

_MUST = {"bool_type": "true or false", "bool_parsing": "true or false", "int_type": "an integer",
         "int_parsing": "an integer", "int_from_float": "an integer", "float_type": "a number",
         "float_parsing": "a number", "string_type": "a string", "dict_type": "a mapping",
         "dataclass_type": "a mapping of settings", "dataclass_args_type": "a mapping of settings",
         "model_type": "a mapping", "model_attributes_type": "a mapping", "list_type": "a list"}
_BOUNDS = {"greater_than_equal": ("ge", "at least"), "greater_than": ("gt", "greater than"),
           "less_than_equal": ("le", "at most"), "less_than": ("lt", "less than")}
_UNKNOWN = ("unexpected_keyword_argument", "extra_forbidden")


def _bare(tp: Any) -> Any:
    """``Annotated[X, ...]`` and ``X | None`` -> ``X``."""
    while True:
        if typing.get_origin(tp) is Annotated:
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) in (Union, types.UnionType) and type(None) in typing.get_args(tp):
            rest = [arg for arg in typing.get_args(tp) if arg is not type(None)]
            tp = rest[0] if len(rest) == 1 else Union[tuple(rest)]
        else:
            return tp


def _fields(tp: Any) -> dict:
    """The declared fields of a pydantic model or dataclass; nothing for any other type."""
    if not isinstance(tp, type):
        return {}
    return getattr(tp, "__pydantic_fields__", None) or {}


def _tagged(tp: Any, tag: Any) -> Any:
    """The member of a discriminated union whose Literal field holds ``tag``, or None."""
    for member in typing.get_args(tp):
        if any(tag in _choices(info.annotation) for info in _fields(_bare(member)).values()):
            return member
    return None


def _choices(tp: Any) -> tuple:
    tp = _bare(tp)
    return typing.get_args(tp) if typing.get_origin(tp) is Literal else ()


def _walk(root: type, loc: tuple) -> tuple[tuple, Any, Any]:
    """Follow pydantic's ``loc`` through the declared types: (the key path without union tags,
    the type found there, its FieldInfo when it is a declared field). Unknown ground gives Any."""
    keypath, tp, info = (), root, None
    for part in loc:
        tp, info = _bare(tp), None
        origin = typing.get_origin(tp)
        if part in _fields(tp):
            info = _fields(tp)[part]
            keypath, tp = keypath + (part,), info.annotation
        elif origin in (Union, types.UnionType) and _tagged(tp, part) is not None:
            tp = _tagged(tp, part)                  # a discriminated union's tag: not a key of the file
        elif origin in (list, tuple) and isinstance(part, int):
            keypath, tp = keypath + (part,), (typing.get_args(tp) or (Any,))[0]
        elif origin is dict:
            keypath, tp = keypath + (part,), typing.get_args(tp)[1]
        else:
            keypath, tp = keypath + (part,), Any
    return keypath, tp, info


def _shown(value: Any) -> str:
    """A value as the message quotes it: itself when short, else its type."""
    text = repr(value)
    return text if len(text) <= 60 else type(value).__name__


def describe(errors: list[dict], root: type, prefix: tuple = ()) -> tuple[tuple, str]:
    """The first of pydantic's ``errors`` (for ``root``) as (key path, one-line message naming it).

    Unknown keys come first (a misspelt key explains the rest); a field's ``description``, when
    declared, says what the value must be.
    """
    error = sorted(errors, key=lambda e: e["type"] not in _UNKNOWN and e["loc"][-1:] != ("[key]",))[0]
    loc, kind, value, ctx = tuple(error["loc"]), error["type"], error.get("input"), error.get("ctx") or {}
    if loc[-1:] == ("[key]",):                  # a mapping key outside its Literal choices
        keypath, tp, _ = _walk(root, loc[:-2])
        keypath = prefix + keypath + (loc[-2],)
        return keypath, unknown_key(keypath, _choices(typing.get_args(_bare(tp))[0]))
    if kind in _UNKNOWN:
        keypath, tp, _ = _walk(root, loc[:-1])
        return prefix + keypath + loc[-1:], unknown_key(prefix + keypath + loc[-1:], _fields(_bare(tp)))
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        keypath, tp, _ = _walk(root, loc)
        tag = ctx["discriminator"].strip("'")
        keypath = prefix + keypath + (tag,)
        tags = [t for member in typing.get_args(_bare(tp)) for t in _choices(_fields(_bare(member))[tag].annotation)]
        said = "is missing" if kind == "union_tag_not_found" else f"is {ctx.get('tag')!r}"
        return keypath, f"'{dotted(keypath)}' {said}; choose one of {', '.join(map(str, tags))}"
    keypath, tp, info = _walk(root, loc)
    keypath, name = prefix + keypath, dotted(prefix + keypath)
    if kind == "literal_error":
        choices = _choices(tp) or [c.strip(" '") for c in ctx.get("expected", "").replace(" or ", ", ").split(",")]
        return keypath, f"'{name}' is {value!r}; choose one of {', '.join(map(str, choices))}"
    if kind == "missing":
        return keypath, f"'{name}' is missing"
    if info is not None and info.description:
        return keypath, f"'{name}' must be {info.description}, got {_shown(value)}"
    if kind in _MUST:
        return keypath, f"'{name}' must be {_MUST[kind]}, got {_shown(value)}"
    if kind in _BOUNDS:
        bound, words = _BOUNDS[kind]
        return keypath, f"'{name}' must be {words} {ctx[bound]}, got {_shown(value)}"
    if kind == "too_short":
        return keypath, f"'{name}' must not be empty"
    if kind in ("value_error", "assertion_error"):
        return keypath, f"'{name}' {ctx.get('error', error['msg'])}"
    return keypath, f"'{name}': {error['msg'][:1].lower()}{error['msg'][1:]}, got {_shown(value)}"
