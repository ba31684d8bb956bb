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

# typer 0.29 vendors click as typer._click and exports only BadParameter of its exceptions.
from typer._click.exceptions import NoArgsIsHelpError
from typer._click.exceptions import UsageError as ClickUsageError
from typer.core import TyperCommand, TyperGroup

from ragkit import __version__
from ragkit.cli import ask as ask_commands
from ragkit.cli import eval as eval_commands
from ragkit.cli import ingest as ingest_commands
from ragkit.cli import models as models_commands
from ragkit.cli import search as search_commands
from ragkit.cli.common import fail, out
from ragkit.errors import EXIT_INTERRUPTED, EXIT_USAGE, RagkitError


def usage_failure(exc: ClickUsageError):
    """A command line click refused (unknown option, bad choice, missing argument): one line, exit 2."""
    command = exc.ctx.command_path if exc.ctx is not None else "ragkit"
    message = exc.format_message().replace("Value error, ", "")   # pydantic's prefix, from typer's choice check
    fail(f"{message} (see '{command} -h')", EXIT_USAGE)


class RagkitCommand(TyperCommand):
    """A command whose help names its arguments as click does: ``ragkit ask [OPTIONS] QUESTION``.

    Typer writes a required argument as ``{question}`` in the usage line and adds its Python type
    (``QUESTION <str>``) in the list; the metavar alone says it better.
    """

    def collect_usage_pieces(self, ctx):  # noqa: ANN001 - click's signature
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = param.metavar or param.name.upper()
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx, formatter):  # noqa: ANN001 - click's signature
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((param.metavar or param.name.upper(), record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class RagkitGroup(TyperGroup):
    """The command group; a RagkitError from any command ends as ``Error: …`` and its exit code,
    and so does a command line click refuses (exit 2), as one line like every other error.

    Anything else propagates: a bug shows as a traceback, never as a tidy message.
    """

    def make_context(self, info_name, args, parent=None, **extra):  # noqa: ANN001 - click's signature
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except NoArgsIsHelpError:
            raise   # bare `ragkit` shows the help
        except ClickUsageError as exc:
            usage_failure(exc)

    def invoke(self, ctx):  # noqa: ANN001 - click's signature
        try:
            return super().invoke(ctx)
        except NoArgsIsHelpError:
            raise
        except ClickUsageError as exc:
            usage_failure(exc)
        except RagkitError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)


# typer builds a pydantic TypeAdapter for every option whose value is None, even to pass the None
# through; the group's own flags default to None, so `ragkit <cmd> --help` would import pydantic
# (~0.1 s). A bool default for them skips that and changes nothing else.
_GROUP_FLAG_DEFAULTS = {"help": False, "install_completion": False, "show_completion": False}
# -h as well as --help, on every command (click passes the names on to each command's context).
_CONTEXT = {"default_map": _GROUP_FLAG_DEFAULTS, "help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="ragkit",
    cls=RagkitGroup,
    help="Point ragkit at a folder of documents, then search it — offline, with no key.\n\n"
    "\b\n  ragkit ingest sample_docs\n  ragkit search \"what is reciprocal rank fusion?\"\n"
    "  ragkit ask \"how does reciprocal rank fusion score a document?\"\n\n"
    "Run 'ragkit COMMAND -h' for a command's options and examples.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings=_CONTEXT,
)


def _version(value: bool) -> None:
    if value:
        out.print(f"ragkit {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Show the version and exit.")) -> None:
    """ragkit: ingest a folder, then search it."""


for _commands in (ingest_commands, search_commands, ask_commands, eval_commands, models_commands):
    _commands.register(app)
for _info in app.registered_commands:
    if _info.cls in (None, TyperCommand):
        _info.cls = RagkitCommand
