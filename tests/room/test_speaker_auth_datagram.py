"""Speaker authentication over a lossy datagram path (spec §15.6, §23.6; issue 12).

A speaker, a stage member and an audience member on the hostile relay of
tests/attack, whose clients now reach it over lossy networks
(:class:`attack.lossy.LossyRelay`: seeded random loss on every packet, both
ways, 50 ± 10 ms; stage audio by datagram with the real channel and MEDIA_RED
code, everything else over TCP links that stall on a lost segment).  The
clock is the test's own; every run is deterministic.
"""

from __future__ import annotations

import pytest
from attack.lossy import LossyRelay
from attack.scene import FRAME_S, Scene, build

from e2ee.room import events
from e2ee.room.speaker_auth import AuthConfig, Released
from room.harness import Link
from room.insider import counter_of
from room.test_speaker_auth_hostile import forger

from .test_speaker_auth import frame_sender
from .test_speaker_auth_optimistic import deliver, standing

AUTH = AuthConfig()  # the optimistic stage mode, the default
SECONDS = 20.0
SEED = 1  # the loss pattern of the mechanism's test


def lossy_room(loss: float, seed: int, proofs_by_datagram: bool = True) -> Scene:
    """The room, its network lossy from the start, the speaker talking ``SECONDS``."""
    relay = LossyRelay()
    room = build(listeners=1, relay=relay)
    relay.lossy(loss, seed, {room.moderator, room.speaker}, proofs_by_datagram)
    room.talk(SECONDS)
    room.pause()
    room.run(AUTH.hold + 1.0)
    return room


def added_hold(room: Scene, to: Link) -> list[float]:
    """Per frame ``to`` played after the speaker's first batch: play time minus arrival."""
    relay = room.relay
    assert isinstance(relay, LossyRelay)
    key = forger(room.speaker, room.speaker.session.me, 0).key
    arrived = {counter_of(key, p): t for (who, p), t in relay.arrived.items() if who is to}
    return [
        t - arrived[e.seq]
        for t, e in relay.timeline[to]
        if isinstance(e, events.AudioReceived)
        and e.member == room.speaker.session.me
        and e.seq >= AUTH.stage_batch
    ]


def reports(room: Scene, to: Link) -> list[str]:
    return [e.reason for e in room.relay.events(to, events.ForgedAudio)]  # type: ignore[attr-defined]


def test_the_link_stalls_proofs_past_the_wait_and_the_stage_holds_an_honest_speaker() -> None:
    # issue 12, the mechanism: frames by datagram, proofs only over the stalling link
    room = lossy_room(0.05, SEED, proofs_by_datagram=False)
    stage = room.moderator
    unproven = stage.session.counters["audio_played_unproven"]
    # one stalled proof: the window played first (a batch and the frames ahead of its proof)
    assert unproven >= AUTH.play_first_frames - 1, "spent W plays, its proof too late"
    assert "unproven" in reports(room, stage), "so the honest speaker was reported"
    waits = added_hold(room, stage)
    late = [w for w in waits if w > FRAME_S + 1e-9]
    assert len(late) > 0.3 * len(waits), "and from then on held until proven"
    assert max(waits) >= (AUTH.stage_batch - 1) * FRAME_S


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_at_5_percent_loss_an_honest_speaker_is_never_held_and_the_stage_waits_no_frame(
    seed: int,
) -> None:
    room = lossy_room(0.05, seed)
    stage = room.moderator
    counters = stage.session.counters
    waits = sorted(added_hold(room, stage))
    assert len(waits) >= 0.95 * (room.sent(room.speaker) - AUTH.stage_batch)
    assert waits[int(0.99 * len(waits))] <= FRAME_S, "99 % wait at most one frame period"
    assert "bad_signature" not in reports(room, stage)
    # a batch that lost two frames of a parity class is unproven (spec §15.6): its played
    # frames are spent, fewer than W, so the speaker is never held until proven
    assert counters["audio_played_unproven"] < AUTH.play_first_frames
    assert counters["audio_proof_duplicate"] > 0, "the proofs' other copies"
    audience = room.listener
    assert "bad_signature" not in reports(room, audience)
    assert len(added_hold(room, audience)) >= 0.95 * (room.sent(room.speaker) - AUTH.stage_batch)


# -- the gate's rules for copies and for frames never played (spec §15.6) -------------------


def test_a_proofs_second_copy_is_dropped_and_never_crowds_out_a_waiting_proof() -> None:
    gate, talk, counters = standing()
    member = talk.ident.public
    proofs: list[bytes] = []
    for i in range(AUTH.stage_batch):
        f, ps = talk.next()
        deliver(gate, member, f, i * FRAME_S)
        proofs += ps
    (proof,) = proofs
    rel = deliver(gate, member, proof, 0.5)
    assert len(rel.confirmed) == AUTH.stage_batch and rel.events == []
    waiting: list[bytes] = []
    for _ in range(3 * AUTH.stage_batch):  # three more batches whose frames the relay holds back
        waiting += talk.next()[1]
    for p in waiting:
        deliver(gate, member, p, 0.6)
    for _ in range(10):  # the first proof's copies, from the datagrams and the link
        assert deliver(gate, member, proof, 0.7) == Released([], [])
    assert counters["audio_proof_duplicate"] == 10 and counters["audio_proof_dropped"] == 0
    assert len(gate) == 3, "the three waiting proofs are all still there"


def test_held_frames_that_expire_are_reported_but_do_not_demote_the_speaker() -> None:
    gate, talk, counters = standing()
    member = talk.ident.public
    far = frame_sender(member, start=AUTH.stage_batch + AUTH.play_first_frames + 5)
    rel = gate.frame(member, far.protect(b"beyond the window"), 0.0, on_stage=True)
    assert rel.tentative == [], "outside the play-first window: held"
    events = gate.expire(AUTH.hold)
    assert [e.reason for e in events] == ["unproven"], "reported: no proof came"
    assert counters["audio_rejected_unproven"] == 1 and counters["audio_played_unproven"] == 0
    f, _ = talk.next()
    rel = gate.frame(member, f, AUTH.hold, on_stage=True)
    assert rel.tentative == [f], "never played, so still in good standing: played first"
