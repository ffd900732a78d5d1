"""Join requests must be fresh: a replayed one changes nothing and costs almost nothing (§13.3).

The relay records every admission payload a member's link sends and replays
them later, stamped with the old slot or the member's current one.
"""

from __future__ import annotations

from e2ee.envelope import Envelope, EnvelopeDecoder, EnvelopeType
from e2ee.identity import IdentityKey, SessionKey
from e2ee.room import Role, RoomSession, admission, events, seal
from e2ee.room.commit import sign_commit
from e2ee.room.gate import CHALLENGE_LEN, CHALLENGE_LIFETIME, MAX_CHALLENGES, Gate
from e2ee.room.joiner import MAX_ANSWERS_PER_KNOCK, MAX_TRUSTED, Joiner
from e2ee.room.roster import op_role

from .admission_util import founded_room, of
from .harness import Invite, Link, Router, make_invite, new_identity, rng_for
from .insider import admission_kind

SECRET = bytes([9]) * 32

JOIN_REQUEST = seal.Kind.JOIN_REQUEST


def tap(session: RoomSession) -> list[Envelope]:
    """Record every envelope ``session`` hands to the relay, as the relay sees them."""
    seen: list[Envelope] = []
    decoder = EnvelopeDecoder()
    inner = session.data_to_send

    def recording() -> bytes:
        data = inner()
        seen.extend(decoder.feed(data))
        return data

    session.data_to_send = recording  # type: ignore[method-assign]
    return seen


def admission_payloads(seen: list[Envelope], invite: Invite) -> list[Envelope]:
    """The admission messages among ``seen``: what anyone holding the invite can pick out."""
    kinds = (EnvelopeType.CONTROL, EnvelopeType.UNICAST)
    return [
        e
        for e in seen
        if e.type in kinds
        and admission_kind(invite.admission_key, invite.room_id, e.payload) is JOIN_REQUEST
    ]


def replay(r: Router, mod: Link, recorded: list[Envelope], slots: list[int]) -> None:
    for slot in slots:
        for env in recorded:
            mod.session.envelope_received(
                Envelope(env.type, env.room_tag, slot, env.payload), r.now
            )
            r.pump()


def session_key_of(mod: Link, member: bytes) -> bytes:
    assert mod.session.roster is not None
    return mod.session.roster.members[member].session_key


def test_a_replayed_request_cannot_replace_a_live_speakers_session() -> None:
    r, invite, mod = founded_room("open", SECRET)
    x_id = new_identity(30)
    first = RoomSession.join(x_id, invite, "X", rng_for(30), r.now)
    recorded = tap(first)
    old = r.attach(first)
    r.pump()
    assert first.state == "member"
    old_slot = first.slot
    assert old_slot is not None
    r.drop_link(old)
    # X comes back in a new session (new session key) and goes on stage.
    x = r.attach(RoomSession.join(x_id, invite, "X", rng_for(31), r.now))
    r.pump()
    mod.session.invite_to_speak(x_id.public)
    r.pump()
    x.session.accept_invitation()
    r.pump()
    live_key = session_key_of(mod, x_id.public)
    assert x.session.role is Role.SPEAKER and live_key != first._session_key.public
    epoch = mod.session.epoch
    assert x.session.slot is not None
    replay(r, mod, admission_payloads(recorded, invite), [old_slot, x.session.slot])
    assert mod.session.epoch == epoch, "no commit"
    assert session_key_of(mod, x_id.public) == live_key
    assert x.session.state == "member" and x.session.role is Role.SPEAKER
    assert not of(x, events.Removed)
    # each replay is dropped: stale, or over the slot's admission rate before it is opened
    c = mod.session.counters
    assert c["stale_join_request"] + c["join_request_limited"] >= 2


def test_a_replayed_request_does_not_readmit_a_member_who_left_a_knock_room() -> None:
    r, invite, mod = founded_room("knock", SECRET)
    s = RoomSession.join(new_identity(30), invite, "X", rng_for(30), r.now)
    recorded = tap(s)
    x = r.attach(s)
    r.pump()
    mod.session.approve(of(mod, events.JoinRequested)[0].request)
    r.pump()
    assert s.state == "member"
    slot = s.slot
    assert slot is not None
    s.leave()
    r.pump()
    r.advance(3.0)
    assert s.me not in mod.session.members
    epoch = mod.session.epoch
    replay(r, mod, admission_payloads(recorded, invite), [slot, slot + 100])
    assert s.me not in mod.session.members and mod.session.epoch == epoch
    assert len(of(mod, events.JoinRequested)) == 1, "not even asked again"
    assert x.session.state == "left"


def test_a_replayed_request_costs_the_moderator_no_snapshot() -> None:
    r, invite, mod = founded_room("open", SECRET)
    for i in range(30):
        r.attach(RoomSession.join(new_identity(40 + i), invite, f"M{i}", rng_for(40 + i), r.now))
    s = RoomSession.join(new_identity(30), invite, "X", rng_for(30), r.now)
    seen = tap(s)
    r.attach(s)
    r.pump()
    assert s.state == "member" and len(mod.session.members) == 32
    recorded = admission_payloads(seen, invite)
    out = tap(mod.session)
    epoch = mod.session.epoch
    assert s.slot is not None
    for _ in range(10):
        replay(r, mod, recorded, [s.slot])
    assert mod.session.epoch == epoch
    sealed = [e for e in out if e.payload[:1] in (b"\x05", b"\x06")]
    assert not sealed, "no welcome, hence no snapshot, was built or sent"
    offers = admission_payloads(out, invite)
    assert all(e.type is EnvelopeType.UNICAST for e in offers)
    assert sum(len(e.payload) for e in out) <= 10 * 400, "at most a small offer per replay"
    # every replayed payload is dropped (stale, or over the slot's admission rate
    # before it is opened) or, for a replayed knock, answered with one offer
    c = mod.session.counters
    dropped = c["stale_join_request"] + c["join_request_limited"]
    assert dropped + len(offers) == 10 * len(recorded)


# -- bounds -------------------------------------------------------------------


def test_gate_keeps_at_most_its_bound_and_evicts_the_oldest() -> None:
    gate = Gate(rng_for(1))
    first = gate.challenge_for(0, 0.0)
    for slot in range(1, MAX_CHALLENGES):
        gate.challenge_for(slot, 0.0)
    assert len(gate) == MAX_CHALLENGES and gate.is_outstanding(0, first, 0.0)
    last = gate.challenge_for(MAX_CHALLENGES, 0.0)
    assert len(gate) == MAX_CHALLENGES
    assert not gate.is_outstanding(0, first, 0.0), "the oldest went"
    assert gate.is_outstanding(MAX_CHALLENGES, last, 0.0)


def test_gate_challenge_lives_its_lifetime_once() -> None:
    gate = Gate(rng_for(2))
    c = gate.challenge_for(5, 10.0)
    assert len(c) == CHALLENGE_LEN
    assert gate.challenge_for(5, 11.0) == c, "a repeated knock gets the same challenge"
    assert gate.is_outstanding(5, c, 10.0 + CHALLENGE_LIFETIME)
    assert not gate.is_outstanding(5, c, 10.0 + CHALLENGE_LIFETIME + 0.01)
    assert not gate.is_outstanding(6, c, 10.0), "bound to the slot it was offered to"
    gate.spend(5)
    assert not gate.is_outstanding(5, c, 10.0)
    assert gate.challenge_for(5, 12.0) != c


def sent(session: RoomSession) -> list[Envelope]:
    return list(EnvelopeDecoder().feed(session.data_to_send()))


def test_a_request_after_the_challenge_lifetime_is_dropped() -> None:
    r, invite, mod = founded_room("open", SECRET)
    m, tag = mod.session, invite.room_tag
    assert m.slot is not None
    s = RoomSession.join(new_identity(30), invite, "X", rng_for(30), r.now)
    sent(s)  # JOIN
    s.envelope_received(Envelope(EnvelopeType.WELCOME, tag, 7, b""), r.now)
    (knock,) = sent(s)
    m.envelope_received(Envelope(EnvelopeType.CONTROL, tag, 7, knock.payload), r.now)
    (offer,) = sent(m)
    assert offer.type is EnvelopeType.UNICAST and offer.slot == 7
    s.envelope_received(Envelope(EnvelopeType.UNICAST, tag, m.slot, offer.payload), r.now)
    (request,) = sent(s)
    late = r.now + CHALLENGE_LIFETIME + 0.5
    m.envelope_received(Envelope(EnvelopeType.UNICAST, tag, 7, request.payload), late)
    assert m.counters["stale_join_request"] == 1
    assert s.me not in m.members and not sent(m)


def lone_joiner() -> tuple[IdentityKey, Invite, Joiner]:
    """(founder, invite, a joiner's admission state) without any room around it."""
    founder = new_identity(1)
    invite = make_invite(SECRET, founder.public)
    me = new_identity(2)
    session = SessionKey.generate(rng_for(3))
    cert = session.certify(me)
    return (
        founder,
        invite,
        Joiner(me, session, cert, "J", invite.room_id, founder.public, rng_for(4)),
    )


def test_a_joiner_answers_at_most_its_bound_of_offers_per_knock() -> None:
    founder, _, joiner = lone_joiner()
    mod_cert = SessionKey.generate(rng_for(5)).certify(founder)
    offers = [
        list(admission.decode_admission(admission.encode_offer(bytes([i]) * 16, mod_cert, ()))[1])
        for i in range(MAX_ANSWERS_PER_KNOCK + 1)
    ]
    joiner.knock()
    answers = [joiner.answer(f) for f in offers]
    assert sum(a is not None for a in answers) == MAX_ANSWERS_PER_KNOCK
    assert answers[-1] is None
    assert joiner.answer(offers[0]) is None, "a replayed offer is answered once"
    joiner.knock()
    assert joiner.answer(offers[0]) is not None, "a new knock round answers again"


def test_a_joiners_cache_of_verified_moderators_stays_within_its_bound() -> None:
    founder, invite, joiner = lone_joiner()
    # one trusted (moderator, proof) pair per distinct promotion commit of a new moderator
    for i in range(MAX_TRUSTED + 1):
        mod = new_identity(100 + i)
        promote = sign_commit(
            founder,
            invite.room_id,
            i + 1,
            bytes(32),
            [op_role(mod.public, Role.MODERATOR)],
            False,
            key_confirm=bytes(32),
        )
        cert = SessionKey.generate(rng_for(200 + i)).certify(mod)
        offer = admission.encode_offer(bytes([i]) * 16, cert, (promote.encode(),))
        joiner.knock()
        assert joiner.answer(admission.decode_admission(offer)[1]) is not None
        assert len(joiner._trusted) <= MAX_TRUSTED
    assert len(joiner._trusted) == 1, "the cache was emptied when it reached its bound"
