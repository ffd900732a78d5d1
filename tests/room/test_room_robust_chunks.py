"""Chunk reassembly under hostile pieces (spec §13.1, §16.7): bounded, never crashes."""

from __future__ import annotations

import random

import pytest

from e2ee.envelope import Envelope, EnvelopeType
from e2ee.errors import RemoteProtocolError
from e2ee.room import RoomSession, seal
from e2ee.room.chunks import (
    MAX_BYTES,
    MAX_CHUNKS,
    MAX_TRANSFERS,
    TRANSFER_TIMEOUT,
    ChunkAssembler,
)

from .harness import Invite, Router, make_invite, new_identity, rng_for


def piece(tid: bytes, index: int, count: int, data: bytes) -> bytes:
    """A SEALED_CHUNK body (spec §13.1)."""
    return tid + index.to_bytes(2, "big") + count.to_bytes(2, "big") + data


def wire(invite: Invite, body: bytes) -> bytes:
    """``body`` as a chunk payload on the wire: under the admission key (spec §14.1)."""
    rng = random.Random(body).randbytes
    return seal.seal_admission(
        invite.admission_key, invite.room_id, body, rng, seal.Kind.SEALED_CHUNK
    )


FULL = b"\x00" * seal.CHUNK_DATA


def test_two_pieces_of_one_transfer_with_different_counts_do_not_kill_a_joiner() -> None:
    founder = new_identity(1)
    invite = make_invite(b"c" * 32, founder.public)
    r = Router()
    r.attach(RoomSession.create(founder, invite, "M", "knock", rng_for(1), 0.0))
    joiner = r.attach(RoomSession.join(new_identity(2), invite, "J", rng_for(2), 0.0))
    r.pump()
    s = joiner.session
    assert s.state == "joining"
    tid = b"T" * 8
    # pieces 2/3 then 1/2: the old code saw len(parts) == 2 == count and read parts[0]
    mod_slot = 0  # from the moderator's slot, not the joiner's own
    s.envelope_received(
        Envelope(EnvelopeType.UNICAST, s.room_tag, mod_slot, wire(invite, piece(tid, 2, 3, b"x"))),
        0,
    )
    s.envelope_received(
        Envelope(EnvelopeType.UNICAST, s.room_tag, mod_slot, wire(invite, piece(tid, 1, 2, b"y"))),
        0,
    )
    assert s.counters["malformed"] == 1
    assert s.state == "joining"
    r.pump()
    assert s.state == "joining"  # knock: still waiting, and alive


def test_a_member_drops_chunks_it_cannot_be_waiting_for() -> None:
    founder = new_identity(1)
    invite = make_invite(b"c" * 32, founder.public)
    s = RoomSession.create(founder, invite, "M", "open", rng_for(1), 0.0)
    for i in range(3):
        s.envelope_received(
            Envelope(
                EnvelopeType.UNICAST, s.room_tag, 9, wire(invite, piece(bytes([i]) * 8, 0, 2, FULL))
            ),
            0,
        )
    assert s.counters["unexpected_chunk"] == 3
    assert s._chunks.buffered_bytes == 0


def test_pieces_in_any_order_reassemble_and_a_repeat_does_not_double_count() -> None:
    blob = random.Random(5).randbytes(3 * seal.CHUNK_DATA + 123)
    pieces = seal.split_chunks(blob, b"t" * 8)
    order = [2, 0, 0, 3, 1]
    a = ChunkAssembler()
    out = [a.add(pieces[i], 0.0) for i in order]
    assert out[:-1] == [None] * 4
    assert out[-1] == blob
    assert a.buffered_bytes == 0 and a.transfers == 0


def test_count_mismatch_drops_the_transfer() -> None:
    a = ChunkAssembler()
    assert a.add(piece(b"a" * 8, 0, 3, FULL), 0.0) is None
    with pytest.raises(RemoteProtocolError):
        a.add(piece(b"a" * 8, 1, 2, FULL), 0.0)
    assert a.transfers == 0 and a.buffered_bytes == 0


def test_short_inner_piece_and_oversized_piece_are_refused() -> None:
    a = ChunkAssembler()
    with pytest.raises(RemoteProtocolError):
        a.add(piece(b"a" * 8, 0, 2, b"short"), 0.0)
    with pytest.raises(RemoteProtocolError):
        a.add(piece(b"a" * 8, 1, 2, FULL + b"!"), 0.0)
    with pytest.raises(RemoteProtocolError):
        a.add(piece(b"a" * 8, 0, MAX_CHUNKS + 1, FULL), 0.0)
    assert a.buffered_bytes == 0


def test_transfer_table_is_bounded_at_max_transfers() -> None:
    a = ChunkAssembler()
    for i in range(MAX_TRANSFERS + 5):
        a.add(piece(i.to_bytes(8, "big"), 1, 2, b"z"), 0.0)  # the last piece may be short
    assert a.transfers == MAX_TRANSFERS


def test_buffered_bytes_are_bounded_at_max_bytes() -> None:
    a = ChunkAssembler()
    n = 0
    for t in range(MAX_TRANSFERS):
        for i in range(MAX_CHUNKS - 1):  # never complete
            a.add(piece(t.to_bytes(8, "big"), i, MAX_CHUNKS, FULL), 0.0)
            n += 1
            assert a.buffered_bytes <= MAX_BYTES
    assert n * seal.CHUNK_DATA > 7 * MAX_BYTES  # far more was offered than is kept
    assert a.buffered_bytes > MAX_BYTES - 2 * MAX_CHUNKS * seal.CHUNK_DATA
    # a whole transfer of the maximum size still completes at the bound
    blob = random.Random(1).randbytes(MAX_CHUNKS * seal.CHUNK_DATA)
    results = [a.add(p, 0.0) for p in seal.split_chunks(blob, b"W" * 8)]
    assert results[-1] == blob


def test_transfers_expire_by_time() -> None:
    a = ChunkAssembler()
    a.add(piece(b"a" * 8, 0, 2, FULL), 10.0)
    assert a.next_expiry() == 10.0 + TRANSFER_TIMEOUT
    assert a.expire(10.0 + TRANSFER_TIMEOUT - 0.01) == 0
    assert a.expire(10.0 + TRANSFER_TIMEOUT) == 1
    assert a.buffered_bytes == 0 and a.next_expiry() is None


def test_session_timer_expires_a_stale_transfer() -> None:
    founder = new_identity(1)
    invite = make_invite(b"c" * 32, founder.public)
    s = RoomSession.join(new_identity(3), invite, "J", rng_for(3), 0.0)
    s.envelope_received(Envelope(EnvelopeType.WELCOME, s.room_tag, 4, b""), 0.0)
    s.envelope_received(
        Envelope(EnvelopeType.UNICAST, s.room_tag, 1, wire(invite, piece(b"q" * 8, 0, 2, FULL))),
        0.0,
    )
    assert s._chunks.transfers == 1
    timer = s.get_timer()
    assert timer is not None and timer <= TRANSFER_TIMEOUT
    s.handle_timer(TRANSFER_TIMEOUT)
    assert s._chunks.transfers == 0 and s.counters["chunk_transfer_expired"] == 1
