"""Pair messages out: sealed on a member's current pair channel, sent to its slot (spec §15.3).

Re-key secrets, syncs and snapshots go to one member over the pair channel
with its current session (:class:`e2ee.room.pairs.Pairs`: one X25519 per
pair, made on first use).  A channel made now is also a key that payloads
held for a missing key may be under (spec §14.3), so the held payloads are
told.  A member whose slot is unknown is not sent anything: it catches up
through a sync when it announces itself (spec §16.4).
"""

from __future__ import annotations

from collections.abc import Callable

from e2ee.room.outbox import Outbox
from e2ee.room.pairs import Pairs
from e2ee.room.pending import PendingPayloads
from e2ee.room.roster import RosterState
from e2ee.room.seal import PairChannel
from e2ee.room.slots import Slots

Rng = Callable[[int], bytes]


class PairOut:
    """Our pair channels as a way to reach members (spec §15.3); owns no state."""

    __slots__ = ("_held", "_outbox", "_pairs", "_rng", "_slots")

    def __init__(
        self, rng: Rng, outbox: Outbox, slots: Slots, pairs: Pairs, held: PendingPayloads
    ) -> None:
        self._rng = rng
        self._outbox = outbox
        self._slots = slots
        self._pairs = pairs
        self._held = held

    def channel(self, roster: RosterState, member: bytes) -> PairChannel:
        """The one channel with ``member``'s current session; a new one releases held payloads."""
        ch, new = self._pairs.channel(member, roster.members[member].session_key)
        if new and self._held:
            self._held.key_arrived(ch.key)
        return ch

    def send(self, roster: RosterState, member: bytes, pt: bytes) -> None:
        """Seal ``pt`` to ``member`` and send it to its slot, if known (spec §15.3)."""
        slot = self._slots.get(member)
        if slot is not None:
            self._outbox.unicast(slot, self.channel(roster, member).seal(pt, self._rng))
