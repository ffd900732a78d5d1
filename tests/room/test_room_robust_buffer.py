"""Held-back payloads (spec §14.3, §16.7): bounded in entries and bytes, drained iteratively."""

from __future__ import annotations

import random
from collections.abc import Callable

from e2ee.envelope import Envelope, EnvelopeType
from e2ee.room import RoomSession, seal
from e2ee.room.pending import MAX_BYTES, MAX_ENTRIES, MAX_PAYLOAD, PendingPayloads
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


def test_junk_for_far_epochs_does_not_evict_payloads_for_near_ones() -> None:
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
    for i in range(MAX_ENTRIES + 100):  # a flood claiming later epochs
        body = bytes((seal.Kind.CONTROL,)) + (s.epoch + 5 + i % 50).to_bytes(4, "big")
        s.envelope_received(
            Envelope(EnvelopeType.CONTROL, s.room_tag, 99, body + junk.randbytes(60)), r.now
        )
    assert len(s._buffer) == MAX_ENTRIES
    assert s.counters["buffer_overflow"] == 101  # the pending commit was never evicted
    s.envelope_received(held[0], r.now)
    assert s.epoch == mod.session.epoch and s.head == mod.session.head


def test_pending_store_at_its_entry_bound() -> None:
    p = PendingPayloads()
    for i in range(MAX_ENTRIES):
        assert p.add(7, EnvelopeType.CONTROL, 1, bytes([i % 256]) * 40) == 0
    assert len(p) == MAX_ENTRIES
    assert p.add(7, EnvelopeType.CONTROL, 1, b"new" * 10) == 1  # oldest of epoch 7 evicted
    assert len(p) == MAX_ENTRIES
    assert p.add(9, EnvelopeType.CONTROL, 1, b"far") == 1  # further than all held: refused
    assert p.add(3, EnvelopeType.CONTROL, 1, b"near") == 1  # nearer: evicts from epoch 7
    assert len(p) == MAX_ENTRIES and p.epochs() == [3, 7]
    assert p.take(3) == [(EnvelopeType.CONTROL, 1, b"near")]
    taken = p.take(7)
    assert len(taken) == MAX_ENTRIES - 1 and taken[-1][2] == b"new" * 10
    assert len(p) == 0 and p.buffered_bytes == 0


def test_pending_store_at_its_byte_bound() -> None:
    p = PendingPayloads()
    big = b"\x01" * MAX_PAYLOAD
    for _ in range(MAX_BYTES // MAX_PAYLOAD):
        assert p.add(1, EnvelopeType.CONTROL, 1, big) == 0
    assert p.buffered_bytes == MAX_BYTES
    assert p.add(1, EnvelopeType.CONTROL, 1, b"x") == 1
    assert p.buffered_bytes == MAX_BYTES - MAX_PAYLOAD + 1
    assert p.add(0, EnvelopeType.CONTROL, 1, big + b"!") == 1  # over the per-payload bound
    assert p.buffered_bytes == MAX_BYTES - MAX_PAYLOAD + 1
