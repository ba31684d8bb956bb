"""What ingest reports: progress while it works (:class:`Progress`), and what it did (:class:`IngestReport`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol

from ragkit.errors import EXIT_OK, EXIT_PARTIAL
from ragkit.ingest.scan import name_as_text


class Progress(Protocol):
    """What ingest reports while it works (the CLI renders it; tests may record it)."""

    def start(self, stage: str, total: int) -> None:
        """A stage ("load", "embed") begins, with ``total`` items to do."""

    def advance(self, stage: str, amount: int = 1) -> None:
        """``amount`` more items of ``stage`` are done."""

    def grow(self, stage: str, amount: int) -> None:
        """``stage``'s total grows by ``amount`` (embedding starts before loading ends, so its total grows)."""

    def note(self, message: str) -> None:
        """A step without a count ("writing index")."""


class SilentProgress:
    """A Progress that shows nothing (the default)."""

    def start(self, stage: str, total: int) -> None:
        """Ignored."""

    def advance(self, stage: str, amount: int = 1) -> None:
        """Ignored."""

    def grow(self, stage: str, amount: int) -> None:
        """Ignored."""

    def note(self, message: str) -> None:
        """Ignored."""


@dataclass
class IngestReport:
    """What an ingest did; ``counts()`` is the summary users and scripts read."""

    index: str
    folder: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)       # {"source", "reason", "kept_previous"}
    skipped: list[dict] = field(default_factory=list)      # {"source", "reason"}
    chunks_embedded: int = 0
    chunks_total: int = 0
    files_total: int = 0
    generation: str | None = None
    rebuilt: bool = False
    notes: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    # Questions and summaries per chunk (ingest.questions / ingest.summaries): model calls, cache hits, unusable
    # replies, texts kept by kind, seconds (ragkit.ingest.multi_vector.Generated.to_json); empty when not asked for.
    generated: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Paths as valid text (undecodable bytes as \xNN): they are shown, and stored as JSON.
        self.index, self.folder = name_as_text(self.index), name_as_text(self.folder)

    def counts(self) -> dict:
        """The five counts: added / updated / unchanged / removed / failed."""
        return {name: len(getattr(self, name)) for name in ("added", "updated", "unchanged", "removed", "failed")}

    @property
    def exit_code(self) -> int:
        """0 when every file was indexed, 3 when some failed (a partial ingest)."""
        return EXIT_PARTIAL if self.failed else EXIT_OK

    def to_json(self) -> dict:
        """The summary for ``--json``: the counts at top level, then the details."""
        data = asdict(self)
        for name in ("added", "updated", "unchanged", "removed", "failed"):
            data[f"{name}_files"] = data.pop(name)
        return {**self.counts(), "skipped_count": len(self.skipped), **data, "exit_code": self.exit_code}
