"""Join-request floods (spec §13.3, §16.7): rate-limited per slot and in total, knocks bounded."""

from __future__ import annotations

from e2ee.envelope import Envelope, EnvelopeDecoder, EnvelopeType
from e2ee.room import RoomSession, events
from e2ee.room.admission_rate import (
    PER_SLOT_BURST,
    PER_SLOT_RATE,
    TOTAL_BURST,
    TOTAL_RATE,
    AdmissionRate,
)
from e2ee.room.knocks import MAX_PENDING_KNOCKS
from e2ee.room.roster import op_hand
from e2ee.room.session import MAX_QUEUED_OPS

from .harness import Invite, Link, Router, make_invite, new_identity, rng_for


def join_request(invite: Invite, seed: int) -> bytes:
    """A real join request payload, as a fresh session sends it on the relay's WELCOME."""
    s = RoomSession.join(new_identity(seed), invite, f"J{seed}", rng_for(seed), 0.0)
    s.envelope_received(Envelope(EnvelopeType.WELCOME, s.room_tag, 9000, b""), 0.0)
    sent = EnvelopeDecoder().feed(s.data_to_send())
    return next(e.payload for e in sent if e.type is EnvelopeType.CONTROL)


def founded(policy: str) -> tuple[Router, Link, Invite]:
    founder = new_identity(70)
    invite = make_invite(b"a" * 32, founder.public)
    r = Router()
    mod = r.attach(RoomSession.create(founder, invite, "M", policy, rng_for(70), 0.0))
    r.pump()
    return r, mod, invite


def test_one_slot_cannot_flood_an_open_room_with_identities() -> None:
    r, mod, invite = founded("open")
    m = mod.session
    flood = [join_request(invite, 1000 + i) for i in range(1500)]
    for i, payload in enumerate(flood):  # 1,500 identities from one slot within 1.4 s
        r.now = i * (1.4 / 1500)
        m.envelope_received(Envelope(EnvelopeType.CONTROL, m.room_tag, 77, payload), r.now)
        r.pump()
    admitted = len(m.members) - 1
    assert admitted <= PER_SLOT_BURST + 1.4 * PER_SLOT_RATE + 1
    assert m.counters["join_request_limited"] >= 1500 - admitted
    # an honest joiner on another slot is still admitted during the flood
    honest = r.attach(RoomSession.join(new_identity(5), invite, "H", rng_for(5), r.now))
    r.pump()
    assert honest.session.state == "member"


def test_admission_rate_at_its_bounds() -> None:
    rate = AdmissionRate(0.0)
    assert [rate.allow(1, 0.0) for _ in range(6)] == [True] * int(PER_SLOT_BURST) + [False] * 2
    assert rate.allow(1, 1.0 / PER_SLOT_RATE)  # one token back after 1 / rate seconds
    assert not rate.allow(1, 1.0 / PER_SLOT_RATE)
    total = AdmissionRate(0.0)
    allowed = sum(total.allow(slot, 0.0) for slot in range(int(TOTAL_BURST) + 10))
    assert allowed == int(TOTAL_BURST)
    assert not total.allow(10**6, 0.0)
    assert total.allow(10**6 + 1, 1.0 / TOTAL_RATE)


def test_pending_knocks_are_bounded_and_an_evicted_knocker_comes_back() -> None:
    _, mod, invite = founded("knock")
    m = mod.session
    requests = [join_request(invite, 2000 + i) for i in range(MAX_PENDING_KNOCKS + 20)]
    for i, payload in enumerate(requests):
        m.envelope_received(Envelope(EnvelopeType.CONTROL, m.room_tag, 100 + i, payload), 0.0)
    assert len(m._requests) == MAX_PENDING_KNOCKS
    asked = [e for e in iter(m.next_event, None) if isinstance(e, events.JoinRequested)]
    assert len(asked) == MAX_PENDING_KNOCKS + 20
    first = asked[0].request
    assert first not in m._requests  # the oldest was evicted
    m.envelope_received(Envelope(EnvelopeType.CONTROL, m.room_tag, 100, requests[0]), 3.0)
    assert first in m._requests and len(m._requests) == MAX_PENDING_KNOCKS


def test_the_chairs_op_queue_is_bounded() -> None:
    _, mod, _ = founded("open")
    m = mod.session
    m._inflight = None
    m.slot = None  # cannot commit: ops wait in the queue
    for i in range(MAX_QUEUED_OPS + 50):
        m._queue_op(op_hand(bytes([i % 256]) * 32, True))
    assert len(m._queue) == MAX_QUEUED_OPS
    assert m.counters["op_queue_full"] == 50
