"""The command-line interface: ``ragkit`` = :data:`app` (see :mod:`ragkit.cli.main`)."""

from ragkit.cli.main import app

__all__ = ["app"]
