"""Fuzz targets for the room decoders (spec §12–§16): admission payloads (knock, offer,
request) and the sealed join request, welcome and denial, commit, ops,
snapshot, control, beacon and the sealed room payload framings (including chunks).

Same contract as :mod:`targets_core`: decode or raise RemoteProtocolError, and
what decodes is bounded by its input and round-trips.  Keys and room ids come
from ``spec/vectors/room_*.json``, so the vectors' own messages are valid seeds.
"""

from __future__ import annotations

from functools import cache

from e2ee import canonical
from e2ee.errors import RemoteProtocolError
from e2ee.identity import SessionKey
from e2ee.room import keys, seal
from e2ee.room.admission import (
    AdmissionType,
    SealedType,
    decode_admission,
    decode_sealed,
    decode_verdict,
    parse_offer,
    request_sealed,
    verify_join_request,
)
from e2ee.room.commit import decode_commit, decode_snapshot
from e2ee.room.control import decode_beacon, parse_control, verify_control
from e2ee.room.roster import MAX_NAME_BYTES, MAX_OPS_PER_COMMIT, RosterState, parse_op

from .cursor import Cursor, require
from .vectors import hexval, load

ROOM_ID = hexval("room_payloads", "room_id")


@cache
def _base_roster() -> RosterState:
    """The roster of room_snapshot.json (two members, a raised hand, knock policy)."""
    return decode_snapshot(hexval("room_snapshot", "snapshot"), ROOM_ID).state


def _apply(ops: list[tuple[object, ...]]) -> None:
    """Apply ops to a copy of the base roster; the result must encode and parse back."""
    state = _base_roster().copy()
    try:
        state.apply_ops(ops)  # type: ignore[arg-type]
    except RemoteProtocolError:
        return
    fields = state.state_fields()
    again = RosterState.from_state_fields(canonical.decode_array(canonical.encode(fields), 8, "s"))
    require(again.state_fields() == fields, "applied roster does not round-trip")


def join_request(data: bytes) -> None:
    """decode_admission (spec §13.3): KNOCK, OFFER (certificate checked) and REQUEST framing;
    then the same bytes as a sealed JOIN_REQUEST (spec §13.4): certificate, name, signature."""
    try:
        kind, fields = decode_admission(data)
        if kind is AdmissionType.OFFER:
            parse_offer(fields)
        elif kind is AdmissionType.REQUEST:
            request_sealed(fields)
    except RemoteProtocolError:
        pass
    try:
        sealed_kind, fields = decode_sealed(data)
        if sealed_kind is SealedType.JOIN_REQUEST:
            req = verify_join_request(fields, ROOM_ID, bytes(32))
            require(len(req.name.encode("utf-8")) <= MAX_NAME_BYTES, "join request name too long")
    except RemoteProtocolError:
        return


def welcome(data: bytes) -> None:
    """decode_sealed then decode_verdict (spec §13.5): welcome, denial, rotation."""
    try:
        kind, fields = decode_sealed(data)
        if kind is not SealedType.JOIN_REQUEST:
            decode_verdict(kind, fields, ROOM_ID)
    except RemoteProtocolError:
        return


def roster_commit(data: bytes) -> None:
    """decode_commit (spec §12.3); a verified commit's ops are then applied to a real roster."""
    try:
        commit = decode_commit(data, ROOM_ID)
    except RemoteProtocolError:
        return
    require(len(commit.ops) <= MAX_OPS_PER_COMMIT, "too many ops")
    _apply(list(commit.ops))


def roster_ops(data: bytes) -> None:
    """parse_op + RosterState.apply_ops (spec §12.2): any moderator can sign any op list."""
    try:
        raw = canonical.decode(data)
        if not isinstance(raw, list) or len(raw) > MAX_OPS_PER_COMMIT:
            return
        ops = [parse_op(op) for op in raw]
    except RemoteProtocolError:
        return
    _apply(ops)


def snapshot(data: bytes) -> None:
    """decode_snapshot (spec §12.6), or (mode byte odd) the state fields alone.

    A moderator signs whatever snapshot it likes, so the state parser must hold
    on its own, behind a valid signature.
    """
    cur = Cursor(data)
    mode = cur.byte()
    body = cur.rest()
    try:
        if mode & 1:
            fields = canonical.decode(body)
            if not isinstance(fields, list):
                return
            state = RosterState.from_state_fields(fields)
            require(canonical.encode(state.state_fields()) == body, "state does not round-trip")
        else:
            decode_snapshot(body, ROOM_ID)
    except RemoteProtocolError:
        return


def control(data: bytes) -> None:
    """parse_control + verify_control (spec §14.2, §14.3), or (mode odd) decode_beacon (§16.2)."""
    cur = Cursor(data)
    mode = cur.byte()
    body = cur.rest()
    try:
        if mode & 1:
            decode_beacon(body, ROOM_ID)
        else:
            msg = parse_control(body)
            verify_control(msg, ROOM_ID, _member_session().public)
    except RemoteProtocolError:
        return


@cache
def _member_session() -> SessionKey:
    return SessionKey(hexval("room_payloads", "member_session_private"))


@cache
def _payload_keys() -> list[tuple[bytes, bytes]]:
    """(key, extra associated data) of every keyed payload framing in room_payloads.json."""
    rp = "room_payloads"
    return [
        (hexval(rp, "admission_key"), b""),
        (keys.control_key(hexval(rp, "K_0"), ROOM_ID), (0).to_bytes(4, "big")),
        (keys.control_key(hexval(rp, "K_1"), ROOM_ID), (1).to_bytes(4, "big")),
        (bytes.fromhex(load(rp)["pairwise"]["wrap_key"]), b""),
    ]


def room_payload(data: bytes) -> None:
    """The framings of spec §13.1, §14.1, §15.3 under the room_payloads.json keys.

    Tried as a receiver does: the hint under the admission key, C_0, C_1 and
    the pair wrap key, then the seal to the member's session key; a chunk's
    body is parsed as its header says.
    """
    try:
        for key, extra in _payload_keys():
            if seal.hint_matches(key, data):
                kind, body = seal.open_keyed(key, ROOM_ID, data, extra)
                if kind is seal.Kind.SEALED_CHUNK:
                    tid, index, count, piece = seal.parse_chunk(body)
                    require(len(tid) == 8 and 0 <= index < count, "chunk header out of range")
                    require(len(piece) < len(data), "chunk data larger than the payload")
                return
        seal.open_sealed(_member_session(), ROOM_ID, data)
    except RemoteProtocolError:
        return
