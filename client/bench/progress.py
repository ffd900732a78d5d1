"""Progress of a running benchmark, on stderr: what phase, how many links, how long left.

On a terminal it is one line rewritten in place (cleared when the bench
ends); otherwise (a log file, a CI job) each phase is one plain line, and
updates within a phase at most one line per :data:`PLAIN_EVERY` seconds.
Standard output stays the result alone, so ``--json`` output parses.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

PLAIN_EVERY = 5.0
"""Seconds between two plain progress lines of one phase."""


class Progress:
    """``phase()`` starts a stage, ``update()`` says how it goes, ``done()`` ends."""

    def __init__(
        self,
        bench: str,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bench = bench
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self._clock = clock
        self._phase = ""
        self._last_plain = -PLAIN_EVERY
        self._width = 0

    def phase(self, name: str, detail: str = "") -> None:
        """A new stage of the bench (always shown)."""
        self._phase = name
        self._show(detail, force=True)

    def update(self, detail: str) -> None:
        """How the current stage goes: links up, seconds left, runs done."""
        self._show(detail, force=False)

    def countdown(self, seconds_left: float, detail: str = "") -> None:
        """An update that ends with the seconds left in this stage."""
        left = f"{max(0.0, seconds_left):.0f} s left"
        self.update(f"{detail}, {left}" if detail else left)

    def done(self) -> None:
        """The bench is over: a terminal's progress line is cleared."""
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def _show(self, detail: str, *, force: bool) -> None:
        line = f"bench {self.bench}: {self._phase}" + (f" — {detail}" if detail else "")
        if self.tty:
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._width = max(self._width, len(line))  # what the screen holds
        else:
            now = self._clock()
            if not force and now - self._last_plain < PLAIN_EVERY:
                return
            self._last_plain = now
            self.stream.write(line + "\n")
        self.stream.flush()
