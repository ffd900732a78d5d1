"""Which relay delivery class this member asks for (spec §8, §12.2, §17.2).

The relay sends audio to everyone and tells only the stage class that a
link is gone.  Stage members (speakers and moderators) take the stage class,
and so does the roster's deputy, which must notice when the last moderator's
link drops (spec §12.2); everyone else takes the audience class.  The class
is asked for in every JOIN (a new link asks again) and changed with
SET_CLASS when the roster changes what this member is; a SET_CLASS is sent
only on a change.
"""

from __future__ import annotations

from e2ee.envelope import DeliveryClass, EnvelopeType
from e2ee.room.outbox import Outbox
from e2ee.room.roster import RosterState


class Delivery:
    """The delivery class asked for, and the envelopes that ask for it (spec §17.2)."""

    __slots__ = ("_outbox", "current")

    def __init__(self, outbox: Outbox, current: DeliveryClass = DeliveryClass.AUDIENCE) -> None:
        self._outbox = outbox
        self.current = current

    def join(self) -> None:
        """JOIN the relay room under the current tag, asking for the current class (§8)."""
        self._outbox.send(EnvelopeType.JOIN, 0, bytes((self.current,)))

    def refresh(self, roster: RosterState, me: bytes) -> None:
        """Ask for the class the roster gives ``me`` now, if it is another one (§12.2)."""
        role = roster.role_of(me)
        stage = (role is not None and role.on_stage) or roster.deputy == me
        wanted = DeliveryClass.STAGE if stage else DeliveryClass.AUDIENCE
        if wanted is not self.current:
            self.current = wanted
            self._outbox.send(EnvelopeType.SET_CLASS, 0, bytes((wanted,)))
