"""Held-back payloads (spec §14.3, §16.7): bounded in entries and bytes, drained iteratively."""

from __future__ import annotations

import random
from collections.abc import Callable

from e2ee.envelope import Envelope, EnvelopeType
from e2ee.room import RoomSession, seal
from e2ee.room.pending import MAX_BYTES, MAX_ENTRIES, MAX_KEYS, MAX_PAYLOAD, PendingPayloads
from e2ee.room.roster import Policy, op_policy

from .harness import Link, Router, make_invite, new_identity, rng_for


def intercept(link: Link, hold: Callable[[Envelope], bool]) -> list[Envelope]:
    """Make the relay withhold from ``link`` every envelope ``hold`` picks; return them."""
    held: list[Envelope] = []
    deliver = link.session.envelope_received

    def filtered(env: Envelope, now: float) -> None:
        if hold(env):
            held.append(env)
        else:
            deliver(env, now)

    link.session.envelope_received = filtered  # type: ignore[method-assign]
    return held


def two_member_room(seed: int = 7) -> tuple[Router, Link, Link]:
    founder = new_identity(seed)
    invite = make_invite(bytes([seed]) * 32, founder.public)
    r = Router()
    mod = r.attach(RoomSession.create(founder, invite, "M", "open", rng_for(seed), 0.0))
    r.pump()
    member = r.attach(RoomSession.join(new_identity(seed + 1), invite, "A", rng_for(seed + 1), 0.0))
    r.pump()
    assert member.session.state == "member"
    return r, mod, member


def test_thousand_held_back_commits_released_in_reverse_order_all_apply() -> None:
    r, mod, member = two_member_room()
    held = intercept(member, lambda env: env.type is EnvelopeType.CONTROL)
    start = member.session.epoch
    n = 1200
    for i in range(n):
        mod.session._moderator_action([op_policy(Policy.KNOCK if i % 2 else Policy.OPEN)])
        r.pump()
    assert mod.session.epoch == start + n
    assert len(held) == n and member.session.epoch == start
    del member.session.envelope_received  # the relay stops withholding
    for env in reversed(held):
        member.session.envelope_received(env, r.now)
    assert (member.session.epoch, member.session.head) == (mod.session.epoch, mod.session.head)
    assert member.session.roster_digest() == mod.session.roster_digest()
    assert len(member.session._buffer) == 0


def test_a_junk_flood_up_to_the_bound_does_not_evict_a_held_commit() -> None:
    r, mod, member = two_member_room()
    s = member.session
    held = intercept(member, lambda env: env.type is EnvelopeType.CONTROL)
    mod.session._moderator_action([op_policy(Policy.KNOCK)])
    r.pump()
    mod.session._moderator_action([op_policy(Policy.OPEN)])
    r.pump()
    del s.envelope_received
    s.envelope_received(held[1], r.now)  # the second commit first: it waits for epoch 2's key
    junk = random.Random(3)
    room_for = MAX_ENTRIES - len(s._buffer)
    for _ in range(room_for):  # payload-sized junk: nobody can tell it from a payload
        s.envelope_received(
            Envelope(EnvelopeType.CONTROL, s.room_tag, 99, junk.randbytes(304)), r.now
        )
    assert len(s._buffer) == MAX_ENTRIES and s.counters["buffer_overflow"] == 0
    s.envelope_received(held[0], r.now)
    assert s.epoch == mod.session.epoch and s.head == mod.session.head


def payload(rng: random.Random, size: int = 304) -> bytes:
    return rng.randbytes(size)


def test_pending_store_at_its_entry_bound() -> None:
    p = PendingPayloads()
    rng = random.Random(1)
    key = bytes(32)
    wanted = seal.seal_keyed(key, bytes(32), seal.Kind.CONTROL, b"x", rng.randbytes)
    assert p.add(EnvelopeType.CONTROL, 1, wanted) == 0
    for _ in range(MAX_ENTRIES - 1):
        assert p.add(EnvelopeType.CONTROL, 1, payload(rng)) == 0
    assert len(p) == MAX_ENTRIES
    assert p.add(EnvelopeType.CONTROL, 1, payload(rng)) == 1  # the oldest is evicted
    assert len(p) == MAX_ENTRIES
    p.key_arrived(key)
    assert p.next_released() is None  # it was the oldest
    p.add(EnvelopeType.UNICAST, 2, wanted)
    p.key_arrived(bytes(31) + b"\x01")
    p.key_arrived(key)
    assert p.next_released() == [(EnvelopeType.UNICAST, 2, wanted)]
    assert p.next_released() is None and len(p) == MAX_ENTRIES - 1


def test_pending_store_at_its_byte_bound() -> None:
    p = PendingPayloads()
    big = b"\x01" * MAX_PAYLOAD
    for _ in range(MAX_BYTES // MAX_PAYLOAD):
        assert p.add(EnvelopeType.CONTROL, 1, big) == 0
    full = p.buffered_bytes
    assert full > MAX_BYTES - MAX_PAYLOAD
    assert p.add(EnvelopeType.CONTROL, 1, big) == 1
    assert p.buffered_bytes == full
    assert p.add(EnvelopeType.CONTROL, 1, big + b"!") == 1  # over the per-payload bound
    assert p.buffered_bytes == full


def test_arrived_keys_waiting_to_be_tried_are_bounded() -> None:
    p = PendingPayloads()
    rng = random.Random(2)
    keys = [rng.randbytes(32) for _ in range(MAX_KEYS + 1)]
    held = [seal.seal_keyed(k, bytes(32), seal.Kind.CONTROL, b"x", rng.randbytes) for k in keys]
    for payload in held:
        p.add(EnvelopeType.CONTROL, 1, payload)
    for key in keys:
        p.key_arrived(key)
    released = []
    while (out := p.next_released()) is not None:
        released += [h[2] for h in out]
    assert released == held[1:], "the oldest arrived key beyond the bound is not tried"
    assert len(p) == 1
