"""A moderator's admission challenges: what makes a join request fresh (spec §13.4).

A moderator answers a KNOCK from slot ``s`` with an OFFER carrying a random
16-byte challenge, and acts on a JOIN_REQUEST from ``s`` only if it signs the
challenge most recently offered to ``s``, at most :data:`CHALLENGE_LIFETIME`
seconds ago, not yet answered.  A challenge is spent by the first request that
verifies, so a recorded request replayed later names a spent (or unknown)
challenge and is dropped after one table lookup, before any signature check,
snapshot or commit.

The table holds at most :data:`MAX_CHALLENGES` slots; a new slot past the bound
evicts the oldest entry (whose knocker simply knocks again).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

CHALLENGE_LEN = 16
CHALLENGE_LIFETIME = 30.0
MAX_CHALLENGES = 256


class Gate:
    """Outstanding challenges by slot (spec §13.4)."""

    __slots__ = ("_by_slot", "_rng")

    def __init__(self, rng: Callable[[int], bytes]) -> None:
        self._rng = rng
        self._by_slot: OrderedDict[int, tuple[bytes, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_slot)

    def challenge_for(self, slot: int, now: float) -> bytes:
        """The slot's outstanding challenge, or a new one (a repeated KNOCK reuses it)."""
        entry = self._by_slot.get(slot)
        if entry is not None and now - entry[1] <= CHALLENGE_LIFETIME:
            return entry[0]
        challenge = self._rng(CHALLENGE_LEN)
        self._by_slot.pop(slot, None)
        self._by_slot[slot] = (challenge, now)
        while len(self._by_slot) > MAX_CHALLENGES:
            self._by_slot.popitem(last=False)
        return challenge

    def is_outstanding(self, slot: int, challenge: bytes, now: float) -> bool:
        """True if ``challenge`` is the live, unanswered one offered to ``slot``."""
        entry = self._by_slot.get(slot)
        return entry is not None and entry[0] == challenge and now - entry[1] <= CHALLENGE_LIFETIME

    def spend(self, slot: int) -> None:
        """The slot's request verified: its challenge can never be used again."""
        self._by_slot.pop(slot, None)
