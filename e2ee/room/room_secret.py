"""The room secret a member holds, and moving the room to a new one (spec §6.4, §13.7).

The invite's room secret gives the relay room tag and the admission key
(spec §6.4).  A moderator rotates it so that removed members lose it: it
draws a new secret, seals a signed ROTATE to every other member whose slot
is known (the unreachable ones are counted, ``rotation_unreachable``: they
need the new invite out of band) and follows its own rotation.  A member
follows a ROTATE that verifies (:class:`~e2ee.room.rotation.Rotations`);
any other SEALED payload to a member is counted (``unexpected_welcome``).

Following a rotation is leaving the old room tag and joining the new one as
on a new link (:mod:`e2ee.room.relay_link`): what was queued for the old tag
(our own ROTATE copies, for one) still goes out under it, then a LEAVE of
the old tag, then the JOIN of the new one; every member, its author
included, emits ``RoomSecretRotated``.  The caller forgets its slot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from e2ee.envelope import EnvelopeType, encode_envelope
from e2ee.identity import IdentityKey
from e2ee.room import admission, rotation
from e2ee.room.admitting import Admissions
from e2ee.room.events import RoomSecretRotated
from e2ee.room.outbox import Outbox
from e2ee.room.relay_link import RelayLink
from e2ee.room.roster import RosterState
from e2ee.room.slots import Slots
from e2ee.room.state import SessionState


class RoomSecret:
    """The admission key we hold, rotations sent and followed (spec §13.7)."""

    __slots__ = (
        "_admissions", "_counters", "_identity", "_link", "_outbox", "_rng", "_room_id",
        "_rotations", "admission_key",
    )  # fmt: skip

    def __init__(
        self,
        identity: IdentityKey,
        room_id: bytes,
        admission_key: bytes,
        rng: Callable[[int], bytes],
        outbox: Outbox,
        counters: Counter[str],
        admissions: Admissions,
        link: RelayLink,
    ) -> None:
        self._identity = identity
        self._room_id = room_id
        self.admission_key = admission_key
        self._rng = rng
        self._outbox = outbox
        self._counters = counters
        self._admissions = admissions
        self._link = link
        self._rotations = rotation.Rotations()

    def received(self, payload: bytes, roster: RosterState, epoch: int) -> rotation.RoomKeys | None:
        """A member's SEALED payload: the new keys if it is a moderator's ROTATE."""
        kind, fields = admission.decode_sealed(payload)
        if kind is not admission.SealedType.ROTATE:
            self._counters["unexpected_welcome"] += 1
            return None
        return self._rotations.accept(fields, self._room_id, roster, epoch)

    def rotate(self, roster: RosterState, slots: Slots, epoch: int) -> rotation.RoomKeys:
        """Moderator: a new secret, sealed to every member we can reach; its keys."""
        new = rotation.derive(self._rng(32))
        pt = rotation.encode_rotation(self._identity, self._room_id, epoch, new.room_secret)
        me = self._identity.public
        sealed, unreachable = rotation.seal_to_members(
            pt, roster, me, slots, self._room_id, self._rng
        )
        if unreachable:
            self._counters["rotation_unreachable"] += unreachable
        for slot, payload in sealed:
            self._outbox.unicast(slot, payload)
        self._rotations.note_own(epoch)
        return new

    def switch(self, new: rotation.RoomKeys, state: SessionState) -> None:
        """Leave the old room tag and join the new secret's, as on a new link."""
        queued = self._outbox.envelopes[:]  # still for the old tag, e.g. our rotation copies
        old_tag = self._outbox.room_tag
        self._outbox.room_tag, self.admission_key = new.room_tag, new.admission_key
        self._admissions.new_room_secret()
        self._link.reset(state)  # an in-flight commit is queued again; JOIN on the new tag
        self._outbox.envelopes[:0] = [*queued, encode_envelope(EnvelopeType.LEAVE, old_tag, 0, b"")]
        self._outbox.events.append(RoomSecretRotated(new.room_secret))
