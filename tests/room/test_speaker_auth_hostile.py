"""Speaker authentication against an insider and the relay, in a whole room (spec §15.6).

The insider is a listener holding every room key; the relay stamps the
speaker's slot on whatever the insider gives it, delivers it first, and can
send different bytes to different members.
"""

from __future__ import annotations

from collections.abc import Callable

from e2ee.envelope import Envelope, EnvelopeType
from e2ee.room import RoomConfig, events, keys, speaker_proof
from e2ee.room.events import ForgedAudio
from e2ee.room.speaker_auth import STAGE_HOLD
from e2ee.sender_key import SenderKey
from e2ee.sframe_header import decode_header

from .harness import Link, Router, new_identity
from .insider import Forger, counter_of, hidden_proof, revealed
from .test_room_robust_rekey import stage_room

FRAME = 0.02
HOLD = RoomConfig(speaker_auth=STAGE_HOLD)


def victim_key(insider: Link, victim: bytes) -> SenderKey:
    """``victim``'s sender key at the insider's epoch (spec §15.4)."""
    s = insider.session
    epoch = s.epoch
    return SenderKey(epoch, epoch, keys.sender_base(s._keys.epoch_keys[epoch], victim))


def forger(insider: Link, victim: bytes, counter: int) -> Forger:
    """Wire frames in ``victim``'s name under keys the insider holds (spec §15.4)."""
    return Forger(victim_key(insider, victim), insider.session.room_id, victim, counter)


def forged_proof(insider: Link, seed: int, victim: bytes, frames: list[bytes]) -> bytes:
    """A proof the insider signs itself over wire ``frames``, under the victim's keys."""
    s = insider.session
    key = victim_key(insider, victim)
    clear = [revealed(key, f) for f in frames]
    first = decode_header(clear[0])[1]
    digests = [speaker_proof.frame_digest(f) for f in clear]
    ident = new_identity(seed)
    proof = speaker_proof.make_proof(
        ident, keys.proof_key(key.secret), s.room_id, s.epoch, first, digests, 1
    )
    return hidden_proof(key, proof)


def stamp(r: Router, to: Link, slot: int, payload: bytes) -> None:
    """The relay delivers ``payload`` to ``to`` as MEDIA from ``slot``."""
    to.inbox.appendleft(Envelope(EnvelopeType.MEDIA, to.session.room_tag, slot, payload))


def rewrite_media(link: Link, change: Callable[[bytes], bytes]) -> None:
    """The relay rewrites every MEDIA payload it delivers to ``link``."""
    deliver = link.session.envelope_received

    def rewriting(env: Envelope, now: float) -> None:
        if env.type is EnvelopeType.MEDIA:
            env = Envelope(env.type, env.room_tag, env.slot, change(env.payload))
        deliver(env, now)

    link.session.envelope_received = rewriting  # type: ignore[method-assign]


def heard(link: Link, member: bytes) -> list[events.AudioReceived]:
    return [e for e in link.events if isinstance(e, events.AudioReceived) and e.member == member]


def forged_events(link: Link) -> list[ForgedAudio]:
    return [e for e in link.events if isinstance(e, ForgedAudio)]


def test_an_insider_with_the_relay_injects_for_ten_seconds_and_nothing_forged_is_played() -> None:
    r, mod, spk, (insider, other) = stage_room(RoomConfig())
    victim = spk.session.me
    assert spk.slot is not None
    fake = forger(insider, victim, 5_000)  # a stream of its own, ahead of the speaker
    t0 = r.now
    sent = 0
    for step in range(500):  # 10 s, one real and one forged frame every 20 ms
        r.advance(t0 + step * FRAME - r.now)
        spk.session.send_audio(b"real %d" % step, r.now)
        sent += 1
        forged = [fake.protect(b"forged %d" % step)]
        if step % 3 == 2:  # and a proof over them signed by the insider itself
            forged.append(forged_proof(insider, 92, victim, forged))
        for to in (mod, other):
            for payload in forged:
                stamp(r, to, spk.slot, payload)
        r.pump()
    r.advance(2.0)
    for to in (mod, other):
        got = heard(to, victim)
        assert not [e for e in got if e.opus.startswith(b"forged")], "0 forged frames played"
        assert [e.opus for e in got] == [b"real %d" % i for i in range(sent)]
        reasons = {e.reason for e in forged_events(to) if e.member == victim}
        assert reasons == {"bad_signature", "unproven"}, "the event names the forged source"
        assert to.session.counters["audio_forged_bad_signature"] >= 1


def test_a_forged_counter_jump_does_not_silence_the_speaker() -> None:
    r, mod, spk, (insider, other) = stage_room(RoomConfig())
    victim = spk.session.me
    assert spk.slot is not None
    t0 = r.now
    for step in range(100):  # 2 s of audio; the jump comes after 1 s
        r.advance(t0 + step * FRAME - r.now)
        spk.session.send_audio(b"real %d" % step, r.now)
        if step == 50:
            counter = spk.session._media.frame_sender.next_counter  # type: ignore[union-attr]
            jump = forger(insider, victim, counter + (1 << 20) - 8).protect(b"jump")  # in bound
            for to in (mod, other):
                stamp(r, to, spk.slot, jump)
        r.pump()
    r.advance(0.1)
    for to in (mod, other):
        seqs = [e.seq for e in heard(to, victim)]
        assert seqs == list(range(100)), "every real frame, before and after the jump: no gap"


def test_a_speaker_sending_different_audio_to_two_members_under_one_proof_is_detected() -> None:
    r, _, spk, (a, b) = stage_room(HOLD)  # batches of 3 on stage
    speaker = spk.session
    epoch = speaker.epoch
    key = SenderKey(epoch, epoch, keys.sender_base(speaker._keys.epoch_keys[epoch], speaker.me))
    # the speaker (with a relay) gives b another frame for counter 4 than everybody else
    swapped = Forger(key, speaker.room_id, speaker.me, 4).protect(b"something else")

    def swap_frame_4(p: bytes) -> bytes:
        return swapped if counter_of(key, p) == 4 else p

    rewrite_media(b, swap_frame_4)
    t0 = r.now
    for step in range(9):
        r.advance(t0 + step * FRAME - r.now)
        speaker.send_audio(b"said %d" % step, r.now)
        r.pump()
    r.advance(0.1)
    assert [e.opus for e in heard(a, speaker.me)] == [b"said %d" % i for i in range(9)]
    got_b = [e.opus for e in heard(b, speaker.me)]
    assert b"something else" not in got_b
    assert got_b == [b"said %d" % i for i in (0, 1, 2, 6, 7, 8)], "only its batch is lost"
    assert [e.reason for e in forged_events(b)] == ["bad_signature"]
    assert forged_events(a) == []


def test_frames_injected_at_the_speakers_own_counters_cost_only_those_batches() -> None:
    r, mod, spk, (insider, other) = stage_room(HOLD)  # a stage member that plays nothing first
    victim = spk.session.me
    assert spk.slot is not None
    t0 = r.now
    for step in range(100):  # 2 s; for the middle second the relay delivers forgeries first
        r.advance(t0 + step * FRAME - r.now)
        spk.session.send_audio(b"real %d" % step, r.now)
        if 25 <= step < 75:
            counter = spk.session._media.frame_sender.next_counter - 1  # type: ignore[union-attr]
            forged = forger(insider, victim, counter).protect(b"forged %d" % step)
            stamp(r, mod, spk.slot, forged)
        r.pump()
    r.advance(0.1)
    got = [e.opus for e in heard(mod, victim)]
    assert not [o for o in got if o.startswith(b"forged")]
    assert got[:24] == [b"real %d" % i for i in range(24)]
    assert got[-24:] == [b"real %d" % i for i in range(76, 100)], "heard again at once"
    assert "bad_signature" in {e.reason for e in forged_events(mod)}
    assert [e.opus for e in heard(other, victim)] == [b"real %d" % i for i in range(100)]
