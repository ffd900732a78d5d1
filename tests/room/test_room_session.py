"""Whole rooms in memory (spec §12–§16): admission, stage, anti-ghosting, kicks, forks, restarts."""

from __future__ import annotations

import pytest

from e2ee import canonical
from e2ee.envelope import Envelope, EnvelopeType
from e2ee.errors import DecryptionFailed, LocalProtocolError
from e2ee.frame import FrameReceiver, FrameSender
from e2ee.invite import Invite as CoreInvite
from e2ee.room import Role, RoomSession, events, seal
from e2ee.room import keys as room_keys
from e2ee.room.commit import snapshot_body
from e2ee.room.control import ControlType
from e2ee.room.roster import RemoveReason, op_role
from e2ee.sender_key import SenderKey

from .harness import Link, Router, make_invite, new_identity, rng_for
from .insider import hidden, kind_of
from .test_room_chair_succession import self_promotion


def room(n_listeners: int, policy: str = "open", seed: int = 0) -> tuple[Router, Link, list[Link]]:
    founder = new_identity(seed + 1)
    invite = make_invite(bytes([seed % 256]) * 32, founder.public)
    r = Router()
    mod = r.attach(RoomSession.create(founder, invite, "Mod", policy, rng_for(seed + 100), 0.0))
    r.pump()
    others = []
    for i in range(n_listeners):
        s = RoomSession.join(
            new_identity(seed + 10 + i), invite, f"L{i}", rng_for(seed + 200 + i), 0.0
        )
        others.append(r.attach(s))
    r.pump()
    return r, mod, others


def of(link: Link, kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in link.events if isinstance(e, kind)]


def heads(links: list[Link]) -> set[tuple[int, bytes]]:
    return {(x.session.epoch, x.session.head) for x in links}


def sender_for(s: RoomSession, member: bytes) -> FrameSender:
    """A frame sender under ``member``'s sender key at ``s``'s epoch, derived as s can."""
    key = s._keys.sender_key(s.epoch, member)
    assert key is not None
    return FrameSender(key, room_id=s.room_id, sender_id=member, next_counter=1000)


def promote(r: Router, mod: Link, who: Link) -> None:
    mod.session.invite_to_speak(who.session.me)
    r.pump()
    who.session.accept_invitation()
    r.pump()
    assert who.session.role is Role.SPEAKER


# -- admission --------------------------------------------------------------


def test_open_policy_admits_everyone_with_one_head() -> None:
    _, mod, ls = room(3)
    everyone = [mod, *ls]
    assert all(x.session.state == "member" for x in everyone)
    assert len(heads(everyone)) == 1
    assert {x.session.safety_code() for x in everyone} == {mod.session.safety_code()}
    assert {x.session.roster_digest() for x in everyone} == {mod.session.roster_digest()}
    assert len(mod.session.members) == 4
    assert all(len(of(x, events.Admitted)) == 1 for x in ls)
    assert {e.member for e in of(mod, events.MemberJoined)} == {x.session.me for x in ls}
    assert mod.session.members[ls[0].session.me].display_name == "L0"


def test_knock_policy_approve_and_deny() -> None:
    r, mod, ls = room(2, policy="knock")
    assert all(x.session.state == "joining" for x in ls)
    reqs = of(mod, events.JoinRequested)
    assert [q.display_name for q in reqs] == ["L0", "L1"]
    mod.session.approve(reqs[0].request)
    mod.session.deny(reqs[1].request)
    r.pump()
    assert ls[0].session.state == "member" and of(ls[0], events.Admitted)
    assert ls[1].session.state == "denied" and of(ls[1], events.Denied)
    assert ls[1].session.me not in mod.session.members
    with pytest.raises(LocalProtocolError):
        mod.session.approve(reqs[1].request)


def test_banned_identity_is_denied_and_known_member_readmitted() -> None:
    r, mod, ls = room(2, policy="knock")
    for q in of(mod, events.JoinRequested):
        mod.session.approve(q.request)
    r.pump()
    invite = make_invite(bytes([0]) * 32, mod.session.me)
    banned_id, left_id = new_identity(10), new_identity(11)
    mod.session.ban(ls[0].session.me)
    ls[1].session.leave()
    r.pump()
    r.advance(3.0)
    assert ls[1].session.me not in mod.session.members
    back = r.attach(RoomSession.join(banned_id, invite, "again", rng_for(50), r.now))
    back2 = r.attach(RoomSession.join(left_id, invite, "L1 again", rng_for(51), r.now))
    r.pump()
    assert back.session.state == "denied"
    assert back2.session.state == "member", "a known identity is re-admitted automatically"
    assert len(of(mod, events.JoinRequested)) == 2


# -- stage ------------------------------------------------------------------


def test_hand_invite_accept_speak_and_move_to_audience() -> None:
    r, mod, (a, b, c) = room(3)
    b.session.raise_hand()
    r.pump()
    a.session.raise_hand()
    r.pump()
    for x in (mod, a, b, c):
        assert x.session.hand_queue == (b.session.me, a.session.me)
    with pytest.raises(LocalProtocolError):
        c.session.send_audio(b"x", r.now)
    mod.session.invite_to_speak(b.session.me)
    r.pump()
    assert of(b, events.InvitedToSpeak)
    b.session.accept_invitation()
    r.pump()
    assert b.session.role is Role.SPEAKER and b.session.delivery_class == "stage"
    assert all(x.session.hand_queue == (a.session.me,) for x in (mod, a, b, c))
    b.session.send_audio(b"opus-1", r.now)
    b.session.send_audio(b"opus-2", r.now)
    r.advance(0.05)  # frames play once the speaker's proof covers them (spec §15.6)
    for x in (mod, a, c):
        got = of(x, events.AudioReceived)
        assert [(e.member, e.seq, e.opus) for e in got] == [
            (b.session.me, 0, b"opus-1"),
            (b.session.me, 1, b"opus-2"),
        ]
    mod.session.move_to_audience(b.session.me)
    r.pump()
    assert b.session.role is Role.LISTENER and b.session.delivery_class == "audience"
    with pytest.raises(LocalProtocolError):
        b.session.send_audio(b"x", r.now)
    assert len(heads([mod, a, b, c])) == 1


def test_demoted_speaker_and_listener_audio_is_dropped_and_counted() -> None:
    r, mod, (a, b) = room(2)
    promote(r, mod, b)
    mod.session.move_to_audience(b.session.me)
    r.pump()
    # b (now a listener) and a (always a listener) bypass their own checks and
    # send frames under the keys every member can derive: receivers drop them.
    for ghost in (a, b):
        s = ghost.session
        s._send(EnvelopeType.MEDIA, 0, sender_for(s, s.me).protect(b"ghost"))
    r.pump()
    assert not of(mod, events.AudioReceived)
    assert mod.session.counters["audio_rejected_role"] == 2
    assert a.session.counters["audio_rejected_role"] == 1
    # a forged sender: a's frame stamped with the speaker's slot fails authentication
    promote(r, mod, b)
    s = a.session
    tx = sender_for(s, s.me)
    frame = hidden(tx.key, tx.protect(b"forged"))
    assert b.slot is not None
    mod.session.envelope_received(Envelope(EnvelopeType.MEDIA, s.room_tag, b.slot, frame), r.now)
    mod.session.handle_timer(r.now + mod.session.config.speaker_auth.hold)
    assert mod.session.counters["audio_rejected_auth"] == 1  # not under b's keys (§15.4.1)
    assert not of(mod, events.AudioReceived)


def test_chat_mute_and_unauthorized_control_is_counted_not_applied() -> None:
    r, mod, listeners = room(3)
    # two listeners that are not the deputy, who may take the chair (spec §12.2)
    a, b = [x for x in listeners if x.session.me != mod.session.roster.deputy]
    a.session.send_chat("hello room")
    r.pump()
    assert [(e.member, e.text) for e in of(b, events.ChatReceived)] == [
        (a.session.me, "hello room")
    ]
    mod.session.request_mute(b.session.me)
    r.pump()
    assert [e.by for e in of(b, events.MuteRequested)] == [mod.session.me]
    with pytest.raises(LocalProtocolError):
        a.session.request_mute(b.session.me)
    with pytest.raises(LocalProtocolError):
        a.session.kick(b.session.me)
    # a listener bypasses its own checks: a mute request and a self-signed commit
    a.session._send_control(ControlType.MUTE_REQUEST, [b.session.me])
    a.session._send(EnvelopeType.CONTROL, 0, self_promotion(a))
    before = heads([mod, b])
    r.pump()
    assert len(of(b, events.MuteRequested)) == 1
    assert b.session.counters["unauthorized"] == 2
    assert mod.session.counters["unauthorized"] == 2
    assert heads([mod, b]) == before
    assert mod.session.members[a.session.me].role is Role.LISTENER


# -- removal and re-keying ----------------------------------------------------


def test_kick_rekeys_and_the_kicked_session_cannot_decrypt_later_frames() -> None:
    r, mod, (spk, victim, other) = room(3)
    promote(r, mod, spk)
    old_epoch = victim.session.epoch
    mod.session.kick(victim.session.me)
    r.pump()
    assert [e.reason for e in of(victim, events.Removed)] == [RemoveReason.KICKED]
    assert victim.session.state == "removed"
    new_epoch = mod.session.epoch
    for x in (mod, spk, other):
        assert x.session.epoch == new_epoch and new_epoch in x.session._keys.epoch_keys
        assert of(x, events.KeysRotated)[-1].epoch == new_epoch
    assert new_epoch not in victim.session._keys.epoch_keys
    spk.session.send_audio(b"after the kick", r.now)
    r.advance(0.05)  # the speaker's proof (spec §15.6)
    assert of(other, events.AudioReceived)[-1].opus == b"after the kick"
    assert not [e for e in of(victim, events.AudioReceived) if e.opus == b"after the kick"]
    # Even a modified client that ignores its removal holds no key for the frame:
    # try every epoch key it has, and the ratchet step it could compute alone.
    frame = sender_for(spk.session, spk.session.me).protect(b"secret")
    vs = victim.session
    candidates = list(vs._keys.epoch_keys.values())
    assert vs.epoch == new_epoch and vs._fresh.awaiting is not None
    parent_key = vs._fresh.awaiting.prev_key
    candidates.append(room_keys.next_epoch_key(parent_key, mod.session.head))
    assert old_epoch in vs._keys.epoch_keys
    for k in candidates:
        rx = FrameReceiver(room_id=vs.room_id, sender_id=spk.session.me)
        rx.add_key(SenderKey(new_epoch, new_epoch, room_keys.sender_base(k, spk.session.me)))
        with pytest.raises(DecryptionFailed):
            rx.unprotect(frame, 0.0)


def test_voluntary_leaves_are_batched_into_one_rekey() -> None:
    r, mod, (a, b, c) = room(3)
    epoch = mod.session.epoch
    a.session.leave()
    r.pump()
    r.advance(0.5)
    b.session.leave()
    r.pump()
    assert mod.session.epoch == epoch, "leaves wait for the debounce"
    r.advance(2.0)
    assert mod.session.epoch == epoch + 1, "one commit removes both"
    assert set(mod.session.members) == {mod.session.me, c.session.me}
    assert c.session.epoch == epoch + 1 and of(c, events.KeysRotated)
    assert {e.member for e in of(c, events.MemberLeft)} == {a.session.me, b.session.me}


def test_concurrent_moderator_commits_converge() -> None:
    r, mod, (m2, a, b, c) = room(4)
    promote(r, mod, m2)
    mod.session.transfer_moderator(m2.session.me)  # m2 moderator, mod steps down to speaker
    r.pump()
    assert m2.session.role is Role.MODERATOR
    # make mod a moderator again so two moderators exist
    m2.session._moderator_action([op_role(mod.session.me, Role.MODERATOR)])
    r.pump()
    assert mod.session.role is Role.MODERATOR and m2.session.role is Role.MODERATOR
    parent = mod.session.head
    mod.session.kick(a.session.me)  # both commit on the same parent before either lands
    m2.session.kick(b.session.me)
    ours, theirs = mod.session._chair.inflight, m2.session._chair.inflight
    assert ours and theirs and ours.commit.parent == theirs.commit.parent == parent
    r.pump()
    alive = [mod, m2, c]
    assert len(heads(alive)) == 1
    for x in alive:
        assert a.session.me not in x.session.members and b.session.me not in x.session.members
    lost = mod.session.counters["own_commit_lost"] + m2.session.counters["own_commit_lost"]
    assert lost == 1, "exactly one commit lost the race and was rebased"
    assert c.session.counters["stale_commit"] == 1
    assert not of(c, events.SecurityAlert)


# -- split view and rollback ----------------------------------------------------


COMMIT = seal.Kind.COMMIT


def test_replayed_commit_is_reported_as_rollback() -> None:
    r, mod, (a, b) = room(2)
    captured: list[Envelope] = []
    a.session.raise_hand()
    r.pump()
    orig = r._deliver

    def spy(to: Link, env: Envelope) -> None:
        if to is b and kind_of(b.session, env.payload) is COMMIT:
            captured.append(env)
        orig(to, env)

    r._deliver = spy  # type: ignore[method-assign]
    mod.session.invite_to_speak(a.session.me)
    r.pump()
    a.session.decline_invitation()
    r.pump()
    assert len(captured) == 2 and b.session.epoch > 0
    b.session.envelope_received(captured[0], r.now)  # the relay replays an old commit
    alerts = of(b, events.SecurityAlert) + [
        e for e in iter(b.session.next_event, None) if isinstance(e, events.SecurityAlert)
    ]
    assert [x.kind for x in alerts] == ["rollback"]


def test_split_view_is_detected_from_heads_in_control_traffic() -> None:
    r, mod, (m2, a, b) = room(3)
    promote(r, mod, m2)
    mod.session._moderator_action([op_role(m2.session.me, Role.MODERATOR)])
    r.pump()
    # Both moderators commit on the same parent; a lying relay shows a one and b the other.
    split = mod.session.epoch + 1
    mod.session.invite_to_speak(a.session.me)
    m2.session.invite_to_speak(b.session.me)
    orig = r._deliver
    out_of_order: list[tuple[Link, Envelope]] = []

    def liar(to: Link, env: Envelope) -> None:
        is_commit = env.type is EnvelopeType.CONTROL and kind_of(to.session, env.payload) is COMMIT
        src = r.by_slot.get(env.slot)
        if is_commit and to is b and src is mod:
            out_of_order.append((to, env))  # hold mod's commit back from b
            return
        orig(to, env)

    r._deliver = liar  # type: ignore[method-assign]
    r.pump()
    r._deliver = orig  # type: ignore[method-assign]
    for to, env in out_of_order:
        orig(to, env)
    r.pump()
    assert a.session._chain.heads[split] != b.session._chain.heads[split]
    # Messages sealed under the split epoch's key do not even open across the split ...
    a.session.send_chat("my head travels with this message")
    r.pump()
    assert not of(b, events.ChatReceived)
    assert not of(b, events.SecurityAlert)
    # ... the periodic head beacons (sealed under the admission key) do.
    r.advance(mod.session.config.head_beacon + 1)
    kinds = {e.kind for e in of(b, events.SecurityAlert)}
    assert kinds == {"split_view"}
    assert {e.kind for e in of(mod, events.SecurityAlert)} == {"split_view"}, "b's beacon too"


# -- reconnects ------------------------------------------------------------


def test_single_member_reconnect_keeps_identity_and_audio() -> None:
    r, mod, (spk, a) = room(2)
    promote(r, mod, spk)
    old_slot = spk.slot
    r.drop_link(spk)
    r.pump()
    # the real relay hands out the lowest free slot: a newcomer takes the old one
    invite = make_invite(bytes(32), mod.session.me)
    newcomer = r.attach(RoomSession.join(new_identity(90), invite, "N", rng_for(91), r.now))
    r.pump()
    assert newcomer.slot == old_slot and newcomer.session.state == "member"
    r.reconnect(spk)
    r.pump()
    assert spk.slot != old_slot and spk.session.slot == spk.slot
    assert spk.session.me in mod.session.members
    assert mod.session._slots[spk.session.me] == spk.slot
    spk.session.send_audio(b"back", r.now)
    r.advance(0.05)  # the speaker's proof (spec §15.6)
    assert of(a, events.AudioReceived)[-1].opus == b"back"


def test_relay_restart_all_slots_change_and_room_recovers_unattended() -> None:
    r, mod, ls = room(5)
    spk = ls[0]
    promote(r, mod, spk)
    head = mod.session.head
    r.restart(slot_base=3)  # new slot numbers collide with old ones
    order = [ls[3], ls[1], mod, ls[4], spk, ls[2]]  # listeners before and after the moderator
    for x in order:
        r.reconnect(x)
        r.pump()
    everyone = [mod, *ls]
    assert all(x.session.state == "member" for x in everyone)
    assert heads(everyone) == {(mod.session.epoch, head)}, "no commit needed to reconnect"
    for x in everyone:
        assert x.session.slot == x.slot
    for x in ls:
        assert mod.session._slots[x.session.me] == x.slot
    spk.session.send_audio(b"after restart", r.now)
    r.advance(0.05)  # the speaker's proof (spec §15.6)
    for x in [mod, *ls[1:]]:
        assert of(x, events.AudioReceived)[-1].opus == b"after restart"
    mod.session.kick(ls[4].session.me)
    r.pump()
    for x in [mod, *ls[:4]]:
        assert x.session.epoch in x.session._keys.epoch_keys
    assert len(heads([mod, *ls[:4]])) == 1


def test_snapshot_body_is_the_canonical_encoding() -> None:
    r, mod, ls = room(3)
    promote(r, mod, ls[0])
    ls[1].session.raise_hand()
    r.pump()
    s = mod.session
    assert s.roster is not None
    body = snapshot_body(s.room_id, s.epoch, s.head, s.roster)
    assert canonical.encode(canonical.decode(body)) == body
    assert canonical.decode(body) == [1, s.room_id, s.epoch, s.head, s.roster.state_fields()]


def test_a_leaving_chair_is_removed_by_the_next_moderator() -> None:
    r, mod, (m2, a) = room(2)
    promote(r, mod, m2)
    mod.session._moderator_action([op_role(m2.session.me, Role.MODERATOR)])
    r.pump()
    mod.session.leave()
    r.pump()
    r.advance(3.0)
    assert mod.session.me not in m2.session.members
    assert mod.session.me not in a.session.members
    assert len(heads([m2, a])) == 1 and of(a, events.KeysRotated)


def test_a_member_that_misses_the_rekey_secret_recovers_by_sync() -> None:
    r, mod, (a, b, victim) = room(3)
    orig = r._deliver

    def lose_fresh(to: Link, env: Envelope) -> None:
        if to is a and kind_of(a.session, env.payload) is seal.Kind.PAIRWISE:
            return  # the relay loses a's copy of the fresh secret
        orig(to, env)

    r._deliver = lose_fresh  # type: ignore[method-assign]
    mod.session.kick(victim.session.me)
    r.pump()
    r._deliver = orig  # type: ignore[method-assign]
    epoch = mod.session.epoch
    assert epoch not in a.session._keys.epoch_keys and epoch in b.session._keys.epoch_keys
    r.advance(1.0)
    assert a.session._keys.epoch_keys.get(epoch) == mod.session._keys.epoch_keys[epoch]


def test_end_room_and_a_core_invite() -> None:
    founder = new_identity(77)
    invite = CoreInvite.create("127.0.0.1", 4433, bytes(32), founder.public, rng_for(5))
    invite = CoreInvite.from_link(invite.to_link())
    r = Router()
    mod = r.attach(RoomSession.create(founder, invite, "Mod", "open", rng_for(6), 0.0))
    a = r.attach(RoomSession.join(new_identity(78), invite, "A", rng_for(7), 0.0))
    r.pump()
    assert a.session.state == "member"
    assert a.session.room_id == invite.secrets().room_id
    with pytest.raises(LocalProtocolError):
        RoomSession.create(new_identity(79), invite, "not the founder", "open", rng_for(8), 0.0)
    mod.session.end_room()
    r.pump()
    assert of(a, events.RoomEnded) and a.session.state == "ended"
    with pytest.raises(LocalProtocolError):
        a.session.send_chat("too late")
