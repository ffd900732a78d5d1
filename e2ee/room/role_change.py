"""What this member does when the roster gives it a (new) role (spec §12.2, §16.2, §16.4).

On admission and on every commit that changes our role: the chain counts as
confirmed now (spec §16.2), we ask the relay for the delivery class the
roster gives us (spec §12.2), and a member that went on stage broadcasts
its slot.  A new moderator asks everyone for their slots in that broadcast:
listeners only knew its slot from this very broadcast, so they could not
announce to it before, and it needs every slot to hand out re-key secrets
(spec §16.4).
"""

from __future__ import annotations

from e2ee.room.announce import Announcements
from e2ee.room.delivery import Delivery
from e2ee.room.liveness import QuietWatch
from e2ee.room.roster import Role, RosterState
from e2ee.room.state import SessionState


class RoleChange:
    """Delivery class, liveness and our announcement for a new role; owns no state."""

    __slots__ = ("_announcements", "_delivery", "_me", "_quiet")

    def __init__(
        self, me: bytes, quiet: QuietWatch, delivery: Delivery, announcements: Announcements
    ) -> None:
        self._me = me
        self._quiet = quiet
        self._delivery = delivery
        self._announcements = announcements

    def changed(
        self, role: Role, roster: RosterState, state: SessionState, slot: int | None, now: float
    ) -> None:
        """The roster gives us ``role`` now (on admission, too)."""
        self._quiet.heard(now)
        self._delivery.refresh(roster, self._me)
        if role.on_stage and slot is not None:
            self._announcements.to_room(state, slot, ask=role is Role.MODERATOR)
