"""The optimistic stage mode of the receiver's gate: play first, verify after (spec §15.6)."""

from __future__ import annotations

from collections import Counter

from e2ee.frame import FrameSender
from e2ee.identity import IdentityKey
from e2ee.room import keys
from e2ee.room.audio_in import AudioIn
from e2ee.room.events import ForgedAudio
from e2ee.room.speaker_auth import STAGE_HOLD, AuthConfig, ProofBatcher, ProofGate, Released
from e2ee.sender_key import SenderKey

from .test_speaker_auth import EPOCH, EPOCH_KEY, ROOM, frame_sender, proof_key, speaker

CONFIG = AuthConfig()  # the default stage mode is the optimistic one
N = CONFIG.stage_batch
W = CONFIG.play_first_frames  # the batch being proven and those ahead of its proof
WAIT = CONFIG.tentative_wait


class Talk:
    """One speaker's frames and proofs at its stage batch, sent every 20 ms from ``t = 0``."""

    def __init__(self, ident: IdentityKey, config: AuthConfig = CONFIG) -> None:
        self.ident = ident
        self.params = config.params(True)
        self.tx = frame_sender(ident.public)
        self.batcher = ProofBatcher(ident, ROOM)
        self.sent = 0

    def next(self) -> tuple[bytes, list[bytes]]:
        """The next frame and the proofs sent right after it."""
        f = self.tx.protect(b"audio %d" % self.sent)
        proofs = self.batcher.add(
            f, EPOCH, self.sent * 0.02, self.params, lambda: proof_key(self.ident.public)
        )
        self.sent += 1
        return f, proofs


def deliver(gate: ProofGate, member: bytes, payload: bytes, now: float) -> Released:
    if payload[0] == 0xFF:
        return gate.proof(member, payload, now, [(EPOCH, proof_key(member))])
    return gate.frame(member, payload, now, on_stage=True)


def standing(config: AuthConfig = CONFIG) -> tuple[ProofGate, Talk, Counter[str]]:
    """A stage member's gate that has verified the speaker's first batch (good standing)."""
    counters: Counter[str] = Counter()
    gate = ProofGate(ROOM, config, counters)
    talk = Talk(speaker(), config)
    released: list[bytes] = []
    for _ in range(config.stage_batch):
        f, proofs = talk.next()
        rel = gate.frame(talk.ident.public, f, 0.0, on_stage=True)
        assert rel.tentative == [], "no proof of this speaker verified yet: held"
        for p in proofs:
            released += deliver(gate, talk.ident.public, p, 0.0).frames
    assert len(released) == config.stage_batch
    return gate, talk, counters


def test_a_speaker_in_good_standing_is_played_at_once_and_confirmed_by_its_proof() -> None:
    gate, talk, counters = standing()
    member = talk.ident.public
    played: list[bytes] = []
    confirmed: list[bytes] = []
    for i in range(3 * N):
        f, proofs = talk.next()
        rel = deliver(gate, member, f, i * 0.02)
        assert rel.tentative == [f] and rel.frames == [], "played on arrival: 0 ms added"
        played.append(f)
        for p in proofs:
            rel = deliver(gate, member, p, i * 0.02)
            assert rel.events == [] and rel.frames == [] and rel.tentative == []
            confirmed += rel.confirmed
    assert confirmed == played, "each played frame is handed back once, when proven"
    assert len(gate) == 0 and counters == Counter()


def test_the_audience_and_the_hold_mode_never_play_first() -> None:
    for config, on_stage in ((CONFIG, False), (STAGE_HOLD, True)):
        gate, talk, _ = standing(config)
        f, _ = talk.next()
        rel = gate.frame(talk.ident.public, f, 0.5, on_stage=on_stage)
        assert rel.tentative == [] and len(gate) == 1


def test_a_speaker_in_good_standing_is_played_first_across_batches_while_its_proofs_lag() -> None:
    # each proof arrives ``lag`` frame periods after the frame it follows (the frames ride
    # datagrams, the proof the slower link), up to the stated proof_margin; when a proof and
    # a frame are due together, the frame comes first (the worst case)
    for lag in (1, 5, round(CONFIG.proof_margin / 0.02)):
        gate, talk, counters = standing()
        member = talk.ident.public
        late: list[tuple[int, bytes]] = []
        tentative = confirmed = 0
        most = 0
        for i in range(N, 6 * N + lag + 1):
            now = i * 0.02
            if i < 6 * N:
                f, proofs = talk.next()
                rel = deliver(gate, member, f, now)
                assert rel.tentative == [f] and rel.frames == [], f"lag {lag}: played on arrival"
                tentative += 1
                late += [(i + lag, p) for p in proofs]
            for p in [p for due, p in late if due == i]:
                rel = deliver(gate, member, p, now)
                assert rel.events == [] and rel.frames == [] and rel.tentative == []
                confirmed += len(rel.confirmed)
            most = max(most, len(gate))
        assert tentative == confirmed == 5 * N, "every frame played at once, then proven"
        assert most <= W and len(gate) == 0 and counters == Counter()


def test_the_play_first_window_is_the_bound_of_the_tentative_table() -> None:
    gate, talk, _ = standing()
    member = talk.ident.public
    frames = [talk.next()[0] for _ in range(W + 1)]  # every proof after these is withheld
    tentative = [f for f in frames if deliver(gate, member, f, 0.5).tentative]
    assert tentative == frames[:W], "at the bound: W frames played, the (W+1)-th held"
    assert len(gate._held[member].tentative) == W and len(gate) == W + 1


def test_a_forged_frame_is_played_at_most_once_and_reported_within_the_stated_time() -> None:
    gate, talk, counters = standing()
    member = talk.ident.public
    # an insider's frame for the speaker's next counter, delivered first by the relay
    forged = frame_sender(member, talk.tx.next_counter).protect(b"forged")
    assert deliver(gate, member, forged, 0.5).tentative == [forged]
    events: list[ForgedAudio] = []
    for i in range(N):
        f, proofs = talk.next()
        rel = deliver(gate, member, f, 0.5 + 0.02 * i)
        assert (rel.tentative == []) == (i == 0), "the genuine copy of that counter is dropped"
        for p in proofs:
            events += deliver(gate, member, p, 0.5 + 0.02 * i).events
    assert events == [ForgedAudio(member, "bad_signature")], "reported at the batch's proof"
    assert counters["audio_rejected_conflict"] == 1
    # from now on the speaker is held until proven: nothing more is played first
    for i in range(N):
        f, proofs = talk.next()
        assert deliver(gate, member, f, 1.0 + 0.02 * i).tentative == []
        released = [r for p in proofs for r in deliver(gate, member, p, 1.0 + 0.02 * i).frames]
    assert len(released) == N, "the genuine speaker is still heard, a batch later"
    assert counters["audio_played_unproven"] == N, "the failed batch's played frames"
    last = 0.5 + 0.02 * (N - 1) + WAIT  # the last of them ran out of time: the last report
    f, _ = talk.next()
    assert deliver(gate, member, f, last + CONFIG.demotion).tentative == [f], "standing back"


def test_an_unproven_frame_is_reported_exactly_when_its_wait_ends() -> None:
    gate, talk, counters = standing()
    member = talk.ident.public
    forged = frame_sender(member, talk.tx.next_counter + N - 1).protect(b"forged")
    assert deliver(gate, member, forged, 1.0).tentative == [forged]
    assert gate.next_expiry() == 1.0 + WAIT
    assert gate.expire(1.0 + WAIT - 1e-6) == []
    assert gate.expire(1.0 + WAIT) == [ForgedAudio(member, "unproven")]
    assert counters["audio_played_unproven"] == 1 and len(gate) == 0
    f, _ = talk.next()
    assert deliver(gate, member, f, 1.0 + WAIT).tentative == [f], "one unproven play spent"


def test_at_most_w_frames_that_end_unproven_are_played_first_per_demotion_period() -> None:
    gate, talk, counters = standing()
    member = talk.ident.public
    floor = talk.tx.next_counter
    unproven = frame_sender(member, floor)  # frames no proof will ever cover (the bound's worst)
    for _ in range(W - 1):
        assert deliver(gate, member, unproven.protect(b"x"), 1.0).tentative
    assert [e.reason for e in gate.expire(1.0 + WAIT)] == ["unproven"]
    assert counters["audio_played_unproven"] == W - 1 and len(gate) == 0
    last = frame_sender(member, floor + W - 1).protect(b"the W-th")
    assert deliver(gate, member, last, 1.0 + WAIT).tentative == [last], "W - 1 spent: one more"
    beyond = frame_sender(member, floor + W - 2).protect(b"the (W+1)-th")
    rel = deliver(gate, member, beyond, 1.0 + WAIT)
    assert rel.tentative == [], "W unproven plays (spent or tentative): held until proven"
    again = frame_sender(member, floor + 1).protect(b"a demotion period later")
    assert deliver(gate, member, again, 1.0 + WAIT + CONFIG.demotion).tentative == [again]


def test_a_played_frame_the_speakers_next_proof_passes_over_is_reported() -> None:
    gate, talk, counters = standing()
    member = talk.ident.public
    first = talk.tx.next_counter
    forged = frame_sender(member, first + N - 1).protect(b"forged")
    deliver(gate, member, forged, 0.5)
    for _ in range(3):  # the speaker says three frames and pauses: a short batch
        deliver(gate, member, talk.next()[0], 0.5)
    (short,) = talk.batcher.flush()
    assert deliver(gate, member, short, 0.6).events == []
    talk.tx = frame_sender(member, first + N)  # it speaks on past the forged counter
    events: list[ForgedAudio] = []
    for _ in range(N):
        f, proofs = talk.next()
        deliver(gate, member, f, 0.7)
        for p in proofs:
            events += deliver(gate, member, p, 0.7).events
    assert events == [ForgedAudio(member, "unproven")]
    assert counters["audio_played_unproven"] == 1


def test_a_tentative_frame_moves_no_replay_window_until_it_is_confirmed() -> None:
    ident = speaker()
    key = SenderKey(EPOCH, EPOCH, keys.sender_base(EPOCH_KEY, ident.public))
    real = FrameSender(key, room_id=ROOM, sender_id=ident.public, next_counter=100)
    jump = FrameSender(key, room_id=ROOM, sender_id=ident.public, next_counter=100 + (1 << 20))
    audio = AudioIn(ROOM)
    frames = [real.protect(b"real %d" % i) for i in range(3)]
    audio.open(ident.public, frames[0], 0.0, [EPOCH], lambda e: key)
    forged = jump.protect(b"forged, opened before any proof")
    assert audio.open(ident.public, forged, 0.0, [EPOCH], lambda e: key, commit=False)[1].payload
    for f in frames[1:]:  # the speaker is not silenced: its window did not move
        assert audio.open(ident.public, f, 0.0, [EPOCH], lambda e: key)[1].counter > 100
    assert audio.open(ident.public, forged, 0.0, [EPOCH], lambda e: key, commit=False)
