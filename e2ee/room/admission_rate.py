"""Rate limits on join requests a moderator processes (spec §16.7).

A join request costs a moderator an AEAD open, a certificate and a signature
check, and (when admitted) a commit and a sealed snapshot; in an open room it
also adds an identity to the roster.  Anyone holding the invite can send them,
so a moderator processes at most :data:`PER_SLOT_BURST` requests at once from
one relay slot, refilled at :data:`PER_SLOT_RATE` per second (an honest joiner
resends one every 3 s), and at most :data:`TOTAL_BURST` at once from all slots
together, refilled at :data:`TOTAL_RATE` per second.  Requests over the limit
are dropped unopened; the joiner's own retry brings them back later.
The per-slot table keeps at most :data:`MAX_SLOTS` slots (least recently
seen forgotten first).
"""

from __future__ import annotations

from dataclasses import dataclass

PER_SLOT_BURST = 4.0
PER_SLOT_RATE = 1.0
TOTAL_BURST = 10_000.0
TOTAL_RATE = 100.0
MAX_SLOTS = 4096


@dataclass
class _Bucket:
    """A token bucket: ``tokens`` as of time ``at``."""

    burst: float
    rate: float
    tokens: float
    at: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.at) * self.rate)
        self.at = max(self.at, now)
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class AdmissionRate:
    """Per-slot and total token buckets for incoming join requests (spec §16.7)."""

    def __init__(self, now: float) -> None:
        self._total = _Bucket(TOTAL_BURST, TOTAL_RATE, TOTAL_BURST, now)
        self._slots: dict[int, _Bucket] = {}

    def allow(self, slot: int, now: float) -> bool:
        """Whether one more join request from ``slot`` may be processed at ``now``."""
        bucket = self._slots.pop(slot, None)
        if bucket is None:
            bucket = _Bucket(PER_SLOT_BURST, PER_SLOT_RATE, PER_SLOT_BURST, now)
            while len(self._slots) >= MAX_SLOTS:
                del self._slots[next(iter(self._slots))]
        self._slots[slot] = bucket  # most recently seen last
        if not bucket.take(now):
            return False
        return self._total.take(now)
