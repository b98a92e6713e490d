"""Errors that the CLI turns into one-line messages (no traceback)."""

from __future__ import annotations


class EdgekitError(Exception):
    """A problem the user can fix: bad input, missing tool, unreachable device.

    ``message`` says what is wrong, ``hint`` what to do; ``exit_code`` is 2 for usage
    and input errors unless a command documents otherwise.
    """

    def __init__(self, message: str, hint: str | None = None, exit_code: int = 2):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def one_line(self) -> str:
        text = self.message.rstrip(".")
        if self.hint:
            text += f" — {self.hint.rstrip('.')}"
        return " ".join(text.split())
