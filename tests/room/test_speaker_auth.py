"""Speaker proofs and the receiver's gate, without a room (spec §15.6)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2ee.errors import DecryptionFailed, LocalProtocolError, RemoteProtocolError
from e2ee.frame import FrameSender
from e2ee.identity import IdentityKey
from e2ee.room import keys, speaker_proof
from e2ee.room.events import ForgedAudio
from e2ee.room.speaker_auth import (
    MAX_HELD_FRAMES,
    MAX_HELD_PROOFS,
    PAUSE,
    STAGE_HOLD,
    AuthConfig,
    ProofBatcher,
    ProofGate,
)
from e2ee.room.speaker_proof import MAX_BATCH, MAX_PARITY
from e2ee.sender_key import SenderKey

ROOM = bytes(range(32))
EPOCH_KEY = b"\x07" * 32
EPOCH = 5
CONFIG = AuthConfig()  # the optimistic stage mode: the gate holds unless told it is on stage
HOLD = CONFIG.hold


def speaker(seed: int = 1) -> IdentityKey:
    return IdentityKey(random.Random(seed).randbytes(32))


def frame_sender(member: bytes, start: int = 0) -> FrameSender:
    key = SenderKey(EPOCH, EPOCH, keys.sender_base(EPOCH_KEY, member))
    return FrameSender(key, room_id=ROOM, sender_id=member, next_counter=start)


def proof_key(member: bytes) -> bytes:
    return keys.proof_key(keys.sender_base(EPOCH_KEY, member))


def stream(
    ident: IdentityKey, count: int, batch: int, parity: int, start: int = 0
) -> tuple[list[bytes], list[bytes]]:
    """``count`` frames and the proofs a speaker sends for them."""
    tx = frame_sender(ident.public, start)
    batcher = ProofBatcher(ident, ROOM)
    frames, proofs = [], []
    for i in range(count):
        f = tx.protect(b"audio %d" % i)
        frames.append(f)
        proofs += batcher.add(f, EPOCH, i * 0.02, (batch, parity), lambda: proof_key(ident.public))
    proofs += batcher.flush()
    return frames, proofs


def gate_feed(
    gate: ProofGate, member: bytes, frames: list[bytes], proofs: list[bytes], now: float = 0.0
) -> tuple[list[bytes], list[ForgedAudio]]:
    out: list[bytes] = []
    events: list[ForgedAudio] = []
    for f in frames:
        rel = gate.frame(member, f, now)
        out += rel.frames
        events += rel.events
    for p in proofs:
        rel = gate.proof(member, p, now, [(EPOCH, proof_key(member))])
        out += rel.frames
        events += rel.events
    return out, events


def test_frames_are_held_until_the_speakers_proof_and_then_released_in_order() -> None:
    ident = speaker()
    frames, proofs = stream(ident, 6, batch=3, parity=1)
    assert len(proofs) == 2
    gate = ProofGate(ROOM, CONFIG, Counter())
    for f in frames[:3]:
        assert gate.frame(ident.public, f, 0.0).frames == []
    rel = gate.proof(ident.public, proofs[0], 0.0, [(EPOCH, proof_key(ident.public))])
    assert rel.frames == frames[:3] and rel.events == []
    out, events = gate_feed(gate, ident.public, frames[3:], proofs[1:])
    assert out == frames[3:] and events == []
    assert len(gate) == 0


def test_a_proof_costs_its_stated_bytes() -> None:
    ident = speaker()
    for n, r in ((3, 1), (25, 3), (MAX_BATCH, MAX_PARITY)):
        _, proofs = stream(ident, n, batch=n, parity=r)
        assert [len(p) for p in proofs] == [speaker_proof.HEADER_LEN + 2 + 32 * r + 64]


def test_a_burst_of_up_to_parity_lost_frames_leaves_the_rest_verifiable() -> None:
    ident = speaker()
    frames, proofs = stream(ident, 25, batch=25, parity=3)
    kept = frames[:10] + frames[13:]  # a burst of 3 lost
    out, events = gate_feed(ProofGate(ROOM, CONFIG, Counter()), ident.public, kept, proofs)
    assert out == kept and events == []


def test_a_late_frame_whose_digest_the_proof_rebuilt_is_released() -> None:
    ident = speaker()
    frames, proofs = stream(ident, 3, batch=3, parity=1)
    gate = ProofGate(ROOM, CONFIG, Counter())
    out, _ = gate_feed(gate, ident.public, [frames[0], frames[2]], proofs)
    assert out == [frames[0], frames[2]]
    assert gate.frame(ident.public, frames[1], 0.0).frames == [frames[1]]
    assert gate.frame(ident.public, frames[1], 0.0).frames == [], "released once only"


def test_a_forged_frame_at_a_rebuilt_counter_does_not_displace_the_late_genuine_one() -> None:
    ident = speaker()
    frames, proofs = stream(ident, 3, batch=3, parity=1)
    gate = ProofGate(ROOM, CONFIG, Counter())
    gate_feed(gate, ident.public, [frames[0], frames[2]], proofs)
    forged = frame_sender(ident.public, 1).protect(b"forged")
    assert gate.frame(ident.public, forged, 0.0).frames == []
    assert gate.frame(ident.public, frames[1], 0.0).frames == [frames[1]]


def test_two_losses_in_one_parity_class_wait_for_the_frames_then_give_up() -> None:
    ident = speaker()
    frames, proofs = stream(ident, 6, batch=6, parity=1)
    gate = ProofGate(ROOM, CONFIG, Counter())
    out, events = gate_feed(gate, ident.public, frames[:4], proofs)
    assert out == [] and events == []
    assert gate.frame(ident.public, frames[4], 0.1).frames == frames[:5], "one gap: rebuilt"
    gate2 = ProofGate(ROOM, CONFIG, Counter())
    gate_feed(gate2, ident.public, frames[:4], proofs)
    rel = gate2.frame(ident.public, frames[0], HOLD + 0.01)  # nothing more came
    assert rel.frames == [] and rel.events == [ForgedAudio(ident.public, "unproven")]
    assert len(gate2) == 1, "only the frame just fed: the old ones and the proof expired"


def test_an_insiders_frame_is_never_released_and_its_batch_is_reported() -> None:
    ident, insider = speaker(1), speaker(2)
    frames, proofs = stream(ident, 3, batch=3, parity=1)
    # the insider knows the frame key: it seals other audio under the victim's counter 1
    forged = frame_sender(ident.public, 1).protect(b"forged")
    gate = ProofGate(ROOM, CONFIG, Counter())
    out, events = gate_feed(gate, ident.public, [frames[0], forged, frames[2]], proofs)
    assert forged not in out and out == []
    assert events == [ForgedAudio(ident.public, "bad_signature")]
    # and a proof the insider signs itself over its own frames does not verify either
    fake_frames, fake_proofs = stream(insider, 3, batch=3, parity=1, start=3)
    fake_proofs = [
        speaker_proof.make_proof(
            insider,
            proof_key(ident.public),
            ROOM,
            EPOCH,
            3,
            [speaker_proof.frame_digest(f) for f in fake_frames],
            1,
        )
    ]
    gate = ProofGate(ROOM, CONFIG, Counter())
    out, events = gate_feed(gate, ident.public, fake_frames, fake_proofs)
    assert out == [] and events == [ForgedAudio(ident.public, "bad_signature")]


def test_every_frame_the_gate_does_not_release_is_counted_once() -> None:
    ident = speaker()
    frames, proofs = stream(ident, 6, batch=3, parity=1)
    counters: Counter[str] = Counter()
    gate = ProofGate(ROOM, CONFIG, counters)
    forged = frame_sender(ident.public, 4).protect(b"forged")
    gate.frame(ident.public, frames[1], 0.0)
    gate.frame(ident.public, frames[1], 0.0)  # a duplicate of a held frame
    gate.frame(ident.public, frames[2], 0.0)
    gate.proof(ident.public, proofs[0], 0.0, [(EPOCH, proof_key(ident.public))])
    gate.frame(ident.public, frames[2], 0.0)  # a replay below the floor
    gate.frame(ident.public, frames[4], 0.0)
    gate.frame(ident.public, forged, 0.0)  # another frame for a held counter
    gate.frame(ident.public, frames[5], 0.0)
    gate.frame(ident.public, frames[3] + b"x", 0.0)  # not the speaker's frame 3
    assert gate.proof(ident.public, proofs[1], 0.0, [(EPOCH, proof_key(ident.public))]).events
    assert counters == {
        "audio_rejected_replay": 2,
        "audio_rejected_conflict": 1,
        "audio_proof_rejected": 1,
    }
    gate.expire(HOLD)  # the three frames of the failed batch ran out of time
    assert counters["audio_rejected_unproven"] == 3 and len(gate) == 0


def test_a_forged_counter_jump_neither_crowds_out_nor_delays_the_speaker() -> None:
    ident = speaker()
    gate = ProofGate(ROOM, CONFIG, Counter())
    jump = frame_sender(ident.public, 1 << 20)
    for _ in range(MAX_HELD_FRAMES):  # the table is full of forged far-ahead counters
        gate.frame(ident.public, jump.protect(b"x"), 0.0)
    assert len(gate) == MAX_HELD_FRAMES
    frames, proofs = stream(ident, 3, batch=3, parity=1)
    out, _ = gate_feed(gate, ident.public, frames, proofs)
    assert out == frames
    assert len(gate) == MAX_HELD_FRAMES - 3, "the highest forged counters made room"


def test_waiting_proofs_are_bounded() -> None:
    ident = speaker()
    _, proofs = stream(ident, 3 * (MAX_HELD_PROOFS + 2), batch=3, parity=1)
    gate = ProofGate(ROOM, CONFIG, Counter())
    for p in proofs:
        gate.proof(ident.public, p, 0.0, [(EPOCH, proof_key(ident.public))])
    assert len(gate) == MAX_HELD_PROOFS


def test_a_proof_under_a_wrong_key_or_mangled_is_reported_and_nothing_escapes() -> None:
    ident = speaker()
    frames, (proof,) = stream(ident, 3, batch=3, parity=1)
    for bad_key in (b"\x00" * 32, proof_key(speaker(3).public)):
        gate = ProofGate(ROOM, CONFIG, Counter())
        for f in frames:
            gate.frame(ident.public, f, 0.0)
        rel = gate.proof(ident.public, proof, 0.0, [(EPOCH, bad_key)])
        assert rel.frames == [] and rel.events == [ForgedAudio(ident.public, "bad_signature")]
    gate = ProofGate(ROOM, CONFIG, Counter())
    for cut in (0, 1, 20, len(proof) - 1):
        with pytest.raises(RemoteProtocolError):
            gate.proof(ident.public, proof[:cut], 0.0, [])
    with pytest.raises(RemoteProtocolError):
        gate.proof(ident.public, proof[:1] + b"\x08" + proof[2:], 0.0, [])
    with pytest.raises(RemoteProtocolError):
        speaker_proof.open_proof(proof_key(ident.public), EPOCH + 1, proof)
    with pytest.raises(DecryptionFailed):
        speaker_proof.open_proof(proof_key(ident.public), EPOCH, proof + b"\x00")
    parity = range(speaker_proof.HEADER_LEN + 2, speaker_proof.HEADER_LEN + 2 + 32)
    for i in range(2, len(proof)):  # every flipped bit: never an exception
        bent = proof[:i] + bytes((proof[i] ^ 1,)) + proof[i + 1 :]
        out, _ = gate_feed(ProofGate(ROOM, CONFIG, Counter()), ident.public, frames, [bent])
        # the parity only rebuilds missing digests: with every frame held it is not read
        assert out == (frames if i in parity else [])


def test_the_speaker_closes_a_batch_on_a_pause_and_on_an_epoch_change() -> None:
    ident = speaker()
    tx = frame_sender(ident.public)
    batcher = ProofBatcher(ident, ROOM)
    key = proof_key(ident.public)
    assert batcher.due() is None
    assert batcher.add(tx.protect(b"a"), EPOCH, 1.0, (3, 1), lambda: key) == []
    assert batcher.due() == pytest.approx(1.0 + PAUSE)
    (p,) = batcher.add(tx.protect(b"b"), EPOCH + 1, 1.02, (3, 1), lambda: key)
    assert speaker_proof.proof_phase(p) == EPOCH % 8 and speaker_proof.proof_first(p) == 0
    (p,) = batcher.flush()
    assert speaker_proof.proof_phase(p) == (EPOCH + 1) % 8 and speaker_proof.proof_first(p) == 1
    assert batcher.flush() == [] and batcher.due() is None


def test_proof_parameters_are_checked() -> None:
    ident = speaker()
    d = [b"\x00" * 32]
    for n, r in ((0, 1), (MAX_BATCH + 1, 1), (2, 0), (2, 3), (MAX_PARITY + 1, MAX_PARITY + 1)):
        with pytest.raises(LocalProtocolError):
            speaker_proof.make_proof(ident, b"k" * 32, ROOM, 0, 0, d * n, r)
    assert AuthConfig().params(True) == (20, 2) and AuthConfig().params(False) == (25, 3)
    assert AuthConfig().stage_mode == "optimistic" and AuthConfig().tentative_wait == 0.8
    assert AuthConfig().play_first_frames == 40 == 2 * AuthConfig().stage_batch
    assert AuthConfig(proof_margin=0.1).play_first_frames == 25
    assert STAGE_HOLD.params(True) == (3, 1) and STAGE_HOLD.stage_mode == "hold"
    assert AuthConfig().proof_batch(2) == 20 and AuthConfig().proof_batch(1) == 25
    for bad in ({"stage_batch": 0}, {"stage_batch": MAX_BATCH + 1}, {"audience_parity": 26}):
        with pytest.raises(LocalProtocolError):
            AuthConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        AuthConfig(stage_mode="later")  # type: ignore[arg-type]


def test_rebuilt_digests_of_missing_frames_are_bounded() -> None:
    ident = speaker()
    batches = 2 * MAX_HELD_FRAMES  # every batch loses its middle frame
    frames, proofs = stream(ident, 3 * batches, batch=3, parity=1)
    gate = ProofGate(ROOM, CONFIG, Counter())
    for b in range(batches):
        gate_feed(gate, ident.public, [frames[3 * b], frames[3 * b + 2]], [proofs[b]])
    held = gate._held[ident.public]
    assert len(held.proven) <= MAX_HELD_FRAMES and len(held.frames) == 0
    assert gate.frame(ident.public, frames[-2], 0.0).frames == [frames[-2]], "recent: still late"
    assert gate.frame(ident.public, frames[1], 0.0).frames == [], "old: forgotten"


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.lists(st.binary(max_size=200), max_size=8), st.data())
def test_hostile_bytes_never_raise_anything_but_protocol_errors(
    payloads: list[bytes], data: st.DataObject
) -> None:
    ident = speaker()
    frames, proofs = stream(ident, 3, batch=3, parity=1)
    gate = ProofGate(ROOM, CONFIG, Counter())  # both the held and the played-first path
    pool = payloads + frames + proofs
    for i in range(len(pool)):
        p = data.draw(st.sampled_from(pool))
        if data.draw(st.booleans()) and p:  # flip one byte of a real payload
            k = data.draw(st.integers(0, len(p) - 1))
            p = p[:k] + bytes((p[k] ^ 0xFF,)) + p[k + 1 :]
        try:
            if speaker_proof.is_speaker_proof(p):
                gate.proof(ident.public, p, i * 0.02, [(EPOCH, proof_key(ident.public))])
            else:
                gate.frame(ident.public, p, i * 0.02, on_stage=data.draw(st.booleans()))
        except RemoteProtocolError:
            pass
        assert len(gate) <= MAX_HELD_FRAMES + MAX_HELD_PROOFS + CONFIG.play_first_frames
