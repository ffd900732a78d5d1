"""What the relay tells us of links: ours welcomed or replaced, a peer's come or gone (spec §16.4).

The relay's WELCOME gives our link its slot: the slot we held before is
forgotten and the new one recorded as ours, a joiner broadcasts its KNOCK
(spec §13.2), a member announces the slot (spec §16.4), and the head beacon
runs from the first link on (spec §16.2).  A new link (the old one dropped,
or the room moved to a new room secret, spec §13.7) starts empty: envelopes
not yet sent and welcome pieces are dropped, an in-flight commit of ours is
queued again (its echo will not come back), our unechoed broadcasts are
forgotten, and an active session JOINs the relay room again with its
delivery class (spec §17.2).  The caller forgets its slot until the next
WELCOME.

When a peer's link joins, a moderator asks it for its slot with an ANNOUNCE.
When the relay says a link is gone, everyone forgets the slot.  The notice
is unauthenticated, so the chair (and the deputy, for a moderator) only
starts the member's absence timer and probes the old slot with an ANNOUNCE
that asks for a reply; the member's next fresh signed control message
cancels the timer (spec §12.2, §16.4).
"""

from __future__ import annotations

from e2ee.room.announce import Announcements
from e2ee.room.chair import Chair, is_chair
from e2ee.room.chunks import ChunkAssembler
from e2ee.room.delivery import Delivery
from e2ee.room.knocking import Knocking
from e2ee.room.outbox import Outbox
from e2ee.room.roster import RosterState
from e2ee.room.slots import Slots
from e2ee.room.state import SessionState
from e2ee.room.take_over import TakeOver
from e2ee.room.timers import Timers


class RelayLink:
    """A relay link welcomed or replaced (spec §8, §16.4); owns no state."""

    __slots__ = (
        "_announcements", "_chair", "_chunks", "_delivery", "_knocking", "_me", "_outbox",
        "_slots", "_take_over", "_timers",
    )  # fmt: skip

    def __init__(
        self,
        me: bytes,
        outbox: Outbox,
        slots: Slots,
        chunks: ChunkAssembler,
        chair: Chair,
        delivery: Delivery,
        knocking: Knocking,
        announcements: Announcements,
        timers: Timers,
        take_over: TakeOver,
    ) -> None:
        self._me = me
        self._outbox = outbox
        self._slots = slots
        self._chunks = chunks
        self._chair = chair
        self._delivery = delivery
        self._knocking = knocking
        self._announcements = announcements
        self._timers = timers
        self._take_over = take_over

    def welcomed(
        self,
        old: int | None,
        slot: int,
        state: SessionState,
        roster: RosterState | None,
        admission_key: bytes,
        now: float,
    ) -> None:
        """The relay's WELCOME moved our link from slot ``old`` to ``slot``."""
        self._slots.drop_own(self._me, old)
        self._slots.set(self._me, slot)
        if state is SessionState.JOINING:
            self._knocking.send(admission_key, now)
        elif state is SessionState.MEMBER:
            assert roster is not None
            self._announcements.ours(state, slot, roster)
        self._timers.link_up(now)

    def reset(self, state: SessionState) -> None:
        """A new link is up: start it empty and JOIN again if still active."""
        self._outbox.envelopes.clear()
        self._chunks.clear()
        self._chair.requeue()  # its echo will not come back on the new link
        self._outbox.echoes.clear()
        if state.active:
            self._delivery.join()

    def peer_joined(
        self, to: int, state: SessionState, slot: int | None, roster: RosterState | None
    ) -> None:
        """A link joined at slot ``to``: a moderator asks it for its owner's slot."""
        if roster is not None and roster.is_moderator(self._me) and slot is not None:
            self._announcements.to_slot(to, state, slot, ask=True)

    def peer_left(
        self,
        gone: int,
        state: SessionState,
        slot: int | None,
        roster: RosterState | None,
        now: float,
    ) -> None:
        """The relay says the link at slot ``gone`` is gone (unauthenticated)."""
        owner = self._slots.release(gone)
        if owner is None or owner == self._me or slot is None or roster is None:
            return
        chairing = is_chair(roster, self._me, self._slots.__contains__, None)
        if self._take_over.link_gone(owner, roster, chairing, now):
            self._announcements.to_slot(gone, state, slot, ask=True)
