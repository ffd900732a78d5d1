"""Noticing that the relay hides the room from us (spec §16.2, §16.5).

A relay that withholds every commit and beacon from one member leaves it on
an old epoch without any error.  So a member that has applied no commit and
heard no member confirm its own current head (in a control message or a
beacon) for ``period`` seconds warns its user; the warning repeats once per
period while the silence lasts.  Beacons (spec §16.2) arrive every
``head_beacon`` seconds in a healthy room, so the period is a few of them.
"""

from __future__ import annotations


class QuietWatch:
    """When the chain was last confirmed, and whether that is too long ago."""

    def __init__(self, now: float, period: float) -> None:
        self._last = now
        self.period = period

    def heard(self, now: float) -> None:
        """A commit was applied or a member confirmed our current head at ``now``."""
        self._last = max(self._last, now)

    def deadline(self) -> float:
        """When the silence becomes an alert."""
        return self._last + self.period

    def overdue(self, now: float) -> bool:
        """True (once per period) if nothing confirmed the chain for ``period`` seconds."""
        if now < self.deadline():
            return False
        self._last = now
        return True
