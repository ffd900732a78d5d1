"""Rotating the room secret so that a ban sticks (spec §13.7).

A moderator draws a new 32-byte room secret and seals it to each remaining
member's session key (kind 0x05)::

    ROTATE = [2, 4, moderator_id, body, signature]
             body = canonical([epoch, room_secret])

signed like a welcome (spec §13.5) with type byte 4, once for all members (the
seal binds each copy to its recipient).  ``epoch`` is the
moderator's epoch when it rotated.  Every member then derives the new room tag
and admission key (spec §6.4; the room id and founder do not change), leaves
the old tag and joins the new one.  A removed member, who never receives the
new secret, is left on a tag nobody uses.

:class:`Rotations` keeps the epoch of the last rotation a member followed, so
a recorded rotation replayed later (which would move the room back to a
secret the removed member knows) is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from e2ee import canonical, identity, kdf
from e2ee.canonical import Value
from e2ee.errors import ErrorCode, RemoteProtocolError
from e2ee.invite import ADMISSION_KEY_LEN, ROOM_SECRET_LEN, ROOM_TAG_LEN
from e2ee.room import admission, seal
from e2ee.room.commit import MAX_EPOCH
from e2ee.room.roster import RosterState
from e2ee.room.slots import Slots


@dataclass(frozen=True, slots=True)
class RoomKeys:
    """The relay-facing keys of one room secret (spec §6.4)."""

    room_secret: bytes
    room_tag: bytes
    admission_key: bytes


def derive(room_secret: bytes) -> RoomKeys:
    """``room_tag`` and ``admission_key`` of a room secret (spec §6.4)."""
    return RoomKeys(
        room_secret,
        kdf.hkdf(kdf.ROOM_TAG, room_secret, ROOM_TAG_LEN),
        kdf.hkdf(kdf.ADMISSION_KEY, room_secret, ADMISSION_KEY_LEN),
    )


def encode_rotation(
    moderator: identity.IdentityKey, room_id: bytes, epoch: int, room_secret: bytes
) -> bytes:
    """``[2, 4, moderator_id, body, signature]`` (spec §13.7)."""
    body: list[Value] = [epoch, room_secret]
    return admission.encode_verdict(moderator, room_id, admission.SealedType.ROTATE, body)


def seal_to_members(
    pt: bytes,
    roster: RosterState,
    me: bytes,
    slots: Slots,
    room_id: bytes,
    rng: Callable[[int], bytes],
) -> tuple[list[tuple[int, bytes]], int]:
    """A ROTATE sealed to each other member whose slot is known: ``(slot, payload)``
    pairs, and how many members could not be reached (they need the new invite)."""
    out: list[tuple[int, bytes]] = []
    unreachable = 0
    for mid, member in roster.members.items():
        if mid == me:
            continue
        slot = slots.get(mid)
        if slot is None:
            unreachable += 1
        else:
            out.append((slot, seal.seal_to(member.session_key, room_id, pt, rng)))
    return out, unreachable


class Rotations:
    """The epoch of the last rotation this member followed (spec §13.7)."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last = -1

    def note_own(self, epoch: int) -> None:
        """We rotated at ``epoch``."""
        self._last = epoch

    def accept(
        self,
        fields: list[Value],
        room_id: bytes,
        roster: RosterState,
        my_epoch: int,
    ) -> RoomKeys:
        """Verify a ROTATE from a current moderator; return the new keys (spec §13.7).

        UNAUTHORIZED unless the signer is a moderator in our roster and the
        epoch is newer than the last rotation we followed and not ahead of ours.
        """
        moderator, body = admission.decode_verdict(admission.SealedType.ROTATE, fields, room_id)
        if not roster.is_moderator(moderator):
            raise RemoteProtocolError("rotation not from a moderator", ErrorCode.UNAUTHORIZED)
        epoch = canonical.expect_int(body[0], "rotation epoch", 0, MAX_EPOCH)
        secret = canonical.expect_bytes(body[1], "room secret", ROOM_SECRET_LEN)
        if not self._last < epoch <= my_epoch:
            raise RemoteProtocolError("stale rotation", ErrorCode.UNAUTHORIZED)
        self._last = epoch
        return derive(secret)
