"""What a new moderator means to us: pair channels now, our slot if we listen (spec §15.3, §16.4).

Moderators reach members over pair channels (one X25519 per pair, spec
§15.3), so the channels are made when a commit promotes someone rather than
when the first re-key secret must go out: a member pairs with the new
moderator, and a new moderator (us) pairs with every other member.  A
listener announces its slot to the new moderator unasked (a stage member
broadcasts its slot anyway), since only then can the new moderator send it
re-key secrets (spec §16.4).
"""

from __future__ import annotations

from e2ee.room.announce import Announcements
from e2ee.room.pair_out import PairOut
from e2ee.room.roster import Role, RosterState
from e2ee.room.slots import Slots
from e2ee.room.state import SessionState


class Promotion:
    """Pair channels and announcements for a moderator just promoted; owns no state."""

    __slots__ = ("_announcements", "_me", "_pair_out", "_slots")

    def __init__(
        self, me: bytes, pair_out: PairOut, slots: Slots, announcements: Announcements
    ) -> None:
        self._me = me
        self._pair_out = pair_out
        self._slots = slots
        self._announcements = announcements

    def promoted(
        self, member: bytes, roster: RosterState, state: SessionState, slot: int | None
    ) -> None:
        """``member`` became a moderator in the commit just applied."""
        if member != self._me:
            self._pair_out.channel(roster, member)
            to = self._slots.get(member)
            if to is not None and slot is not None and roster.role_of(self._me) is Role.LISTENER:
                # the new moderator must be able to reach us with re-key secrets
                self._announcements.to_slot(to, state, slot, ask=False)
            return
        for other in roster.members:
            if other != self._me:
                self._pair_out.channel(roster, other)
