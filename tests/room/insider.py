"""What a payload is, as only a holder of the keys can tell (spec §14.1, §20).

Since payload version 2 the relay sees no kind byte.  Tests that need to
pick payloads by kind ("drop the re-key secrets", "hold the welcomes") use
this oracle, which opens a payload with one member's keys: it is what an
*insider* relay, one that also holds that member's keys, would need.
"""

from __future__ import annotations

from e2ee.errors import DecryptionFailed
from e2ee.room import RoomSession, hints, seal


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
