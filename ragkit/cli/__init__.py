"""The command-line interface: the ``ragkit`` console script is :func:`run`, which runs :data:`app`
(see :mod:`ragkit.cli.main`).

This module imports nothing until :func:`run` does, so that Ctrl-C while the CLI is still starting
(importing typer, building the commands) ends like Ctrl-C anywhere else: one line and exit 130.
"""

from __future__ import annotations

import sys

__all__ = ["app", "run"]


def run() -> None:
    """The ``ragkit`` command: runs :data:`app`; Ctrl-C before a command starts exits 130 too."""
    try:
        from ragkit.cli.main import app

        app()
    except KeyboardInterrupt:
        sys.stderr.write("\nError: interrupted\n")
        sys.exit(130)


def __getattr__(name: str):
    """``ragkit.cli.app``, imported on first use."""
    if name == "app":
        from ragkit.cli.main import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
