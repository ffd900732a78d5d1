"""Members the relay says are gone, waiting for proof of life (spec §16.4).

PEER_LEFT is an unauthenticated notice, so the chair does not believe it at
once: it starts one timer per member and probes the member's old slot.  A
fresh control message signed by the member (spec §14.3) cancels the timer;
one that runs out means the member is removed.  The caller starts timers for
roster members only, so the table holds at most one entry per roster member.
"""

from __future__ import annotations


class AbsenceTimers:
    """Member id -> when its absence becomes a removal."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._due: dict[bytes, float] = {}

    def __len__(self) -> int:
        return len(self._due)

    def start(self, member: bytes, now: float) -> None:
        """The relay reported ``member``'s link gone at ``now``; a running timer is kept."""
        self._due.setdefault(member, now + self.timeout)

    def cancel(self, member: bytes) -> None:
        """``member`` proved it is alive, or left the roster: no removal."""
        self._due.pop(member, None)

    def next_due(self) -> float | None:
        """When the earliest timer fires, or None."""
        return min(self._due.values()) if self._due else None

    def due(self, now: float) -> list[bytes]:
        """Members whose timer fired by ``now``, in a fixed order; their timers end."""
        fired = sorted(m for m, t in self._due.items() if now >= t)
        for m in fired:
            del self._due[m]
        return fired

    def __contains__(self, member: object) -> bool:
        """Whether ``member``'s timer is running."""
        return member in self._due
