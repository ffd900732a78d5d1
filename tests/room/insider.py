"""What a payload is, as only a holder of the keys can tell (spec §14.1, §20).

Since payload version 2 the relay sees no kind byte.  Tests that need to
pick payloads by kind ("drop the re-key secrets", "hold the welcomes") use
this oracle, which opens a payload with one member's keys: it is what an
*insider* relay, one that also holds that member's keys, would need.
"""

from __future__ import annotations

from e2ee.errors import DecryptionFailed, RemoteProtocolError
from e2ee.frame import FrameSender
from e2ee.room import RoomSession, header_protection, hints, seal
from e2ee.sender_key import SenderKey
from e2ee.sframe_header import decode_header


def kind_of(member: RoomSession, payload: bytes) -> seal.Kind | None:
    """The kind of ``payload`` as ``member`` would open it now, or None if it cannot."""
    found = hints.find_key(payload, member._hint_candidates())
    try:
        if isinstance(found, hints.NoMatch):
            seal.open_sealed(member._session_key, member.room_id, payload)
            return seal.Kind.SEALED
        if isinstance(found, seal.PairChannel):
            return seal.Kind.PAIRWISE
        if isinstance(found, int):
            key = member._keys.control[found]
            return seal.open_epoch(key, member.room_id, found, payload)[0]
        return seal.open_keyed(member._admission_key, member.room_id, payload)[0]
    except DecryptionFailed:
        return None


def admission_kind(admission_key: bytes, room_id: bytes, payload: bytes) -> seal.Kind | None:
    """The kind of ``payload`` if it is under ``admission_key`` (anyone with the invite)."""
    if not seal.hint_matches(admission_key, payload):
        return None
    return seal.open_keyed(admission_key, room_id, payload)[0]


def hidden(key: SenderKey, frame: bytes) -> bytes:
    """A §11 frame under ``key`` in its wire form, as a key holder would send it (§15.4.1)."""
    return header_protection.hide_frame(frame, header_protection.header_key(key.secret))


def revealed(key: SenderKey, wire: bytes) -> bytes:
    """The §11 frame behind a wire frame, if ``key`` is its key (DecryptionFailed if not)."""
    hp = header_protection.header_key(key.secret)
    return header_protection.reveal_frame(wire, hp, key.kid % 8)


def hidden_proof(key: SenderKey, proof: bytes) -> bytes:
    """A §15.6 proof under ``key``'s epoch in its wire form (§15.4.1)."""
    return header_protection.hide_proof(proof, header_protection.header_key(key.secret))


def counter_of(key: SenderKey, wire: bytes) -> int | None:
    """The counter of a wire frame sent under ``key``, or None if it is not one."""
    try:
        return decode_header(revealed(key, wire))[1]
    except RemoteProtocolError:
        return None


class Forger:
    """Frames in ``member``'s name under a key an insider holds, in their wire form."""

    def __init__(self, key: SenderKey, room_id: bytes, member: bytes, counter: int) -> None:
        self.key = key
        self._tx = FrameSender(key, room_id=room_id, sender_id=member, next_counter=counter)

    def protect(self, payload: bytes) -> bytes:
        """The next forged frame, as the relay would carry it."""
        return hidden(self.key, self._tx.protect(payload))
