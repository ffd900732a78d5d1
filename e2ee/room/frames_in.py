"""Audio frames in: from a current stage member's slot only (spec §15.4, §15.6).

Anti-ghosting: a MEDIA payload counts only while we are a member and only
from the relay slot of a member the roster has on stage now
(:meth:`~e2ee.room.media.Media.sender_of`); anything else is dropped
unopened.  Opening, replay and speaker authentication are the media
module's; what it hears is either an event for the driver or a sender still
on an epoch we left, which goes to :mod:`e2ee.room.stale_senders`.
"""

from __future__ import annotations

from e2ee.room.chain import Chain
from e2ee.room.epochs import EpochKeys
from e2ee.room.media import Media, StaleSender
from e2ee.room.outbox import Outbox
from e2ee.room.roster import RosterState
from e2ee.room.slots import Slots
from e2ee.room.stale_senders import StaleSenders
from e2ee.room.state import SessionState


class FramesIn:
    """MEDIA payloads to events and stale-sender handling (spec §15.4); owns no state."""

    __slots__ = ("_chain", "_keys", "_me", "_media", "_outbox", "_slots", "_stale")

    def __init__(
        self,
        me: bytes,
        media: Media,
        slots: Slots,
        keys: EpochKeys,
        chain: Chain,
        stale: StaleSenders,
        outbox: Outbox,
    ) -> None:
        self._me = me
        self._media = media
        self._slots = slots
        self._keys = keys
        self._chain = chain
        self._stale = stale
        self._outbox = outbox

    def received(
        self, src: int, payload: bytes, state: SessionState, roster: RosterState | None, now: float
    ) -> None:
        """A MEDIA payload from relay slot ``src``."""
        if state is not SessionState.MEMBER or roster is None:
            return
        member = self._media.sender_of(src, self._slots, roster)
        if member is None:
            return
        role = roster.role_of(self._me)
        on_stage = role is not None and role.on_stage
        for item in self._media.heard(
            member, payload, now, self._keys, self._chain.epoch, on_stage
        ):
            if isinstance(item, StaleSender):
                self._stale.heard(item, roster, now)
            else:
                self._outbox.events.append(item)
