"""The machinery every config section is built with: strict types and the ``section`` decorator.

A section is a frozen pydantic dataclass: building it (by hand, from a file, or by ``dataclasses.replace``)
validates every field and raises :class:`~ragkit.errors.SettingError` naming ``section.key``.
"""

from __future__ import annotations

import functools
from typing import Annotated

from pydantic import ConfigDict, Field, Strict, ValidationError
from pydantic.dataclasses import dataclass as pydantic_dataclass

from ragkit.errors import SettingError
from ragkit.yamlfile import describe

__all__ = ["Int", "Float", "Bool", "Weight", "section"]

# YAML already types every value, so a quoted "false" or a 12.9 where a count belongs is a mistake
# to report, not to coerce (pydantic's lax mode reads "false" as False and "12" as 12).
Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]     # an integer is a number too: timeout_s: 60 is fine
Bool = Annotated[bool, Strict()]
Weight = Annotated[Float, Field(ge=0)]


def section(name: str):
    """Make ``cls`` a frozen pydantic dataclass: building it (or ``dataclasses.replace``) validates every
    field and raises :class:`SettingError` naming ``name.key``; unknown keys are refused."""
    def make(cls):
        cls = pydantic_dataclass(frozen=True, config=ConfigDict(extra="forbid"))(cls)
        validate = cls.__init__

        @functools.wraps(validate)
        def __init__(self, *args, **kwargs):
            try:
                validate(self, *args, **kwargs)
            except ValidationError as exc:
                keypath, reason = describe(exc.errors(), cls, prefix=(name,) if name else ())
                raise SettingError(reason, keypath) from None

        cls.__init__ = __init__
        return cls
    return make
