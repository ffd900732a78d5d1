"""How much and how often a moderator answers sync requests (spec §16.4, §16.7).

A sync request names the requester's epoch, which the moderator cannot check:
a member can claim epoch 0 to be sent the whole commit log.  So a reply is at
most :data:`MAX_SYNC_COMMITS` commits and :data:`MAX_SYNC_BYTES` bytes of
commits (a member further behind is sent a snapshot instead), a member gets
at most one reply per :data:`SYNC_INTERVAL` seconds and at most one snapshot
per :data:`SNAPSHOT_INTERVAL` seconds, and requests that arrive in between are
merged into one deferred reply (for the oldest epoch asked for) sent when the
interval ends (:data:`SNAPSHOT_ASKED`, below every epoch, merges as "send a
snapshot").  The pacer tracks at most :data:`MAX_TRACKED` members.
"""

from __future__ import annotations

MAX_SYNC_COMMITS = 64
MAX_SYNC_BYTES = 64 * 1024
SYNC_INTERVAL = 1.0
SNAPSHOT_INTERVAL = 10.0
MAX_TRACKED = 8192
SNAPSHOT_ASKED = -1  # the "epoch" of a member whose claim earns only a snapshot (§16.4)


class SyncPacer:
    """Per-member pacing of sync replies (spec §16.7); owns only its own tables."""

    def __init__(self) -> None:
        self._next: dict[bytes, float] = {}  # member -> earliest time of its next reply
        self._deferred: dict[bytes, int] = {}  # member -> oldest epoch it asked for meanwhile

    def request(self, member: bytes, their_epoch: int, now: float) -> bool:
        """A request arrived: True if it may be answered now, else it is deferred."""
        if now >= self._next.get(member, now):
            self._deferred.pop(member, None)
            return True
        prev = self._deferred.get(member)
        self._deferred[member] = their_epoch if prev is None else min(prev, their_epoch)
        return False

    def sent(self, member: bytes, now: float, snapshot: bool) -> None:
        """A reply (a snapshot if ``snapshot``) went to ``member`` at ``now``."""
        self._next.pop(member, None)
        if len(self._next) >= MAX_TRACKED:
            for m in [m for m, t in self._next.items() if t <= now and m not in self._deferred]:
                del self._next[m]
            while len(self._next) >= MAX_TRACKED:
                oldest = next(iter(self._next))
                del self._next[oldest]
                self._deferred.pop(oldest, None)
        self._next[member] = now + (SNAPSHOT_INTERVAL if snapshot else SYNC_INTERVAL)

    def next_due(self) -> float | None:
        """When the earliest deferred reply may go out, or None."""
        return min((self._next[m] for m in self._deferred), default=None)

    def due(self, now: float) -> list[tuple[bytes, int]]:
        """Deferred ``(member, epoch)`` replies whose interval has ended; removes them."""
        ready = [(m, e) for m, e in self._deferred.items() if now >= self._next[m]]
        for m, _ in ready:
            del self._deferred[m]
        return ready

    def forget(self, member: bytes) -> None:
        """``member`` left the roster."""
        self._next.pop(member, None)
        self._deferred.pop(member, None)
