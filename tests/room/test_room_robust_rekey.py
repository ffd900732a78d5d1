"""Re-key timing (spec §15.2, §15.4): a speaker without the new secret stops after the grace."""

from __future__ import annotations

from e2ee.envelope import EnvelopeDecoder, EnvelopeType
from e2ee.room import Role, RoomConfig, RoomSession

from .harness import Link, Router, make_invite, new_identity, rng_for
from .test_room_robust_buffer import intercept


def stage_room(config: RoomConfig) -> tuple[Router, Link, Link, list[Link]]:
    founder = new_identity(90)
    invite = make_invite(b"k" * 32, founder.public)
    r = Router()
    mod = r.attach(RoomSession.create(founder, invite, "M", "open", rng_for(90), 0.0, config))
    r.pump()
    others = [
        r.attach(
            RoomSession.join(new_identity(91 + i), invite, f"L{i}", rng_for(91 + i), 0.0, config)
        )
        for i in range(3)
    ]
    r.pump()
    spk = others[0]
    mod.session.invite_to_speak(spk.session.me)
    r.pump()
    spk.session.accept_invitation()
    r.pump()
    assert spk.session.role is Role.SPEAKER
    return r, mod, spk, others[1:]


def sends_audio(link: Link, now: float) -> bool:
    """Whether ``link``'s speaker puts a frame on the wire at ``now``."""
    link.session.send_audio(b"opus", now)
    sent = EnvelopeDecoder().feed(link.session.data_to_send())
    return any(e.type is EnvelopeType.MEDIA for e in sent)


def test_a_speaker_without_the_new_secret_sends_on_the_old_key_for_the_grace_only() -> None:
    config = RoomConfig(key_grace=3.0)
    r, mod, spk, (victim, _) = stage_room(config)
    # the relay withholds every unicast to the speaker: the fresh secret and any sync
    intercept(spk, lambda env: env.type is EnvelopeType.UNICAST)
    mod.session.kick(victim.session.me)
    r.pump()
    t0 = r.now
    assert spk.session.epoch == mod.session.epoch
    assert spk.session._fresh.awaiting is not None
    grace = config.rekey_send_grace
    timeline = []
    for dt in (0.1, 0.3, 0.49, 0.51, 0.8, 1.5, 2.5, 3.5):
        r.advance(t0 + dt - r.now)  # timers run: the fresh-secret timeout fires at 0.5 s
        timeline.append((dt, sends_audio(spk, r.now)))
    assert timeline == [(dt, dt <= grace) for dt, _ in timeline]
    assert spk.session.counters["audio_held"] == 5
