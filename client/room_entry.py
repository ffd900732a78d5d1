"""Entering a room: the sans-IO session for an invite, and whether anyone is in the room.

:func:`make_room` builds the ``e2ee.room.RoomSession`` for an invite, as its
founder (a new room at epoch 0) or as a joiner.  :func:`room_occupied` asks
the relay whether the invite's room has any link in it, so that a founder who
comes back rejoins the room its members are still in instead of opening a
second one beside it (docs/client.md, "Rooms that outlive their founder").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import trio

from client.errors import CliError
from client.session import Connect, LinkFailed
from e2ee.envelope import (
    DeliveryClass,
    EnvelopeType,
    RelayErrorCode,
    encode_envelope,
    parse_error,
)
from e2ee.errors import HushroomError
from e2ee.identity import IdentityKey
from e2ee.invite import Invite
from e2ee.room.session import RoomSession

PROBE_TIMEOUT = 5.0
"""Seconds to wait for the relay's answer to the occupancy probe."""


@dataclass(frozen=True)
class RoomKeys:
    """The invite as ``RoomSession`` wants it (its ``RoomInvite`` protocol, spec §6.4)."""

    room_tag: bytes
    admission_key: bytes
    room_id: bytes
    founder: bytes

    @classmethod
    def of(cls, invite: Invite) -> RoomKeys:
        derived = invite.secrets()
        return cls(
            derived.room_tag, derived.admission_key, derived.room_id, invite.founder_identity
        )

    def __repr__(self) -> str:
        return "RoomKeys(<secret>)"


def make_room(
    identity: IdentityKey,
    invite: Invite,
    name: str,
    *,
    create: bool,
    policy: str,
    rng: Callable[[int], bytes],
    now: float,
) -> RoomSession:
    """Create (founder) or join the room of ``invite``."""
    keys = RoomKeys.of(invite)
    try:
        if create:
            return RoomSession.create(identity, keys, name, policy, rng, now)
        return RoomSession.join(identity, keys, name, rng, now)
    except HushroomError as exc:
        raise CliError(f"cannot enter the room: {exc}") from None


async def room_occupied(connect: Connect, invite: Invite) -> bool:
    """True if some link is in the invite's relay room (spec §17.1, §17.2).

    One short link JOINs the room tag with delivery class stage, which makes
    the relay list every occupied slot (PEER_JOINED) right after its WELCOME,
    then PINGs: the PONG comes after the whole list, as the relay answers
    envelopes in order.  It LEAVEs at once; the members see one more slot come
    and go, which is all any JOIN shows them.  The probe learns only what the
    relay already tells every stage member: how many slots are occupied.  A
    room the relay refuses as full (ROOM_FULL) is occupied too.
    """
    tag = RoomKeys.of(invite).room_tag
    link = await connect()
    try:
        await link.send(
            encode_envelope(EnvelopeType.JOIN, tag, 0, bytes((DeliveryClass.STAGE,)))
            + encode_envelope(EnvelopeType.PING, tag, 0, b"")
            + encode_envelope(EnvelopeType.LEAVE, tag, 0, b"")
        )
        peers = 0
        with trio.move_on_after(PROBE_TIMEOUT):
            while True:
                for env in await link.receive():
                    if env.type is EnvelopeType.PEER_JOINED and env.room_tag == tag:
                        peers += 1
                    elif env.type is EnvelopeType.ERROR and env.room_tag == tag:
                        code, reason = parse_error(env)
                        if code != RelayErrorCode.ROOM_FULL:
                            raise LinkFailed(f"the relay refused to look: {reason}")
                        peers += 1  # full: certainly occupied
                    elif env.type is EnvelopeType.PONG:
                        return peers > 0
        raise LinkFailed(f"the relay did not answer within {PROBE_TIMEOUT:g} s")
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(1):
            await link.aclose()
