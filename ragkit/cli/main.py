"""The ``ragkit`` command: parses arguments, calls the library, renders with rich. Nothing more.

Each command group lives in its own module with one ``register(app)``; this module builds the
app, registers them, and turns every :class:`~ragkit.errors.RagkitError` into a one-line error
and its exit code, in one place (:class:`RagkitGroup`). Exit codes: see :mod:`ragkit.errors`.

Start-up stays fast (``ragkit --help`` ≈ ``import typer``): command modules import their stage
inside the command body, and help is click's plain formatter — typer's rich panels import
markdown-it and cost more than the rest of ``--help`` together. tests/test_startup.py keeps it so.
"""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from ragkit import __version__
from ragkit.cli import ask as ask_commands
from ragkit.cli import eval as eval_commands
from ragkit.cli import ingest as ingest_commands
from ragkit.cli import search as search_commands
from ragkit.cli.common import fail, out
from ragkit.errors import EXIT_INTERRUPTED, RagkitError


class RagkitGroup(TyperGroup):
    """The command group; a RagkitError from any command ends as ``Error: …`` and its exit code.

    Anything else propagates: a bug shows as a traceback, never as a tidy message.
    """

    def invoke(self, ctx):  # noqa: ANN001 - click's signature
        try:
            return super().invoke(ctx)
        except RagkitError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)


# typer builds a pydantic TypeAdapter for every option whose value is None, even to pass the None
# through; the group's own flags default to None, so `ragkit <cmd> --help` would import pydantic
# (~0.1 s). A bool default for them skips that and changes nothing else.
_GROUP_FLAG_DEFAULTS = {"help": False, "install_completion": False, "show_completion": False}

app = typer.Typer(
    name="ragkit",
    cls=RagkitGroup,
    help="Point ragkit at a folder of documents, then search it — offline, with no key.\n\n"
    "\b\n  ragkit ingest sample_docs\n  ragkit search \"what is reciprocal rank fusion?\"",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"default_map": _GROUP_FLAG_DEFAULTS},
)


def _version(value: bool) -> None:
    if value:
        out.print(f"ragkit {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Show the version and exit.")) -> None:
    """ragkit: ingest a folder, then search it."""


for _commands in (ingest_commands, search_commands, ask_commands, eval_commands):
    _commands.register(app)
