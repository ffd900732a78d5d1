"""Rotating the room secret makes a ban stick (spec §13.7)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from e2ee.envelope import Envelope, EnvelopeType
from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from e2ee.invite import Invite as CoreInvite
from e2ee.room import RoomSession, events, rotation, seal

from .admission_util import founded_room, of
from .harness import Invite, Link, Router, new_identity, rng_for
from .insider import admission_kind, kind_of
from .test_room_admission_fresh import tap

SECRET = bytes([11]) * 32


def members(r: Router, invite: Invite, n: int) -> list[Link]:
    out = [
        r.attach(RoomSession.join(new_identity(50 + i), invite, f"M{i}", rng_for(50 + i), r.now))
        for i in range(n)
    ]
    r.pump()
    return out


def rotated_invite(invite: Invite, link: Link) -> Invite:
    (ev,) = of(link, events.RoomSecretRotated)
    keys = rotation.derive(ev.room_secret)
    return replace(invite, room_tag=keys.room_tag, admission_key=keys.admission_key)


JOIN_REQUEST, SEALED = seal.Kind.JOIN_REQUEST, seal.Kind.SEALED


def test_after_a_ban_and_a_rotation_the_old_invite_reaches_nothing() -> None:
    r, invite, mod = founded_room("open", SECRET)
    a, b, x = members(r, invite, 3)
    mod.session.ban(x.session.me)
    r.pump()
    mod.session.rotate_room_secret()
    r.pump()
    new = rotated_invite(invite, mod)
    assert new.room_tag != invite.room_tag and new.room_id == invite.room_id
    for link in (mod, a, b):
        assert link.session.state == "member" and link.session.room_tag == new.room_tag
        assert rotated_invite(invite, link) == new, "everyone got the same secret"
    assert len({(x.session.epoch, x.session.head) for x in (mod, a, b)}) == 1
    assert x.session.room_tag == invite.room_tag and not of(x, events.RoomSecretRotated)
    # the room works on the new tag
    a.session.send_chat("after the rotation")
    r.pump()
    assert [e.text for e in of(b, events.ChatReceived)] == ["after the rotation"]
    assert [e.text for e in of(mod, events.ChatReceived)] == ["after the rotation"]
    # beacons are sealed under the new admission key: the old invite opens none
    sent = tap(a.session)
    r.advance(a.session.config.head_beacon + 1)
    beacons = [
        e.payload
        for e in sent
        if admission_kind(new.admission_key, new.room_id, e.payload) is seal.Kind.BEACON
    ]
    assert beacons
    for payload in beacons:
        seal.open_admission(new.admission_key, new.room_id, payload, seal.Kind.BEACON)
        assert admission_kind(invite.admission_key, invite.room_id, payload) is None
    # the banned person, under a fresh identity with the old link, cannot even knock
    y = r.attach(RoomSession.join(new_identity(77), invite, "Y", rng_for(77), r.now))
    r.pump()
    r.advance(10.0)
    assert y.session.state == "joining" and y.session.me not in mod.session.members
    assert not of(mod, events.JoinRequested)
    # while someone given the new link gets in
    z = r.attach(RoomSession.join(new_identity(78), new, "Z", rng_for(78), r.now))
    r.pump()
    assert z.session.state == "member" and z.session.head == mod.session.head


JOIN_REQUEST, SEALED = seal.Kind.JOIN_REQUEST, seal.Kind.SEALED


def test_a_replayed_old_rotation_does_not_move_the_room_back() -> None:
    r, invite, mod = founded_room("open", SECRET)
    (a,) = members(r, invite, 1)
    sent = tap(mod.session)
    mod.session.rotate_room_secret()
    r.pump()
    first = [
        e
        for e in sent
        if e.type is EnvelopeType.UNICAST and kind_of(a.session, e.payload) is SEALED
    ]
    assert len(first) == 1
    first_tag = a.session.room_tag
    mod.session.invite_to_speak(a.session.me)  # the epoch moves on
    r.pump()
    mod.session.rotate_room_secret()
    r.pump()
    tag = a.session.room_tag
    assert tag == mod.session.room_tag and tag not in (first_tag, invite.room_tag)
    env = first[0]
    a.session.envelope_received(Envelope(env.type, tag, mod.session.slot or 0, env.payload), r.now)
    assert a.session.room_tag == tag
    assert a.session.counters["unauthorized"] == 1


JOIN_REQUEST, SEALED = seal.Kind.JOIN_REQUEST, seal.Kind.SEALED


def test_only_a_moderator_rotates_and_a_forged_rotation_is_refused() -> None:
    r, invite, _ = founded_room("open", SECRET)
    a, b = members(r, invite, 2)
    with pytest.raises(LocalProtocolError):
        a.session.rotate_room_secret()
    # a member signs a rotation and seals it to another member: not a moderator, refused
    forged = rotation.encode_rotation(a.session._identity, invite.room_id, b.session.epoch, SECRET)
    payload = seal.seal_to(b.session._session_key.public, invite.room_id, forged, rng_for(3))
    b.session.envelope_received(
        Envelope(EnvelopeType.UNICAST, invite.room_tag, a.session.slot or 0, payload), r.now
    )
    assert b.session.room_tag == invite.room_tag
    assert b.session.counters["unauthorized"] == 1


JOIN_REQUEST, SEALED = seal.Kind.JOIN_REQUEST, seal.Kind.SEALED


def test_a_rotated_invite_link_keeps_the_room_and_changes_the_tag() -> None:
    founder = new_identity(1)
    inv = CoreInvite.create("relay.example.org", 7443, bytes(32), founder.public, rng_for(4))
    secret = bytes([5]) * 32
    rot = inv.rotated(secret)
    link = rot.to_link()
    back = CoreInvite.from_link(link)
    assert back == rot and back.room_id == inv.secrets().room_id
    keys = rotation.derive(secret)
    s = back.secrets()
    assert (s.room_tag, s.admission_key, s.room_id) == (
        keys.room_tag,
        keys.admission_key,
        inv.secrets().room_id,
    )
    assert s.room_tag != inv.secrets().room_tag
    head, code = link.split("#")
    typo = code[:10] + ("b" if code[10] != "b" else "c") + code[11:]
    with pytest.raises(RemoteProtocolError) as exc:
        CoreInvite.from_link(f"{head}#{typo}")
    assert exc.value.code is ErrorCode.CHECKSUM
    # a session on the rotated link is in the same room (same room id) under the new tag
    session = RoomSession.join(new_identity(2), back, "J", rng_for(5), 0.0)
    assert session.room_id == inv.secrets().room_id and session.room_tag == keys.room_tag


JOIN_REQUEST, SEALED = seal.Kind.JOIN_REQUEST, seal.Kind.SEALED


def test_a_kicked_member_holding_the_invite_learns_no_joiners_name_or_identity() -> None:
    r, invite, mod = founded_room("knock", SECRET)
    s = RoomSession.join(new_identity(50), invite, "M0", rng_for(50), r.now)
    x = r.attach(s)
    r.pump()
    mod.session.approve(of(mod, events.JoinRequested)[0].request)
    r.pump()
    mod.session.kick(s.me)
    r.pump()
    assert s.state == "removed"
    # everything the relay delivers to the kicked member's link from now on
    seen: list[Envelope] = []
    inner = s.envelope_received

    def recording(env: Envelope, now: float) -> None:
        seen.append(env)
        inner(env, now)

    s.envelope_received = recording  # type: ignore[method-assign]
    newcomer = r.attach(RoomSession.join(new_identity(60), invite, "Newbie", rng_for(60), r.now))
    r.pump()
    mod.session.approve(of(mod, events.JoinRequested)[-1].request)
    r.pump()
    assert newcomer.session.state == "member"
    opened = []
    for env in seen:
        if admission_kind(invite.admission_key, invite.room_id, env.payload) is JOIN_REQUEST:
            pt = seal.open_admission(invite.admission_key, invite.room_id, env.payload)
            opened.append(pt)
            assert newcomer.session.me not in pt and b"Newbie" not in pt
    assert opened, "it does see that someone knocks"
    assert x.session.state == "removed"
