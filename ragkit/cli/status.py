"""The status line ``ragkit ask`` and ``ragkit chat`` show until the answer starts (no silent wait).

Apart from :mod:`ragkit.cli.render` on purpose: that module imports the evaluation report and the
config (0.3 s), and this line must be on the screen well within a second of Enter.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ragkit.text import printable


class StatusLine:
    """What ``ragkit ask`` is doing until the answer starts: one transient line on a terminal, nothing elsewhere.

    "opening the index" -> "retrieving" -> "loading the model" -> "reading 5 sources", with a
    spinner, on stderr; :meth:`stop` (at the first answer token, or at the end) erases it, and
    later updates are ignored. Off the terminal (a pipe, a file, ``--json``) it prints nothing, so
    captured output holds only the answer.
    """

    def __init__(self, console: Console, enabled: bool = True):
        self.console = console
        self.active = enabled and console.is_terminal
        self.text = ""
        self._before_load = ""
        self._status = None

    def show(self, text: str) -> None:
        """Say what is happening now (a lowercase phrase, no final dots)."""
        if not self.active:
            return
        self.text = text
        shown = Text(printable(f"{text}…", one_line=True), style="dim")
        if self._status is None:
            self._status = self.console.status(shown, spinner="dots")
            self._status.start()
        else:
            self._status.update(shown)

    def model_loading(self, starting: bool) -> None:
        """The chat model's load hook (``ChatLLM.on_load``): "loading the model" while it loads."""
        if starting:
            self._before_load = self.text
            self.show("loading the model")
        elif self._before_load:
            self.show(self._before_load)

    def stop(self) -> None:
        """Erase the line for good: the answer is about to be written (or the command ends)."""
        if self._status is not None:
            self._status.stop()
            self._status = None
        self.active = False
