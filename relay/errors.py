"""The relay's own errors: what its operator sees as one line, never a traceback."""

from __future__ import annotations


class RelaySetupError(Exception):
    """The relay cannot run as asked (bad address, port in use, unusable state directory).

    The message is shown as is; ``exit_code`` is the process exit status.
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
