"""Admission against invite holders, ex-members and a replaying relay (spec §13, issue 8 items 1-3).

Whoever holds the invite (an unapproved knocker, a kicked member: the room
secret does not change) can read join requests and talk to joiners; the relay
can record any request and play it back.  Promise: a joiner is admitted only
by the room's real authority, a forged denial does not end its attempt, a
replayed request changes nothing and costs almost nothing, and a removed member
learns nothing about later joiners.
"""

from __future__ import annotations

import gc
import tracemalloc

from room.harness import Link, new_identity, rng_for

from attack.hostile import Delivery, insider_kind
from attack.scene import Scene, build
from e2ee.envelope import Envelope, EnvelopeType, decode_envelope
from e2ee.errors import DecryptionFailed
from e2ee.identity import IdentityKey, SessionKey
from e2ee.room import RoomSession, admission, events, seal
from e2ee.room.commit import (
    GENESIS_PARENT,
    key_confirmation,
    sign_commit,
    sign_snapshot,
    snapshot_body,
)
from e2ee.room.control import encode_beacon
from e2ee.room.roster import Policy, Role, RosterState, op_add, op_policy

ATTACKER = new_identity(666)


def requests_from(scene: Scene, joiner: Link, to: Link) -> list[Delivery]:
    return [
        d
        for d in scene.relay.seen
        if d.src is joiner and d.to is to and insider_kind(d) == "join_request"
    ]


def forged_answer(scene: Scene, victim: RoomSession, deny: bool) -> bytes:
    """What an invite holder can make for a joiner: its own welcome, or a denial.

    The worst case for the joiner: the forger knows the joiner's session key
    (a v2 knock does not reveal it; join requests are sealed to verified
    moderators only) and signs a perfectly formed verdict of its own room.
    """
    room_id, rng = scene.invite.room_id, rng_for(667)
    session = victim._session_key.public
    if deny:
        pt = admission.encode_denial(ATTACKER, room_id, session, ())
    else:
        own = SessionKey.generate(rng)
        ops = [
            op_policy(Policy.OPEN),
            op_add(ATTACKER.public, own.public, "Moderator", Role.MODERATOR),
            op_add(victim.me, session, victim.display_name, Role.LISTENER),
        ]
        confirm = key_confirmation(b"", b"")
        genesis = sign_commit(ATTACKER, room_id, 0, GENESIS_PARENT, ops, False, key_confirm=confirm)
        roster = RosterState(Policy.OPEN)
        roster.apply_ops(list(genesis.ops))
        body = snapshot_body(room_id, 0, genesis.head, roster)
        snap = sign_snapshot(ATTACKER, room_id, body, [[ATTACKER.public, []]])
        pt = admission.encode_welcome(ATTACKER, room_id, session, snap, rng(32), [])
    return seal.seal_to(session, room_id, pt, rng)


def knock_with_an_eavesdropper() -> tuple[Scene, Link, Link]:
    """A knock room; an unapproved knocker (holds the invite) and a newcomer waiting."""
    room = build(listeners=1, policy="knock")
    eve = room.join("Eve")
    newcomer = room.join("Newcomer")
    assert eve.session.state == newcomer.session.state == "joining"
    return room, eve, newcomer


def answer_as(room: Scene, eve: Link, newcomer: Link, deny: bool) -> None:
    assert newcomer.slot is not None
    forged = forged_answer(room, newcomer.session, deny)
    room.relay.client_sends(
        eve, Envelope(EnvelopeType.UNICAST, eve.session.room_tag, newcomer.slot, forged)
    )
    room.relay.pump()


def approve_all(room: Scene, name: str) -> None:
    for q in room.relay.events(room.moderator, events.JoinRequested):
        if q.display_name == name:  # type: ignore[attr-defined]
            room.moderator.session.approve(q.request)  # type: ignore[attr-defined]
    room.relay.pump()


def test_a_welcome_forged_by_an_invite_holder_is_refused() -> None:
    room, eve, newcomer = knock_with_an_eavesdropper()
    answer_as(room, eve, newcomer, deny=False)
    assert newcomer.session.state == "joining", "the forged welcome admitted it"
    approve_all(room, "Newcomer")
    assert newcomer.session.state == "member"
    assert newcomer.session.head == room.moderator.session.head
    assert ATTACKER.public not in newcomer.session.members


def test_a_denial_forged_by_an_invite_holder_does_not_end_the_attempt() -> None:
    room, eve, newcomer = knock_with_an_eavesdropper()
    answer_as(room, eve, newcomer, deny=True)
    assert newcomer.session.state == "joining", "the forged denial ended the attempt"
    approve_all(room, "Newcomer")
    assert newcomer.session.state == "member"


def rejoined_speaker(policy: str = "open") -> tuple[Scene, Link, Delivery]:
    """A member left and came back with a new session; its old request is on record."""
    room = build(listeners=2, policy=policy)
    first = room.listeners[1]
    first_seed = room._seed  # the last joiner's identity seed
    old_request = requests_from(room, first, room.moderator)[-1]
    first.session.leave()
    room.run(3.0)
    assert first.session.me not in room.moderator.session.members
    back = room.join("Listener 1", seed=first_seed)  # same identity, new session
    assert back.session.me == first.session.me
    if policy == "knock":
        approve_all(room, "Listener 1")
    assert back.session.state == "member"
    return room, back, old_request


def test_a_replayed_join_request_cannot_boot_a_speaker() -> None:
    room, back, old_request = rejoined_speaker()
    room.promote(back)
    before = (room.heads(), room.rosters())
    room.relay.inject_as(back, room.moderator, EnvelopeType.CONTROL, old_request.env.payload)
    room.run(1.0)
    assert (room.heads(), room.rosters()) == before
    assert back.session.role is Role.SPEAKER


def test_a_replayed_join_request_does_not_readmit_a_leaver_under_knock() -> None:
    room = build(listeners=2, policy="knock")
    leaver = room.listeners[1]
    request = requests_from(room, leaver, room.moderator)[-1]
    leaver.session.leave()
    room.run(3.0)
    assert leaver.session.me not in room.moderator.session.members
    room.relay.inject_as(room.listener, room.moderator, EnvelopeType.CONTROL, request.env.payload)
    room.run(1.0)
    assert leaver.session.me not in room.moderator.session.members


def test_a_replayed_join_request_costs_the_moderator_almost_nothing() -> None:
    room = build(listeners=30)
    member = room.listeners[3]
    request = requests_from(room, member, room.moderator)[-1]
    mark = len(room.relay.seen)
    for _ in range(10):
        room.relay.inject_as(member, room.moderator, EnvelopeType.CONTROL, request.env.payload)
    room.relay.pump()
    answer = sum(len(d.env.payload) for d in room.relay.seen[mark:] if d.src is room.moderator)
    assert answer <= 10 * 1024, f"{answer} bytes sent in reply to 10 replayed requests"


def test_a_kicked_member_cannot_read_later_join_requests() -> None:
    room = build(listeners=2)
    eve = room.listeners[1]
    room.moderator.session.kick(eve.session.me)
    room.relay.pump()
    assert eve.session.state == "removed"
    newcomer = room.join("Newcomer with a name")
    later = [
        d
        for d in room.relay.seen
        if d.src is newcomer and d.to is eve and d.env.type is EnvelopeType.CONTROL
    ]
    assert later, "the relay still delivers the room's broadcasts to the kicked member's link"
    learnt = []
    for d in later:
        try:
            pt = seal.open_admission(room.invite.admission_key, room.invite.room_id, d.env.payload)
        except DecryptionFailed:
            continue
        # what the invite opens is a bare knock: the request itself is sealed to a moderator
        kind, _ = admission.decode_admission(pt)
        assert kind is admission.AdmissionType.KNOCK
        learnt += [x for x in (b"Newcomer with a name", newcomer.session.me) if x in pt]
    assert learnt == [], "the kicked member learnt the joiner's name or identity"


def test_a_kicked_members_beacons_raise_no_alert() -> None:
    room = build(listeners=2)
    eve = room.listeners[1]
    eve_identity = eve.session._identity
    room.moderator.session.kick(eve.session.me)
    room.relay.pump()
    rng = rng_for(668)
    held = eve.session._keys.epoch_keys
    eve_key = held[max(held)]  # the newest key eve was given
    for epoch in (0, room.moderator.session.epoch, room.moderator.session.epoch + 5):
        pt = encode_beacon(eve_identity, room.invite.room_id, epoch, [rng(32)])
        pt += seal.beacon_mac(eve_key, room.invite.room_id, pt)
        beacon = seal.seal_admission(
            room.invite.admission_key, room.invite.room_id, pt, rng, seal.Kind.BEACON
        )
        room.relay.client_sends(
            eve, Envelope(EnvelopeType.CONTROL, eve.session.room_tag, 0, beacon)
        )
    room.relay.pump()
    honest = [room.moderator, room.speaker, room.listener]
    assert not any(room.alerts(x) for x in honest)
    assert all(x.session.counters["unauthorized"] == 3 for x in honest)
    assert len(room.heads(honest)) == 1


def join_requests(scene: Scene, n: int) -> list[bytes]:
    """Join request payloads of ``n`` fresh identities, as one modified client makes them."""
    tag, out = scene.invite.room_tag, []
    for i in range(n):
        identity = IdentityKey(i.to_bytes(4, "big") * 8)
        joiner = RoomSession.join(identity, scene.invite, f"knock {i}", rng_for(i), 0.0)
        joiner.data_to_send()
        joiner.envelope_received(Envelope(EnvelopeType.WELCOME, tag, 99, b""), 0.0)
        out.append(decode_envelope(joiner.data_to_send()).payload)
    return out


def knock_flood(n: int) -> int:
    """Bytes a knock room's moderator still holds after ``n`` knocks from one link."""
    room = build(listeners=0, policy="knock")
    mod = room.moderator.session
    tag, slot = room.invite.room_tag, 99
    requests = join_requests(room, n)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for payload in requests:
        mod.envelope_received(Envelope(EnvelopeType.CONTROL, tag, slot, payload), 1.0)
        mod.data_to_send()
        while mod.next_event() is not None:
            pass
    requests.clear()
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return held


def test_a_knock_flood_from_one_link_holds_bounded_memory() -> None:
    held = knock_flood(3000)
    assert held <= 512 * 1024, f"{held} bytes held after 3,000 knocks"


def test_one_link_cannot_fill_an_open_room_with_identities() -> None:
    room = build(listeners=1)
    flooder = room.listener
    before = len(room.moderator.session.members)
    tag = flooder.session.room_tag
    for payload in join_requests(room, 300):
        room.relay.client_sends(flooder, Envelope(EnvelopeType.CONTROL, tag, 0, payload))
    room.run(1.0)
    added = len(room.moderator.session.members) - before
    assert added <= 100, f"one link added {added} identities in one second"
