"""Errors the command line turns into one clear line and an exit status."""

from __future__ import annotations


class CliError(Exception):
    """A failure the user can act on: the message is shown as is, without a traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
