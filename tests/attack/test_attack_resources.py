"""Nothing the relay delivers may kill or bloat a client (spec §18, issue 9 items 1-4).

Promise: any byte sequence the relay delivers is processed or counted; no
exception other than the session's own error types leaves ``RoomSession``;
every buffer, table and reply has a bound.
"""

from __future__ import annotations

import gc
import random
import struct
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from attack.scene import build
from e2ee.envelope import HEADER_LEN, Envelope, EnvelopeType
from e2ee.errors import HushroomError
from e2ee.room import RoomSession, seal
from e2ee.room.control import ControlType, sign_control

CHUNK_HEAD = struct.Struct(">B8sHH")  # kind, transfer id, index, count (spec §13.4)
MIB = 1024 * 1024


@contextmanager
def only_own_errors() -> Iterator[None]:
    """The promise itself: an exception that is not the session's own is a violation."""
    try:
        yield
    except HushroomError:
        raise
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__} escaped RoomSession: {exc!r:.200}") from exc


def retained_bytes(session: RoomSession, feed: Callable[[], Iterator[Envelope]]) -> int:
    """Heap the session keeps after being fed the envelopes ``feed`` makes."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    with only_own_errors():
        for env in feed():
            session.envelope_received(env, 1.0)
            session.data_to_send()
            while session.next_event() is not None:
                pass
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return held


def test_chunks_with_mismatched_counts_are_counted_not_raised() -> None:
    room = build(listeners=1)
    tid = b"T" * 8
    for index, count in ((2, 3), (1, 2)):  # both valid alone; together 2 of 2 arrived
        payload = CHUNK_HEAD.pack(seal.Kind.SEALED_CHUNK, tid, index, count) + b"x" * 10
        room.relay.inject_as(room.speaker, room.listener, EnvelopeType.UNICAST, payload)
    with only_own_errors():
        room.relay.pump()
    assert room.listener.session.state == "member"
    assert sum(room.listener.session.counters.values()) > 0


def test_two_hundred_fifty_commits_released_in_reverse_order_are_applied() -> None:
    room = build(listeners=2)
    late, hand = room.listeners
    hold = room.relay.withhold(to=late, authored=["commit"])
    for _ in range(125):
        hand.session.raise_hand()
        room.relay.pump()
        hand.session.lower_hand()
        room.relay.pump()
    assert len(hold.held) == 250
    hold.release(reverse=True)
    with only_own_errors():
        room.relay.pump()
    assert late.session.head == room.moderator.session.head


def test_junk_under_future_epochs_holds_bounded_memory() -> None:
    room = build(listeners=1)
    session, tag = room.listener.session, room.invite.room_tag
    src = room.speaker.slot
    assert src is not None
    rng = random.Random(7)

    def junk() -> Iterator[Envelope]:
        for i in range(512):  # 32 MiB, each claiming an epoch nobody has reached
            body = struct.pack(">I", 10_000 + i) + rng.randbytes(64 * 1024)
            yield Envelope(EnvelopeType.CONTROL, tag, src, bytes((seal.Kind.COMMIT,)) + body)

    held = retained_bytes(session, junk)
    assert held <= 8 * MIB, f"{held / MIB:.1f} MiB held from 32 MiB of junk"


def test_never_completed_chunk_transfers_hold_bounded_memory() -> None:
    room = build(listeners=0, policy="knock")
    joiner = room.join("Joiner")  # not approved: it waits for a chunked welcome
    session, tag = joiner.session, room.invite.room_tag
    rng = random.Random(8)

    def chunks() -> Iterator[Envelope]:
        for i in range(128):  # 8 transfers x 16 of 64 parts x 250 kB: none completes
            head = CHUNK_HEAD.pack(seal.Kind.SEALED_CHUNK, bytes([i % 8]) * 8, i // 8, 64)
            yield Envelope(EnvelopeType.UNICAST, tag, 0, head + rng.randbytes(250_000))

    assert session.state == "joining"
    held = retained_bytes(session, chunks)
    assert held <= 8 * MIB, f"{held / MIB:.1f} MiB held from 32 MB of chunks"


def test_a_sync_request_is_not_an_amplifier() -> None:
    room = build(listeners=2)
    asker, hand = room.listeners
    for _ in range(21):  # 42 epochs of log
        hand.session.raise_hand()
        room.relay.pump()
        hand.session.lower_hand()
        room.relay.pump()
    s, mod = asker.session, room.moderator.session
    # a modified listener asks to be caught up from epoch 0 (it knows that head: it is public)
    signed = sign_control(
        s._identity, s._session_key.public, s.room_id, ControlType.SYNC_REQUEST,
        10_000, 0, mod._chain.heads[0], [],
    )  # fmt: skip
    payload = seal.seal_epoch(
        seal.Kind.CONTROL, s._keys.control[s.epoch], s.room_id, s.epoch, signed, s._rng
    )
    assert room.moderator.slot is not None
    request = Envelope(EnvelopeType.UNICAST, s.room_tag, room.moderator.slot, payload)
    mark = len(room.relay.seen)
    room.relay.client_sends(asker, request)
    room.relay.pump()
    reply = sum(
        HEADER_LEN + len(d.env.payload)
        for d in room.relay.seen[mark:]
        if d.src is room.moderator and d.to is asker
    )
    asked = HEADER_LEN + len(payload)
    assert reply <= 8 * asked, f"{reply} bytes out for {asked} in ({reply / asked:.0f}x)"
