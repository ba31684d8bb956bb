"""Every error ragkit raises on purpose, and the exit code each maps to. Imports nothing.

The CLI turns a :class:`RagkitError` into a one-line ``Error: <message>`` and exits with the
error's ``exit_code`` (in one place, :mod:`ragkit.cli.main`). Anything else that escapes is a
bug and shows as one (a traceback), never as a tidy message.
"""

from __future__ import annotations

# Exit codes, as the README lists them.
EXIT_OK = 0
EXIT_ERROR = 1          # nothing changed
EXIT_USAGE = 2          # the command line itself is wrong
EXIT_PARTIAL = 3        # some files failed to ingest, some batch queries were malformed, some eval runs failed
EXIT_INTERRUPTED = 130  # Ctrl-C

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_ERROR: "error (nothing changed)",
    EXIT_USAGE: "usage error",
    EXIT_PARTIAL: "partial (some files, queries or runs failed)",
    EXIT_INTERRUPTED: "interrupted",
}


class RagkitError(Exception):
    """An error the user can act on; ``str(error)`` is a one-line message that says how."""

    exit_code = EXIT_ERROR


class UsageError(RagkitError):
    """The command line asks for something impossible (two exclusive arguments, none of them, …)."""

    exit_code = EXIT_USAGE


class MissingExtra(UsageError):
    """A setting needs an optional part of ragkit (an extra) that is not installed; the message names it (exit 2)."""


class ConfigError(RagkitError):
    """A config file (or a setting) that is missing, malformed or wrong; the message says where."""


class EvalConfigError(ConfigError):
    """A bad eval config; the message names the file, the line when known, and the key."""


class DatasetError(RagkitError):
    """An evaluation data set that cannot be used (missing file, malformed line, empty)."""


class FolderError(RagkitError):
    """The folder given to ingest is unusable (missing, not a directory, unreadable)."""


class LoadError(RagkitError):
    """One file that could not be loaded; ``str(error)`` is the one-line reason. Ingest goes on."""


class StoreError(RagkitError):
    """An index problem (missing, locked, damaged, incompatible); the message says what to do."""


class RemoteIndexError(StoreError):
    """A remote index (Pinecone) that refused a request, cannot be reached, or does not match the settings;
    the message names the setting or variable to fix and never holds the API key."""


class IndexMissing(StoreError):
    """No index at the given path yet."""


class IndexEmpty(StoreError):
    """The index holds no documents: nothing was ingested into it (an empty folder, or every file failed)."""


class IndexLocked(StoreError):
    """Another writer holds the index."""


class EmbedderMismatch(StoreError):
    """The index was built with a different embedder than the one asked for."""


class EmbedderError(RagkitError):
    """An embedder that cannot be built or used; the message names the setting to fix."""


class LLMError(RagkitError):
    """A model call that cannot be made; the message names the setting to fix and never holds a key."""


class RerankError(RagkitError):
    """A reranker that cannot be built or whose answer cannot be used (unreachable, HTTP error, wrong shape);
    the message names the setting to fix and never holds a key. Retrieval falls back to the fused order."""


class SearchError(RagkitError):
    """A query that cannot be run (empty, bad mode, k or filter)."""


class FilterError(SearchError):
    """A ``--filter`` that cannot be applied (a malformed key)."""


class GenerationError(RagkitError):
    """A question that cannot be answered as asked (empty, too long for the model, no model for the chain)."""


class OutOfTime(GenerationError):
    """The ask's wall-clock budget (``ask.budget_seconds``) ran out before the model finished; the chains catch
    it and quote the sources instead, so it reaches no user."""


class MetricError(RagkitError):
    """A metric asked for with bad arguments (unknown name, bad cutoff, a run listing a document twice)."""


class SettingError(ConfigError):
    """One config setting that is wrong. ``keypath`` names it (``("search", "mode")``; empty for the
    whole file) and ``reason`` is the one-line message without the file, so a caller that knows
    where the setting came from (an eval config's line) can point there instead."""

    def __init__(self, message: str, keypath: tuple = (), reason: str | None = None):
        super().__init__(message)
        self.keypath = tuple(keypath)
        self.reason = message if reason is None else reason


class IndexDamaged(StoreError):
    """A file of an index generation is damaged: missing, or its size, checksum, content or counts
    differ from what its manifest recorded. ``file`` names it (relative to the index folder)."""

    def __init__(self, file: str, what: str):
        super().__init__(f"index damaged: {file} ({what}); run `ragkit ingest --rebuild`")
        self.file = file
        self.what = what
