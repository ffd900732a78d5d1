"""Header protection of room audio (spec §15.4.1): fixed-length masked headers, bounded trials."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2ee.errors import DecryptionFailed, ErrorCode, LocalProtocolError, RemoteProtocolError
from e2ee.frame import FrameReceiver, FrameSender
from e2ee.identity import IdentityKey
from e2ee.room import header_protection as hp
from e2ee.room import speaker_proof
from e2ee.room.audio_in import MAX_CANDIDATES, AudioIn
from e2ee.sender_key import SenderKey
from e2ee.sframe_header import decode_header

ROOM = bytes(range(32))
MEMBER = bytes(range(32, 64))


def key(epoch: int) -> SenderKey:
    return SenderKey(epoch, epoch, bytes([epoch % 256]) * 32)


def sender(epoch: int, counter: int) -> FrameSender:
    return FrameSender(
        key(epoch),
        room_id=ROOM,
        sender_id=MEMBER,
        next_counter=counter,
        counter_limit=hp.MAX_COUNTER,
    )


def wire(epoch: int, counter: int, payload: bytes = b"opus") -> tuple[bytes, bytes]:
    """(§11 frame, wire frame) of one frame at ``counter`` under ``epoch``."""
    frame = sender(epoch, counter).protect(payload)
    return frame, hp.hide_frame(frame, hp.header_key(key(epoch).secret))


def test_the_mask_is_rfc9001_chacha20_header_protection() -> None:
    # RFC 9001 Appendix A.5 (ChaCha20-Poly1305 short header packet): hp, sample -> mask
    hp_key = bytes.fromhex("25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4")
    sample = bytes.fromhex("5e5cd55c41f69080575d7999c25a5bfb")
    assert hp.header_mask(hp_key, sample, 5).hex() == "aefefe7d03"


@pytest.mark.parametrize("counter", [0, 7, 8, 255, 256, 65_536, 2**24, hp.MAX_COUNTER])
def test_every_counter_has_the_same_header_length_and_reveals_to_its_frame(counter: int) -> None:
    frame, on_wire = wire(3, counter)
    hlen = decode_header(frame)[2]
    assert len(on_wire) == len(frame) - hlen + hp.ROOM_HEADER_LEN
    assert on_wire[0] < 0x80, "a wire frame never starts like a proof"
    assert hp.reveal_frame(on_wire, hp.header_key(key(3).secret), 3) == frame


def test_a_room_counter_stops_below_what_the_field_carries() -> None:
    tx = sender(1, hp.MAX_COUNTER)
    last = tx.protect(b"last")
    assert (
        decode_header(
            hp.reveal_frame(
                hp.hide_frame(last, hp.header_key(key(1).secret)), hp.header_key(key(1).secret), 1
            )
        )[1]
        == hp.MAX_COUNTER
    )
    with pytest.raises(LocalProtocolError):
        tx.protect(b"one too many")  # no counter the 4-byte field cannot carry is ever sealed
    unlimited = FrameSender(key(1), room_id=ROOM, sender_id=MEMBER, next_counter=hp.MAX_COUNTER + 1)
    with pytest.raises(LocalProtocolError):
        hp.hide_frame(unlimited.protect(b"x"), hp.header_key(key(1).secret))


def test_a_wrong_key_or_a_flipped_bit_fails_as_one_opaque_error() -> None:
    _, on_wire = wire(5, 1000)
    right = hp.header_key(key(5).secret)
    rx = FrameReceiver(room_id=ROOM, sender_id=MEMBER)
    rx.add_key(key(5), 990)
    for i in range(hp.ROOM_HEADER_LEN):
        for bit in range(8 if i else 7):  # the first byte's high bit is not masked
            flipped = bytearray(on_wire)
            flipped[i] ^= 1 << bit
            # a changed phase, a counter out of the window, or a header the AEAD refuses
            with pytest.raises(RemoteProtocolError):
                rx.unprotect(hp.reveal_frame(bytes(flipped), right, 5), 0.0)
    wrong = [hp.header_key(key(e).secret) for e in (13, 21, 6)]
    failures = 0
    for k in wrong:
        try:
            rx.unprotect(hp.reveal_frame(on_wire, k, 5), 0.0)
        except DecryptionFailed:
            failures += 1
    assert failures == len(wrong)
    assert rx.unprotect(hp.reveal_frame(on_wire, right, 5), 0.0).payload == b"opus"


def test_too_short_for_a_header_and_a_sample_is_malformed_at_the_bound() -> None:
    k = hp.header_key(key(0).secret)
    shortest = hp.ROOM_HEADER_LEN + hp.SAMPLE_LEN
    with pytest.raises(RemoteProtocolError) as err:
        hp.reveal_frame(bytes(shortest - 1), k, 0)
    assert err.value.code is ErrorCode.MALFORMED and not isinstance(err.value, DecryptionFailed)
    try:  # exactly the bound: parsed, then refused or revealed, never MALFORMED
        hp.reveal_frame(bytes(shortest), k, 0)
    except DecryptionFailed:
        pass
    with pytest.raises(RemoteProtocolError) as err:
        hp.reveal_frame(b"\x80" + bytes(shortest), k, 0)  # high bit set: not a frame
    assert err.value.code is ErrorCode.MALFORMED


def proof(epoch: int, first: int) -> bytes:
    ident = IdentityKey.generate(lambda n: bytes(n))
    digests = [speaker_proof.frame_digest(b"f%d" % i) for i in range(3)]
    return speaker_proof.make_proof(ident, bytes(32), ROOM, epoch, first, digests, 1)


def test_a_proof_hides_its_phase_and_first_counter_and_keeps_its_marker() -> None:
    clear = proof(9, 123_456)
    k = hp.header_key(key(9).secret)
    on_wire = hp.hide_proof(clear, k)
    assert len(on_wire) == len(clear) and speaker_proof.is_speaker_proof(on_wire)
    assert on_wire[1 : 1 + hp.PROOF_FIELDS] != clear[1 : 1 + hp.PROOF_FIELDS]
    assert hp.reveal_proof(on_wire, k, 9 % 8) == clear
    for other in (1, 17, 25):  # the same phase under other epochs: 40 check bits refuse them
        with pytest.raises(DecryptionFailed):
            hp.reveal_proof(on_wire, hp.header_key(key(other).secret), 1)
    with pytest.raises(RemoteProtocolError) as err:
        hp.reveal_proof(on_wire[: 1 + hp.PROOF_FIELDS + hp.SAMPLE_LEN - 1], k, 1)
    assert err.value.code is ErrorCode.MALFORMED


def test_a_receiver_finds_the_epoch_among_many_of_one_phase_without_moving_state() -> None:
    audio = AudioIn(ROOM)
    epochs = list(range(1, 42))  # 41 usable epochs, five of phase 1 (a burst of commits)
    frame, on_wire = wire(33, 5000)
    for _ in range(2):  # revealing changes nothing: twice the same answer
        epoch, revealed = audio.reveal(MEMBER, on_wire, 0.0, epochs, key)
        assert (epoch, revealed) == (33, frame)
    assert len(audio) == 0, "no receiving state was kept for a frame only revealed"
    assert audio.open(MEMBER, revealed, 0.0, epochs, key)[1].payload == b"opus"
    with pytest.raises(DecryptionFailed):
        audio.reveal(MEMBER, on_wire, 0.0, [e for e in epochs if e != 33], key)
    with pytest.raises(RemoteProtocolError) as err:
        audio.reveal(MEMBER, on_wire, 0.0, [], key)
    assert err.value.code is ErrorCode.UNKNOWN_KEY


def test_the_room_audio_vectors_open_with_the_implementation() -> None:
    v = json.loads((Path(__file__).parents[2] / "spec" / "vectors" / "room_audio.json").read_text())
    secret, epoch = bytes.fromhex(v["S_1_member"]), v["epoch"]
    k = hp.header_key(secret)
    assert k.hex() == v["hp_key"]
    for case in v["frames"]:
        rx = FrameReceiver(
            room_id=bytes.fromhex(v["room_id"]), sender_id=bytes.fromhex(v["member_id"])
        )
        rx.add_key(SenderKey(epoch, epoch, secret), case["counter"])
        frame = hp.reveal_frame(bytes.fromhex(case["wire"]), k, epoch % 8)
        assert frame.hex() == case["frame"]
        assert hp.hide_frame(frame, k).hex() == case["wire"]
        opened = rx.unprotect(frame, 0.0)
        assert (opened.counter, opened.payload.hex()) == (case["counter"], case["payload"])
        assert speaker_proof.frame_digest(frame).hex() == case["digest"]
    clear = bytes.fromhex(v["proof"]["clear"])
    assert hp.hide_proof(clear, k).hex() == v["proof"]["wire"]
    assert hp.reveal_proof(bytes.fromhex(v["proof"]["wire"]), k, epoch % 8) == clear


def test_at_most_sixty_four_epochs_are_tried_for_one_payload() -> None:
    audio = AudioIn(ROOM)
    tried: list[int] = []

    def counting(epoch: int) -> SenderKey:
        tried.append(epoch)
        return key(epoch)

    held = list(range(100, 100 + MAX_CANDIDATES + 1))  # one more than the bound
    _, newest_wire = wire(held[-1], 10)
    assert audio.reveal(MEMBER, newest_wire, 0.0, held, counting)[0] == held[-1]
    _, oldest_wire = wire(held[0], 11)
    tried.clear()
    with pytest.raises(DecryptionFailed):  # beyond the bound: never tried
        audio.reveal(MEMBER, oldest_wire, 0.0, held, counting)
    assert held[0] not in tried and len(set(tried)) <= MAX_CANDIDATES
    _, at_bound = wire(held[1], 12)  # the oldest still within the bound opens
    assert audio.reveal(MEMBER, at_bound, 0.0, held, counting)[0] == held[1]


def test_a_replayed_frame_is_refused_as_a_replay_not_as_a_wrong_key() -> None:
    audio = AudioIn(ROOM)
    epochs = [2, 10, 18]  # one phase, three keys: the first two tried are wrong
    frame, on_wire = wire(2, 700)
    assert audio.open(MEMBER, frame, 0.0, epochs, key)[0] == 2
    assert audio.open(MEMBER, wire(18, 701)[0], 0.0, epochs, key)[0] == 18  # tried first now
    with pytest.raises(RemoteProtocolError) as err:
        audio.reveal(MEMBER, on_wire, 0.0, epochs, key)
    assert err.value.code is ErrorCode.REPLAY
