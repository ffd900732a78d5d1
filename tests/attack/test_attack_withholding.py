"""Withholding, split views and key changes under a hostile relay (spec §15, §16; issue 8).

Withholding is the relay's strongest move: for every message, what happens to
the one member who does not get it?  Promise: keys expire by time, stale
audio is refused and surfaced, silence is noticed, split views are detected,
and key changes lose no audio.
"""

from __future__ import annotations

from room.insider import kind_of

from attack.hostile import insider_kind
from attack.scene import FRAME_S, build
from e2ee.envelope import EnvelopeType
from e2ee.room import Role, events, seal
from e2ee.room.roster import op_role
from e2ee.room.session import RoomConfig
from e2ee.sframe_header import decode_header

PAYLOADS = (EnvelopeType.CONTROL, EnvelopeType.UNICAST)


def test_withheld_kick_commit_does_not_keep_kicked_member_listening() -> None:
    room = build(listeners=2)
    eve, honest = room.listeners
    # the relay keeps everything the moderator sends from the speaker and from eve
    room.relay.withhold(src=room.moderator, to={room.speaker, eve}, types=PAYLOADS)
    room.moderator.session.kick(eve.session.me)
    kick_time = room.relay.now
    room.talk(6.0)
    late = room.heard(eve, room.speaker, after=kick_time + 2.0)
    assert late == [], f"the kicked member played {len(late)} frames sent after the kick"
    assert room.alerts(honest) or room.alerts(room.speaker), "nobody was warned"


def test_withholding_all_commits_from_one_member_raises_an_alert() -> None:
    room = build(listeners=2)
    cut_off, hand = room.listeners
    room.relay.withhold(to=cut_off, types=PAYLOADS)
    for _ in range(3):
        hand.session.raise_hand()
        room.relay.pump()
        hand.session.lower_hand()
        room.relay.pump()
    room.run(120.0)
    assert cut_off.session.epoch < room.moderator.session.epoch
    assert room.alerts(cut_off), "120 s without a commit or a beacon and no warning"


def test_a_withheld_rekey_secret_is_recovered_and_audio_resumes() -> None:
    room = build(listeners=3)
    late, victim = room.listeners[0], room.listeners[2]
    lost = room.relay.drop(src=room.moderator, to=late, insider=["pairwise"])
    room.moderator.session.kick(victim.session.me)
    room.relay.pump()
    lost.lift()
    assert lost.hits == 1
    room.run(1.5)  # the member asks its committer for a sync (spec §15.2)
    t = room.relay.now
    room.talk(0.4)
    room.pause()
    assert len(room.heard(late, room.speaker, sent_after=t)) == 20
    assert late.session.head == room.moderator.session.head


def two_moderators() -> tuple:  # type: ignore[type-arg]
    room = build(speakers=1, listeners=2)
    m2 = room.speaker
    room.moderator.session._moderator_action([op_role(m2.session.me, Role.MODERATOR)])
    room.relay.pump()
    assert m2.session.role is Role.MODERATOR
    return room, room.moderator, m2, room.listeners[0], room.listeners[1]


def show_two_views(room, mod, m2, a, b):  # type: ignore[no-untyped-def]
    """Both moderators commit on one parent; ``a`` is shown one commit, ``b`` the other."""
    room.relay.drop(src=mod, to={b, m2}, authored=["commit"])
    room.relay.drop(src=m2, to={a, mod}, authored=["commit"])
    mod.session.invite_to_speak(a.session.me)
    m2.session.invite_to_speak(b.session.me)
    room.relay.pump()
    assert a.session.epoch == b.session.epoch and a.session.head != b.session.head


def test_different_views_shown_by_the_relay_are_detected() -> None:
    room, mod, m2, a, b = two_moderators()
    show_two_views(room, mod, m2, a, b)
    room.run(mod.session.config.head_beacon + 1)
    for x in (mod, m2, a, b):
        assert "split_view" in room.alerts(x)


def test_dropping_only_beacons_does_not_hide_a_split_view() -> None:
    """A relay that sees no kind byte can only drop everything a beacon might be.

    Beacons are 304 or 560 bytes on the wire (spec §14.1), as are most control
    messages and short commits, which the relay cannot tell apart either
    (§20): once the split is made, it drops every payload of those sizes.
    That takes a raised hand with it, and nobody on either side of the split
    is left unwarned.
    """
    room, mod, m2, a, b = two_moderators()
    sizes = (304, 560)
    show_two_views(room, mod, m2, a, b)
    beacon_sized = room.relay.drop(what=["payload"], when=lambda d: len(d.env.payload) in sizes)
    mark = len(room.relay.seen)
    b.session.raise_hand()
    room.relay.pump()
    room.run(3 * mod.session.config.head_beacon + 1)
    dropped = [
        insider_kind(d)
        for d in room.relay.seen[mark:]
        if d.what == "payload" and len(d.env.payload) in sizes
    ]
    assert beacon_sized.hits == len(dropped) and "beacon" in dropped
    assert "control" in dropped, "the relay dropped beacons and nothing else"
    assert b.session.me not in m2.session.hand_queue, "the raised hand got through"
    for x in (mod, m2, a, b):
        assert room.alerts(x), "a member was left unwarned of the split"


def test_twenty_commits_in_one_second_lose_no_audio() -> None:
    room = build(listeners=2)
    ear, hand = room.listeners
    room.relay.delay(0.1, what=["media", "proof"])  # five frames in flight, as on a network
    room.talk(0.5)
    for i in range(20):  # 20 commits within 0.1 s, audio flowing all the while
        (hand.session.lower_hand if i % 2 else hand.session.raise_hand)()
        room.relay.pump()
        if i % 4 == 3:
            room.talk(FRAME_S)
    room.talk(0.5)
    room.run(1.0)
    assert room.moderator.session.epoch >= 20
    heard = room.heard(ear, room.speaker)
    assert len(heard) == room.sent(room.speaker), f"{room.sent(room.speaker) - len(heard)} lost"


def test_a_speaker_stops_using_the_old_key_half_a_second_after_a_removal() -> None:
    room = build(listeners=2, config=RoomConfig(key_grace=3.0))
    ear, victim = room.listeners
    room.relay.drop(src=room.moderator, to=room.speaker, insider=["pairwise"])  # no fresh secret
    room.moderator.session.kick(victim.session.me)
    room.relay.pump()
    new_epoch = room.moderator.session.epoch
    applied = next(
        t
        for t, e in room.relay.timeline[room.speaker]
        if isinstance(e, events.RosterChanged) and e.epoch == new_epoch
    )
    room.talk(4.0)
    old_phase = (new_epoch - 1) % 8
    stale = [
        d.at
        for d in room.relay.seen
        if d.to is ear and d.what == "media" and decode_header(d.env.payload)[0] == old_phase
    ]
    assert stale and max(stale) <= applied + 0.5 + FRAME_S, (
        f"old key used {max(stale) - applied:.2f} s after the removal"
    )


def test_the_safety_code_does_not_change_when_a_hand_is_raised() -> None:
    room = build(listeners=2)
    code = room.moderator.session.safety_code()
    room.listener.session.raise_hand()
    room.relay.pump()
    assert {x.session.safety_code() for x in room.members} == {code}


def test_a_kick_commit_withheld_from_one_listener_is_caught_up_by_sync() -> None:
    room = build(listeners=3)
    late, victim = room.listeners[0], room.listeners[2]
    # labelled at the sender, no guessing: the commit and its re-key secret
    kick = room.relay.withhold(to=late, tag="kick")
    with room.relay.tagged(room.moderator, "kick"):
        room.moderator.session.kick(victim.session.me)
    room.relay.pump()
    assert {d.what for d in kick.held} == {"payload"}, "the relay sees no commit (§20)"
    assert sorted(str(d.authored) for d in kick.held) == ["None", "commit"]
    inside = {kind_of(late.session, d.env.payload) for d in kick.held if d.authored is None}
    assert inside == {seal.Kind.PAIRWISE}
    assert victim.session.me in late.session.members
    room.run(room.moderator.session.config.head_beacon + 3)  # a beacon shows it is behind
    beacons = [d for d in room.relay.seen if d.to is late and insider_kind(d) == "beacon"]
    assert any(d.src is room.moderator for d in beacons), "the moderator's beacon arrived"
    assert victim.session.me not in late.session.members
    assert late.session.head == room.moderator.session.head
    assert not room.alerts(late)
