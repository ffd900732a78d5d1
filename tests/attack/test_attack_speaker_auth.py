"""An insider and the relay forge a speaker's audio (spec §15.6, issue 10).

The insider is a listener holding every room key (it can make frames under
any member's sender key, tests/room/test_speaker_auth_hostile.py); the
hostile relay stamps the speaker's slot on what the insider gives it,
delivers it before the speaker's own frames, and can hand different bytes to
different members.  Promise (the optimistic stage mode, the default): the
audience plays no forged frame; a stage member plays at most
``play_first_frames`` of them per speaker (the batch being proven and the
frames ahead of its proof), all within the stated wait of the first, then holds that
speaker until proven and is told, by a ForgedAudio event naming the member
in whose name the forgery came, by the end of that wait; the real speaker is
still heard.  In the hold stage mode no member plays any forged frame.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from room.harness import Link
from room.insider import counter_of
from room.test_speaker_auth_hostile import forged_proof, forger

from e2ee.envelope import Envelope, EnvelopeType
from e2ee.room import events
from e2ee.room.session import RoomConfig
from e2ee.room.speaker_auth import STAGE_HOLD, AuthConfig

from .lossy import LossyRelay
from .scene import FRAME_S, Scene, build, opus

AUTH = AuthConfig()  # the default: the optimistic stage mode
HOLD = RoomConfig(speaker_auth=STAGE_HOLD)


def played(room: Scene, link_: object, member: bytes) -> list[tuple[float, bytes]]:
    """``(time, opus)`` of every frame ``link_`` played in ``member``'s name."""
    return [
        (t, e.opus)
        for t, e in room.relay.timeline[link_]  # type: ignore[index]
        if isinstance(e, events.AudioReceived) and e.member == member
    ]


def first_report(room: Scene, link_: object, member: bytes) -> float:
    """When ``link_`` first reported a forgery in ``member``'s name."""
    return min(
        t
        for t, e in room.relay.timeline[link_]  # type: ignore[index]
        if isinstance(e, events.ForgedAudio) and e.member == member
    )


def give_other_audio(room: Scene, counter: int, *to: Link) -> None:
    """The speaker, with the relay, gives ``to`` another frame for ``counter`` than the rest."""
    fake = forger(room.speaker, room.speaker.session.me, counter)
    other = fake.protect(b"something else")

    def swap(env: Envelope) -> Envelope:
        if counter_of(fake.key, env.payload) != counter:
            return env
        return Envelope(env.type, env.room_tag, env.slot, other)

    for link in to:
        room.relay.rewrite(swap, to=link, what=["media"])


def forged_reasons(room: Scene, link_: object, member: bytes) -> set[str]:
    """The reasons of the ForgedAudio events ``link_`` saw in ``member``'s name."""
    return {
        e.reason
        for e in room.relay.events(link_, events.ForgedAudio)  # type: ignore[arg-type]
        if isinstance(e, events.ForgedAudio) and e.member == member
    }


@pytest.mark.parametrize("config", [None, HOLD], ids=["optimistic", "hold"])
def test_an_insider_with_the_relay_injects_for_ten_seconds_and_nothing_forged_is_played(
    config: RoomConfig | None,
) -> None:
    room = build(listeners=2, config=config)  # a stream far ahead is never played first
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


def test_hold_a_speaker_sending_two_audios_under_one_proof_is_detected() -> None:
    room = build(listeners=2, config=HOLD)
    a, b = room.listeners
    me = room.speaker.session.me
    give_other_audio(room, 4, b)
    room.talk(9 * FRAME_S)
    room.pause()
    assert room.heard(a, room.speaker) == [opus(n) for n in range(9)]
    got_b = room.heard(b, room.speaker)
    assert b"something else" not in got_b
    assert got_b == [opus(n) for n in (0, 1, 2, 6, 7, 8)], "only its batch is lost"
    assert forged_reasons(room, b, me) == {"bad_signature"}
    assert forged_reasons(room, a, me) == set()


def test_optimistic_forgeries_at_the_speakers_own_counters_cost_the_stage_one_window_once() -> None:
    room = build(listeners=2)
    insider, ear = room.listeners
    victim = room.speaker.session.me
    room.talk(1.0)  # the stage member has verified the speaker: it plays it first
    start = room.relay.now
    for step in range(400):  # 8 s; every fifth frame the relay delivers a forgery first
        if step % 5 == 0:
            counter = room.speaker.session._media.frame_sender.next_counter  # type: ignore[union-attr]
            forged = forger(insider, victim, counter).protect(b"forged %d" % step)
            for to in (room.moderator, ear):
                room.relay.inject_as(room.speaker, to, EnvelopeType.MEDIA, forged)
        room.talk(FRAME_S)
    room.talk(1.0)
    room.pause()
    assert not [o for _, o in played(room, ear, victim) if o.startswith(b"forged")]
    stage = [(t, o) for t, o in played(room, room.moderator, victim) if o.startswith(b"forged")]
    assert 1 <= len(stage) <= AUTH.play_first_frames, "at most the play-first window"
    reported = first_report(room, room.moderator, victim)
    assert reported <= stage[0][0] + AUTH.tentative_wait, "reported within the stated wait"
    assert all(t <= reported for t, _ in stage), "and nothing forged is played after that"
    assert first_report(room, ear, victim) <= start + AUTH.stage_batch * FRAME_S + AUTH.hold
    after = [opus(n) for n in range(460, 500)]  # the batches after the one of the last forgery
    for to in (room.moderator, ear):  # the real speaker is heard again once the forging stops
        real = [o for _, o in played(room, to, victim) if not o.startswith(b"forged")]
        assert real[-40:] == after


def test_optimistic_a_flood_of_forgeries_is_played_for_one_window_at_most() -> None:
    room = build(listeners=2)
    insider, ear = room.listeners
    victim = room.speaker.session.me
    room.talk(1.0)
    start = room.relay.now
    for _ in range(3):  # three floods, 1 s apart, of 3 batches' worth of forged counters
        counter = room.speaker.session._media.frame_sender.next_counter  # type: ignore[union-attr]
        fake = forger(insider, victim, counter)
        for to in (room.moderator, ear):
            for _ in range(3 * AUTH.stage_batch):
                room.relay.inject_as(room.speaker, to, EnvelopeType.MEDIA, fake.protect(b"forged"))
            fake = forger(insider, victim, counter)
        room.talk(1.0)
    room.pause()
    stage = [t for t, o in played(room, room.moderator, victim) if o == b"forged"]
    # the counters from the speaker's next one up to the play-first window above its floor
    assert 1 <= len(stage) <= AUTH.play_first_frames, "at most the window, once"
    assert first_report(room, room.moderator, victim) <= stage[0] + AUTH.tentative_wait
    assert not [o for _, o in played(room, ear, victim) if o == b"forged"]
    assert start <= stage[0] and stage[-1] < start + 1.0, "all of it in the first flood"


@pytest.mark.parametrize("lag", [1, 5, round(AUTH.proof_margin / FRAME_S) - 1])
def test_optimistic_the_stage_plays_first_while_the_relay_delays_proofs_by_the_margin(
    lag: int,
) -> None:
    # the relay (or a slower link: proofs ride it, frames may ride datagrams) delivers each
    # proof to the stage member ``lag`` frame periods late, up to the stated proof_margin
    # less a frame period (the test clock's rounding moves arrivals by up to one)
    room = build(listeners=1)
    stage, me = room.moderator, room.speaker.session.me
    room.relay.delay(lag * FRAME_S, to=stage, what=["proof"])
    room.talk(10.0)
    room.pause()
    room.run(AUTH.tentative_wait)
    key = forger(room.speaker, me, 0).key  # the speaker's key: one epoch throughout
    arrived = {
        counter_of(key, d.env.payload): d.at
        for d in room.relay.seen
        if d.to is stage and d.what == "media"
    }
    heard = [
        (e.seq, t - arrived[e.seq], e.held)
        for t, e in room.relay.timeline[stage]
        if isinstance(e, events.AudioReceived) and e.member == me
    ]
    assert sorted(seq for seq, _, _ in heard) == list(range(500)), "every frame, once"
    # held: the speaker's first batch (not verified yet) and the frames before its proof
    assert [seq for seq, _, held in heard if held] == list(range(AUTH.stage_batch + lag))
    added = {wait for seq, wait, held in heard if not held}
    assert added == {0.0}, "the rest is played on arrival: 0 ms added"
    assert forged_reasons(room, stage, me) == set()
    assert stage.session.counters["audio_played_unproven"] == 0


@pytest.mark.parametrize("config", [None, HOLD], ids=["optimistic", "hold"])
def test_a_forged_counter_jump_leaves_no_gap_longer_than_one_batch(
    config: RoomConfig | None,
) -> None:
    room = build(listeners=2, config=config)
    batch = room.moderator.session.config.speaker_auth.stage_batch
    insider, ear = room.listeners
    victim = room.speaker.session.me
    for step in range(200):  # 4 s of audio; the jump comes after 1 s
        if step == 50:
            counter = room.speaker.session._media.frame_sender.next_counter  # type: ignore[union-attr]
            jump = forger(insider, victim, counter + (1 << 20) - 8).protect(b"jump")
            for to in (room.moderator, ear):
                room.relay.inject_as(room.speaker, to, EnvelopeType.MEDIA, jump)
        room.talk(FRAME_S)
    room.pause()
    for to in (room.moderator, ear):
        assert room.heard(to, room.speaker) == [opus(n) for n in range(200)]
        gaps = [b - a for (a, _), (b, _) in pairwise(played(room, to, victim))]
        assert max(gaps) <= batch * FRAME_S + 1e-9, "no gap longer than one batch"
    counters = room.moderator.session.counters
    if config is HOLD:  # the stage member reported the jump when its hold ran out
        assert forged_reasons(room, room.moderator, victim) == {"unproven"}
    else:  # frames played first move no window, so the jump is too far already on arrival
        assert counters["audio_rejected_too_far"] == 1
    assert counters["audio_played_unproven"] == 0
    assert counters["audio_rejected_replay"] == 0, "a frame played first moved no window"


def test_optimistic_a_speaker_sending_two_audios_under_one_proof_is_detected() -> None:
    room = build(listeners=2)
    a, b = room.listeners
    me = room.speaker.session.me
    give_other_audio(room, 24, b, room.moderator)  # in its second batch: played first on stage
    room.talk(45 * FRAME_S)
    room.pause()
    assert room.heard(a, room.speaker) == [opus(n) for n in range(45)]
    got_b = room.heard(b, room.speaker)
    assert b"something else" not in got_b
    assert got_b == [opus(n) for n in (*range(20), *range(40, 45))], "only its batch is lost"
    assert forged_reasons(room, b, me) == {"bad_signature"}
    assert forged_reasons(room, a, me) == set()
    stage = played(room, room.moderator, me)
    assert [o for _, o in stage] == [
        *map(opus, range(24)),
        b"something else",
        *map(opus, range(25, 45)),
    ]
    (swapped_at,) = [t for t, o in stage if o == b"something else"]
    assert forged_reasons(room, room.moderator, me) == {"bad_signature"}
    assert first_report(room, room.moderator, me) <= swapped_at + AUTH.tentative_wait


def test_optimistic_a_kicked_member_the_relay_keeps_listening_hears_no_longer() -> None:
    # spec §15.5: with the kick commit withheld from the speaker, an honest member that hears
    # the speaker on the old epoch hands it the commit; the audience holds each stage batch
    # for up to 20 frames, so it tells a stale sender by a held frame's epoch on arrival
    room = build(listeners=2)
    eve, honest = room.listeners
    room.talk(1.0)
    assert not honest.session.counters["commit_forwarded"]
    room.relay.withhold(
        src=room.moderator,
        to={room.speaker, eve},
        types=(EnvelopeType.CONTROL, EnvelopeType.UNICAST),
    )
    room.moderator.session.kick(eve.session.me)
    kick = room.relay.now
    room.talk(3.0)
    assert honest.session.counters["commit_forwarded"] == 1
    assert room.speaker.session.epoch == room.moderator.session.epoch, "it got the commit"
    grace = room.moderator.session.config.rekey_send_grace
    room.pause()
    assert room.heard(eve, room.speaker, sent_after=kick + 2 * grace + 2 * FRAME_S) == []


@pytest.mark.parametrize("move", ["withhold", "delay"])
def test_optimistic_on_a_lossy_datagram_path_withheld_proofs_and_forgeries_play_one_window(
    move: str,
) -> None:
    # issue 12: proofs ride datagrams (twice) and the link; 5 % loss on every packet.  The relay
    # withholds, or delays past the wait, every copy of every proof to the stage member while the
    # insider's forgeries at the speaker's own counters reach it first, for 8 s
    relay = LossyRelay()
    room = build(listeners=2, relay=relay)
    insider, ear = room.listeners
    stage, victim = room.moderator, room.speaker.session.me
    relay.lossy(0.05, 3, {stage, room.speaker})
    room.talk(1.0)
    assert forged_reasons(room, stage, victim) == set(), "in good standing"
    if move == "withhold":
        rule = relay.withhold(to=stage, what=["proof"])
    else:
        rule = relay.delay(2 * AUTH.tentative_wait, to=stage, what=["proof"])
    start = relay.now
    for step in range(400):
        if step % 5 == 0:
            counter = room.speaker.session._media.frame_sender.next_counter  # type: ignore[union-attr]
            forged = forger(insider, victim, counter).protect(b"forged %d" % step)
            for to in (stage, ear):
                relay.inject_as(room.speaker, to, EnvelopeType.MEDIA, forged)
        room.talk(FRAME_S)
    rule.release() if move == "withhold" else rule.lift()
    room.talk(1.0)
    room.pause()
    room.run(AUTH.hold)
    got = [(t, o) for t, o in played(room, stage, victim) if o.startswith(b"forged")]
    assert 1 <= len(got) <= AUTH.play_first_frames, "at most the play-first window"
    assert got[0][0] >= start and relay.now - start < AUTH.demotion, "in one demotion period"
    reported = first_report(room, stage, victim)
    assert reported <= got[0][0] + AUTH.tentative_wait, "reported within the stated wait"
    assert all(t <= reported for t, _ in got), "and nothing forged is played after that"
    assert not [o for _, o in played(room, ear, victim) if o.startswith(b"forged")]
