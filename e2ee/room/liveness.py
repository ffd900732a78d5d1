"""Noticing that the relay hides the room from us (spec §15.5, §16.2, §16.5).

A relay that withholds every commit and beacon from one member leaves it on
an old epoch without any error.  So a member that has applied no commit and
heard no member confirm its own current head (in a control message or a
beacon) for ``period`` seconds warns its user; the warning repeats once per
period while the silence lasts.  Beacons (spec §16.2) arrive every
``head_beacon`` seconds in a healthy room, so the period is a few of them.
For as long as the silence lasts the member is *isolated*: a speaker stops
sending audio (spec §15.5), since it cannot know whether a removal it has not
seen has re-keyed the room.
"""

from __future__ import annotations


class QuietWatch:
    """When the chain was last confirmed, and whether that is too long ago."""

    def __init__(self, now: float, period: float) -> None:
        self._confirmed = now  # the last commit applied or head confirmed
        self._warned = now  # the last warning, or the last confirmation
        self.period = period

    def heard(self, now: float) -> None:
        """A commit was applied or a member confirmed our current head at ``now``."""
        self._confirmed = max(self._confirmed, now)
        self._warned = max(self._warned, now)

    def deadline(self) -> float:
        """When the silence becomes an alert (again)."""
        return self._warned + self.period

    def overdue(self, now: float) -> bool:
        """True (once per period) if nothing confirmed the chain for ``period`` seconds."""
        if now < self.deadline():
            return False
        self._warned = now
        return True

    def isolated(self, now: float) -> bool:
        """Whether nothing has confirmed the chain for ``period`` seconds up to ``now``."""
        return now >= self._confirmed + self.period
