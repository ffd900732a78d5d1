"""Audio under bursts of commits and withheld commits (spec §15.4, §16.5)."""

from __future__ import annotations

from collections.abc import Callable

from e2ee.envelope import Envelope, EnvelopeType
from e2ee.errors import RemoteProtocolError
from e2ee.frame import FrameReceiver
from e2ee.room import RoomConfig, events, speaker_proof
from e2ee.room import keys as room_keys
from e2ee.room.roster import Policy, op_policy
from e2ee.sender_key import SenderKey
from e2ee.sframe_header import decode_header

from .harness import Link
from .insider import revealed
from .test_room_robust_buffer import intercept
from .test_room_robust_rekey import stage_room


class DelayedInbound:
    """The relay delivers ``link``'s CONTROL envelopes ``delay`` seconds late."""

    def __init__(self, link: Link, delay: float) -> None:
        self.link = link
        self.delay = delay
        self.held: list[tuple[float, Envelope]] = []
        self.deliver = link.session.envelope_received
        link.session.envelope_received = self._hold  # type: ignore[method-assign]

    def _hold(self, env: Envelope, now: float) -> None:
        if env.type is EnvelopeType.CONTROL:
            self.held.append((now, env))
        else:
            self.deliver(env, now)

    def release(self, now: float) -> None:
        due = [x for x in self.held if x[0] + self.delay <= now]
        self.held = [x for x in self.held if x[0] + self.delay > now]
        for _, env in due:
            self.deliver(env, now)


def test_twenty_commits_in_one_second_lose_no_frame_to_key_confusion() -> None:
    r, mod, spk, listeners = stage_room(RoomConfig())
    lag = DelayedInbound(spk, 0.45)  # the speaker hears commits 9 epochs late
    start = mod.session.epoch
    sent = 0
    t0 = r.now
    for step in range(100):  # 1 s in 10 ms steps
        now = t0 + step * 0.01
        r.advance(now - r.now)
        lag.release(now)
        if step % 5 == 0:  # 20 commits in the second
            mod.session._moderator_action([op_policy(Policy(step // 5 % 2))])
        if step % 2 == 0:  # a frame every 20 ms
            spk.session.send_audio(b"frame %d" % step, now)
            sent += 1
        r.pump()
    r.advance(0.1)  # the proof of the last batch (spec §15.6)
    assert mod.session.epoch - start == 20
    for x in [*listeners, mod]:
        got = [e for e in x.events if isinstance(e, events.AudioReceived)]
        rejected = {k: v for k, v in x.session.counters.items() if k.startswith("audio_rejected")}
        assert (len(got), rejected) == (sent, {})


def record_media(link: Link, now: Callable[[], float]) -> list[tuple[float, bytes]]:
    """Every MEDIA payload the relay delivers to ``link``, with the time."""
    seen: list[tuple[float, bytes]] = []
    deliver = link.session.envelope_received

    def recording(env: Envelope, t: float) -> None:
        if env.type is EnvelopeType.MEDIA:
            seen.append((now(), env.payload))
        deliver(env, t)

    link.session.envelope_received = recording  # type: ignore[method-assign]
    return seen


def opens_with(keys: dict[int, bytes], room_id: bytes, speaker: bytes, wire: bytes) -> bool:
    """Whether any of these epoch keys (all a removed member holds) opens the wire frame."""
    for epoch, k in keys.items():
        key = SenderKey(epoch, epoch, room_keys.sender_base(k, speaker))
        rx = FrameReceiver(room_id=room_id, sender_id=speaker)
        try:
            frame = revealed(key, wire)
            rx.add_key(key, decode_header(frame)[1])
            rx.unprotect(frame, 0.0)
        except RemoteProtocolError:
            continue
        return True
    return False


def test_a_kick_commit_withheld_from_a_speaker_leaves_the_kicked_member_deaf_after_the_grace() -> (
    None
):
    config = RoomConfig()
    r, mod, spk, (victim, other) = stage_room(config)
    frames = record_media(other, lambda: r.now)
    intercept(spk, lambda env: env.type is EnvelopeType.CONTROL)  # the kick commit never comes
    t0 = r.now
    mod.session.kick(victim.session.me)
    r.pump()
    kept = dict(victim.session._keys.epoch_keys)  # all a modified client could still use
    assert victim.session.state == "removed" and spk.session.epoch < mod.session.epoch
    for step in range(150):  # 3 s of audio, a frame every 20 ms
        r.advance(t0 + step * 0.02 - r.now)
        spk.session.send_audio(b"frame %d" % step, r.now)
        r.pump()
    r.advance(0.1)  # the proof of the last batch (spec §15.6)
    me = spk.session.me
    frames = [(t, f) for t, f in frames if not speaker_proof.is_speaker_proof(f)]
    heard = [t for t, f in frames if t > t0 and opens_with(kept, spk.session.room_id, me, f)]
    assert heard, "the speaker did send on the old key at first (the test can see it)"
    assert max(heard) <= t0 + config.key_grace
    # the room noticed, told its users, and the moderator's sync caught the speaker up
    assert spk.session.epoch == mod.session.epoch
    for x in (mod, other):
        assert "stale_sender" in [e.kind for e in x.events if isinstance(e, events.SecurityAlert)]
    late = [e for e in other.events if isinstance(e, events.AudioReceived)][-10:]
    assert [e.opus for e in late] == [b"frame %d" % s for s in range(140, 150)]


def alerts(link: Link, kind: str) -> int:
    return sum(1 for e in link.events if isinstance(e, events.SecurityAlert) and e.kind == kind)


def test_a_member_cut_off_from_every_commit_and_beacon_is_warned_within_the_stated_period() -> None:
    config = RoomConfig()
    r, mod, spk, (cut, other) = stage_room(config)
    intercept(cut, lambda env: env.type in (EnvelopeType.CONTROL, EnvelopeType.UNICAST))
    t0 = r.now
    for i in range(7):  # the room goes on: a commit every 10 s
        r.advance(10.0)
        mod.session._moderator_action([op_policy(Policy(i % 2))])
        r.pump()
    assert alerts(cut, "isolated") == 0  # 70 s: not yet
    r.advance(t0 + config.quiet_alert + 0.01 - r.now)
    assert alerts(cut, "isolated") == 1
    assert cut.session.epoch < mod.session.epoch
    for x in (mod, spk, other):
        assert alerts(x, "isolated") == 0


def test_an_honest_quiet_room_raises_no_isolation_alert() -> None:
    config = RoomConfig()
    r, mod, spk, listeners = stage_room(config)
    r.advance(5 * config.quiet_alert)  # nothing happens but beacons
    for x in (mod, spk, *listeners):
        assert alerts(x, "isolated") == 0
