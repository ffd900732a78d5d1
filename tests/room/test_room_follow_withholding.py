"""A withheld removal must not keep a removed member listening (spec §15.5, issue 8 item 4).

If the relay hides a kick commit from a speaker, the first honest member to
hear that speaker on the old epoch hands it the commit; if the relay hides
everything from the speaker, the speaker stops sending once nothing has
confirmed its chain for ``quiet_alert`` seconds.
"""

from __future__ import annotations

from attack.scene import FRAME_S, build

from e2ee.envelope import EnvelopeType
from e2ee.room import forwarding
from e2ee.room.forwarding import FORWARDERS
from e2ee.room.session import RoomConfig

PAYLOADS = (EnvelopeType.CONTROL, EnvelopeType.UNICAST)
SHORT = RoomConfig(head_beacon=4.0, quiet_alert=10.0)


def test_an_honest_listener_hands_the_stale_speaker_the_kick_commit() -> None:
    room = build(listeners=2)
    eve, honest = room.listeners
    room.relay.withhold(src=room.moderator, to={room.speaker, eve}, types=PAYLOADS)
    room.moderator.session.kick(eve.session.me)
    kick = room.relay.now
    room.talk(3.0)
    epoch = room.moderator.session.epoch
    assert honest.session.counters["commit_forwarded"] == 1  # once per sender and epoch
    assert room.speaker.session.epoch == epoch, "the speaker applied the forwarded commit"
    grace = room.moderator.session.config.rekey_send_grace
    room.pause()
    late = room.heard(eve, room.speaker, sent_after=kick + 2 * grace + 2 * FRAME_S)
    assert late == [], f"{len(late)} frames reached the kicked member"


def test_a_speaker_cut_off_from_everything_stops_after_the_quiet_period() -> None:
    room = build(listeners=2, config=SHORT)
    eve, honest = room.listeners
    cut = room.relay.withhold(to={room.speaker, eve}, types=PAYLOADS)
    room.moderator.session.kick(eve.session.me)
    kick = room.relay.now
    room.talk(SHORT.quiet_alert + 2.0)
    assert room.heard(eve, room.speaker, after=kick + 2.0), "the relay kept eve listening a while"
    room.pause()
    assert room.heard(eve, room.speaker, sent_after=kick + SHORT.quiet_alert + FRAME_S) == []
    assert "isolated" in room.alerts(room.speaker)
    assert room.speaker.session.counters["audio_held_isolated"] > 0
    cut.release()  # the relay lets go: the speaker catches up and speaks again
    room.relay.pump()
    room.run(1.0)
    t = room.relay.now
    room.talk(0.4)
    room.pause()
    assert len(room.heard(honest, room.speaker, sent_after=t)) == 20


def test_an_honest_quiet_room_keeps_its_speakers_talking() -> None:
    room = build(listeners=1, config=SHORT)
    room.talk(3 * SHORT.quiet_alert)
    assert room.speaker.session.counters["audio_held_isolated"] == 0
    assert len(room.heard(room.listener, room.speaker)) == room.sent(room.speaker)


def test_about_eight_members_of_a_large_audience_forward_the_commit() -> None:
    room = build(listeners=24)
    room.relay.withhold(src=room.moderator, to=room.speaker, types=PAYLOADS)
    room.moderator.session.kick(room.listeners[-1].session.me)
    room.talk(2.0)
    forwards = sum(x.session.counters["commit_forwarded"] for x in room.listeners)
    assert 1 <= forwards <= 2 * FORWARDERS, f"{forwards} copies of one commit"
    assert room.speaker.session.epoch == room.moderator.session.epoch


def test_forwarder_selection_picks_about_eight_of_a_thousand() -> None:
    room_id, sender = b"r" * 32, b"s" * 32
    for epoch in range(5):
        chosen = sum(
            forwarding.selected(room_id, i.to_bytes(32, "big"), sender, epoch, 1000)
            for i in range(999)
        )
        assert 2 <= chosen <= 16, chosen
    assert all(forwarding.selected(room_id, bytes(32), sender, 0, n) for n in range(2, 10))
