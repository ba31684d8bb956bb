"""What every command shares: the two consoles, the common options, loading the config, failing.

Imports only typer, rich and the light parts of ragkit, so that ``ragkit --help`` starts fast;
each command imports the stage it runs inside its own body.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, Optional

import typer
from rich.console import Console
from rich.markup import escape

from ragkit.errors import EXIT_ERROR

if TYPE_CHECKING:
    from ragkit.config import Config

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

IndexOpt = typer.Option(None, "--index", "-i", help="Index folder. Default: $RAGKIT_INDEX, the config's `index`, or ./.ragkit")
ConfigOpt = typer.Option(None, "--config", "-c", help="YAML config file (default: $RAGKIT_CONFIG, or built-in defaults).")
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON on stdout instead of tables.")


def print_error(message: str) -> None:
    """Print ``Error: message`` on stderr; the message is shown as is (brackets are not styles)."""
    err.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, markup=True)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print ``Error: message`` on stderr and exit with ``code``."""
    print_error(message)
    raise typer.Exit(code)


def setup(config: Optional[Path], index: Optional[Path]) -> tuple["Config", Path]:
    """The config (``--config``, ``$RAGKIT_CONFIG`` or defaults) and the index folder to use."""
    from ragkit.config import load_config

    cfg = load_config(config)
    chosen = index or os.environ.get("RAGKIT_INDEX") or cfg.index
    return cfg, Path(chosen)
