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
from e2ee.room.chair import MAX_QUEUED_OPS
from e2ee.room.knocks import MAX_PENDING_KNOCKS
from e2ee.room.roster import op_hand

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
    for i, payload in enumerate(flood):  # 1,500 identities knock from one slot within 1.4 s
        r.now = i * (1.4 / 1500)
        m.envelope_received(Envelope(EnvelopeType.CONTROL, m.room_tag, 77, payload), r.now)
        r.pump()
    allowed = PER_SLOT_BURST + 1.4 * PER_SLOT_RATE + 1
    assert len(m.members) - 1 <= allowed
    # everything over the slot's rate is dropped unopened, before any offer is made
    assert m.counters["join_request_limited"] >= 1500 - allowed
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
    r, mod, invite = founded("knock")
    m = mod.session
    joiners = []
    for wave in (range(MAX_PENDING_KNOCKS), range(MAX_PENDING_KNOCKS, MAX_PENDING_KNOCKS + 20)):
        for i in wave:
            s = RoomSession.join(new_identity(2000 + i), invite, f"J{i}", rng_for(2000 + i), r.now)
            joiners.append(r.attach(s))
        r.pump()  # each knocks, gets an offer, answers it with a fresh request (spec §13.3)
    assert len(m._admissions.requests) == MAX_PENDING_KNOCKS
    asked = [e for e in mod.events if isinstance(e, events.JoinRequested)]
    assert len(asked) == MAX_PENDING_KNOCKS + 20
    first = asked[0].request
    assert first not in m._admissions.requests  # the oldest was evicted
    assert joiners[0].session.state == "joining"
    mod.events.clear()
    r.advance(3.0)  # every waiting joiner knocks again on its retry timer
    r.pump()
    again = [e.request for e in mod.events if isinstance(e, events.JoinRequested)]
    assert first in again, "the evicted knocker's next request entered the table again"
    assert len(m._admissions.requests) == MAX_PENDING_KNOCKS


def test_the_chairs_op_queue_is_bounded() -> None:
    _, mod, _ = founded("open")
    m = mod.session
    m._chair.inflight = None
    m.slot = None  # cannot commit: ops wait in the queue
    for i in range(MAX_QUEUED_OPS + 50):
        m._chair.queue_op(op_hand(bytes([i % 256]) * 32, True))
    assert len(m._chair.queue) == MAX_QUEUED_OPS
    assert m.counters["op_queue_full"] == 50
