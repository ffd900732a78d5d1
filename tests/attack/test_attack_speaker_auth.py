"""An insider and the relay forge a speaker's audio (spec §15.6, issue 10).

The insider is a listener holding every room key (it can make frames under
any member's sender key, tests/room/test_speaker_auth_hostile.py); the
hostile relay stamps the speaker's slot on what the insider gives it,
delivers it before the speaker's own frames, and can hand different bytes to
different members.  Promise: no forged frame is played, a ForgedAudio event
names the member in whose name the forgery came, and the real speaker is
still heard.
"""

from __future__ import annotations

from itertools import pairwise

from room.test_speaker_auth_hostile import forged_proof, forger

from e2ee.envelope import Envelope, EnvelopeType
from e2ee.room import events
from e2ee.sframe_header import decode_header

from .scene import FRAME_S, Scene, build, opus


def forged_reasons(room: Scene, link_: object, member: bytes) -> set[str]:
    """The reasons of the ForgedAudio events ``link_`` saw in ``member``'s name."""
    return {
        e.reason
        for e in room.relay.events(link_, events.ForgedAudio)  # type: ignore[arg-type]
        if isinstance(e, events.ForgedAudio) and e.member == member
    }


def test_an_insider_with_the_relay_injects_for_ten_seconds_and_nothing_forged_is_played() -> None:
    room = build(listeners=2)
    insider, ear = room.listeners
    victim = room.speaker.session.me
    fake = forger(insider, victim, 5_000)  # a stream of its own, ahead of the speaker
    for step in range(500):  # 10 s: a forged frame before each real one
        forged = [fake.protect(b"forged %d" % step)]
        if step % 3 == 2:  # and a proof over it that the insider signs itself
            forged.append(forged_proof(insider, 92, victim, forged))
        for to in (room.moderator, ear):
            for payload in forged:
                room.relay.inject_as(room.speaker, to, EnvelopeType.MEDIA, payload)
        room.talk(FRAME_S)
    room.pause()
    room.run(room.moderator.session.config.speaker_auth.hold)
    for to in (room.moderator, ear):
        got = room.heard(to, room.speaker)
        assert not [o for o in got if o.startswith(b"forged")], "0 forged frames played"
        assert got == [opus(n) for n in range(500)]
        assert forged_reasons(room, to, victim) == {"bad_signature", "unproven"}
        assert to.session.counters["audio_rejected_unproven"] == 500  # every forged frame


def test_a_forged_counter_jump_leaves_no_gap_longer_than_one_batch() -> None:
    room = build(listeners=2)
    insider, ear = room.listeners
    victim = room.speaker.session.me
    for step in range(100):  # 2 s of audio; the jump comes after 1 s
        if step == 50:
            counter = room.speaker.session._media.frame_sender.next_counter  # type: ignore[union-attr]
            jump = forger(insider, victim, counter + (1 << 20) - 8).protect(b"jump")
            for to in (room.moderator, ear):
                room.relay.inject_as(room.speaker, to, EnvelopeType.MEDIA, jump)
        room.talk(FRAME_S)
    room.pause()
    batch = room.moderator.session.config.speaker_auth.stage_batch
    for to in (room.moderator, ear):
        assert room.heard(to, room.speaker) == [opus(n) for n in range(100)]
        played = [
            t
            for t, e in room.relay.timeline[to]
            if isinstance(e, events.AudioReceived) and e.member == victim
        ]
        gaps = [b - a for a, b in pairwise(played)]
        assert max(gaps) <= batch * FRAME_S + 1e-9, "no gap longer than one batch"


def test_a_speaker_sending_different_audio_to_two_members_under_one_proof_is_detected() -> None:
    room = build(listeners=2)
    a, b = room.listeners
    me = room.speaker.session.me
    # the speaker, with the relay, gives b another frame for its counter 4 than everybody else
    other = forger(room.speaker, me, 4).protect(b"something else")

    def swap(env: Envelope) -> Envelope:
        if decode_header(env.payload)[1] != 4:
            return env
        return Envelope(env.type, env.room_tag, env.slot, other)

    room.relay.rewrite(swap, to=b, what=["media"])
    room.talk(9 * FRAME_S)
    room.pause()
    assert room.heard(a, room.speaker) == [opus(n) for n in range(9)]
    got_b = room.heard(b, room.speaker)
    assert b"something else" not in got_b
    assert got_b == [opus(n) for n in (0, 1, 2, 6, 7, 8)], "only its batch is lost"
    assert forged_reasons(room, b, me) == {"bad_signature"}
    assert forged_reasons(room, a, me) == set()
