"""Sender keys (spec §10) and frame protection (spec §11)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2ee import canonical
from e2ee.errors import DecryptionFailed, ErrorCode, LocalProtocolError, RemoteProtocolError
from e2ee.frame import KID_PHASES, FrameReceiver, FrameSender
from e2ee.sender_key import SenderKey
from e2ee.sframe_header import decode_header

ROOM = b"R" * 32
ALICE = b"A" * 32


def _pair(
    padded: bool = True, next_counter: int = 0, **rx: float
) -> tuple[FrameSender, FrameReceiver]:
    key = SenderKey.fresh(os.urandom, epoch=3)
    tx = FrameSender(key, room_id=ROOM, sender_id=ALICE, padded=padded, next_counter=next_counter)
    receiver = FrameReceiver(room_id=ROOM, sender_id=ALICE, padded=padded, **rx)  # type: ignore[arg-type]
    receiver.add_update(tx.key_update())
    return tx, receiver


def _code(rx: FrameReceiver, frame: bytes, now: float = 0.0) -> ErrorCode | None:
    try:
        rx.unprotect(frame, now)
    except RemoteProtocolError as exc:
        return exc.code
    return None


@pytest.mark.parametrize("padded", [True, False])
def test_round_trip_and_monotonic_counter(padded: bool) -> None:
    tx, rx = _pair(padded)
    for i in range(20):
        out = rx.unprotect(tx.protect(bytes([i]) * i), 0.0)
        assert out.counter == i and out.payload == bytes([i]) * i


def test_overhead_at_counter_10000_without_padding_is_at_most_20_bytes() -> None:
    tx, rx = _pair(padded=False, next_counter=10_000)
    frame = tx.protect(bytes(80))
    assert len(frame) - 80 <= 20
    assert len(frame) - 80 == 1 + 2 + 16  # config byte, 2-byte CTR, full 16-byte tag
    assert rx.unprotect(frame, 0.0).payload == bytes(80)


def test_padded_frames_have_bucket_sizes() -> None:
    tx, _ = _pair(padded=True)
    sizes = set()
    for n in range(60, 96):
        frame = tx.protect(bytes(n))
        sizes.add(len(frame) - decode_header(frame)[2] - 16)
    assert sizes == {64, 96}


def test_replays_and_too_old_frames_are_rejected() -> None:
    tx, rx = _pair(window=16)
    frames = [tx.protect(b"x") for _ in range(40)]
    rx.unprotect(frames[0], 0.0)
    assert _code(rx, frames[0]) == ErrorCode.REPLAY
    rx.unprotect(frames[39], 0.0)
    assert _code(rx, frames[30]) is None  # late but inside the window
    assert _code(rx, frames[30]) == ErrorCode.REPLAY
    assert _code(rx, frames[5]) == ErrorCode.REPLAY  # too old


def test_counter_jump_is_bounded() -> None:
    tx, rx = _pair(max_jump=100)
    # nothing accepted yet: the highest counter is -1, so 99 is the furthest allowed
    tx2 = FrameSender(tx.key, room_id=ROOM, sender_id=ALICE, next_counter=100)
    assert _code(rx, tx2.protect(b"x")) == ErrorCode.TOO_FAR
    tx3 = FrameSender(tx.key, room_id=ROOM, sender_id=ALICE, next_counter=99)
    assert _code(rx, tx3.protect(b"x")) is None


def test_counter_exhaustion_raises_before_any_nonce_repeats() -> None:
    key = SenderKey.fresh(os.urandom, epoch=0)
    tx = FrameSender(key, room_id=ROOM, sender_id=ALICE, next_counter=5, counter_limit=7)
    frames = [tx.protect(b"x") for _ in range(3)]
    with pytest.raises(LocalProtocolError):
        tx.protect(b"x")
    with pytest.raises(LocalProtocolError):
        tx.protect(b"x")
    assert tx.next_counter == 8
    assert len({f[:1] for f in frames}) == 3  # CTR 5, 6, 7 in the config byte
    top = FrameSender(key, room_id=ROOM, sender_id=ALICE, next_counter=2**64 - 1)
    assert top.protect(b"x")[:9] == b"\x0f" + b"\xff" * 8
    with pytest.raises(LocalProtocolError):
        top.protect(b"x")


def test_unknown_key() -> None:
    tx, _ = _pair()
    rx = FrameReceiver(room_id=ROOM, sender_id=ALICE)
    assert _code(rx, tx.protect(b"x")) == ErrorCode.UNKNOWN_KEY


@pytest.mark.parametrize("what", ["room", "sender", "epoch", "padding"])
def test_associated_data_binds_room_sender_epoch_and_mode(what: str) -> None:
    key = SenderKey.fresh(os.urandom, epoch=3)
    tx = FrameSender(key, room_id=ROOM, sender_id=ALICE)
    rx = FrameReceiver(
        room_id=b"X" * 32 if what == "room" else ROOM,
        sender_id=b"B" * 32 if what == "sender" else ALICE,
        padded=what != "padding",
    )
    rx.add_key(SenderKey(key.kid, 4, key.secret) if what == "epoch" else key)
    with pytest.raises(DecryptionFailed):
        rx.unprotect(tx.protect(b"hello"), 0.0)


@settings(max_examples=80)
@given(st.binary(max_size=100), st.data())
def test_any_single_bit_flip_is_rejected(payload: bytes, data: st.DataObject) -> None:
    tx, rx = _pair(padded=data.draw(st.booleans()), next_counter=data.draw(st.integers(0, 10**6)))
    frame = tx.protect(payload)
    bit = data.draw(st.integers(0, len(frame) * 8 - 1))
    flipped = bytearray(frame)
    flipped[bit // 8] ^= 1 << (bit % 8)
    body_start = decode_header(frame)[2]
    if bit // 8 >= body_start:
        with pytest.raises(DecryptionFailed):  # body and tag bits
            rx.unprotect(bytes(flipped), 0.0)
    else:  # header bits: an authentication failure or an earlier, clearer rejection
        with pytest.raises(RemoteProtocolError):
            rx.unprotect(bytes(flipped), 0.0)
    assert rx.unprotect(frame, 0.0).payload == payload  # the failure changed nothing


def test_every_body_and_tag_bit_flip_is_decryption_failed() -> None:
    tx, rx = _pair(padded=False, next_counter=1234)
    frame = tx.protect(b"opus frame bytes")
    hlen = len(frame) - 16 - len(b"opus frame bytes")
    for i in range(hlen, len(frame)):
        for bit in range(8):
            flipped = bytearray(frame)
            flipped[i] ^= 1 << bit
            with pytest.raises(DecryptionFailed):
                rx.unprotect(bytes(flipped), 0.0)


@given(st.binary(max_size=64))
def test_random_bytes_raise_only_remote_errors(data: bytes) -> None:
    _, rx = _pair()
    try:
        rx.unprotect(data, 0.0)
    except RemoteProtocolError:
        pass


def test_joiner_export_cannot_decrypt_earlier_frames() -> None:
    tx, member = _pair()
    before = [tx.protect(f"before {i}".encode()) for i in range(10)]
    export = tx.export_for_joiner(epoch=4)
    after = tx.protect(b"after")
    joiner = FrameReceiver(room_id=ROOM, sender_id=ALICE)
    key = joiner.add_update(export)
    assert key.kid == 1 and key.epoch == 4
    for frame in before:
        with pytest.raises(RemoteProtocolError):
            joiner.unprotect(frame, 0.0)
    # Even handed the exported secret under the old key id and epoch, the joiner cannot open them.
    cheat = FrameReceiver(room_id=ROOM, sender_id=ALICE)
    cheat.add_key(SenderKey(0, 3, key.secret))
    for frame in before:
        with pytest.raises(DecryptionFailed):
            cheat.unprotect(frame, 0.0)
    assert joiner.unprotect(after, 0.0).payload == b"after"
    # Existing members follow the ratchet themselves.
    member.ratchet_to(epoch=4)
    for frame in before[:3]:
        member.unprotect(frame, 0.0)
    assert member.unprotect(after, 0.0).payload == b"after"


def test_export_in_the_same_epoch_does_not_ratchet_twice() -> None:
    tx, _ = _pair()
    a = SenderKey.decode_update(tx.export_for_joiner(epoch=5))
    b = SenderKey.decode_update(tx.export_for_joiner(epoch=5))
    assert a[0] == b[0]
    with pytest.raises(LocalProtocolError):
        tx.export_for_joiner(epoch=4)


def test_receiver_ratchet_mirrors_the_sender_rule() -> None:
    tx, rx = _pair()
    tx.rekey(os.urandom, epoch=6)  # a removal at epoch 6
    rx.add_update(tx.key_update())
    tx.export_for_joiner(epoch=6)  # a join in the same epoch: no ratchet
    assert rx.ratchet_to(epoch=6) == tx.key
    tx.export_for_joiner(epoch=7)
    assert rx.ratchet_to(epoch=7) == tx.key
    assert rx.unprotect(tx.protect(b"z"), 0.0).payload == b"z"


def test_rekey_locks_out_holders_of_old_keys() -> None:
    tx, removed = _pair()
    stay = FrameReceiver(room_id=ROOM, sender_id=ALICE)
    stay.add_update(tx.key_update())
    tx.rekey(os.urandom, epoch=4)
    stay.add_update(tx.key_update())
    frame = tx.protect(b"secret")
    assert stay.unprotect(frame, 0.0).payload == b"secret"
    with pytest.raises(RemoteProtocolError):
        removed.unprotect(frame, 0.0)
    removed.ratchet_to(epoch=4)  # ratcheting an old key does not reach a fresh one
    with pytest.raises(DecryptionFailed):
        removed.unprotect(frame, 0.0)


def test_old_key_erased_after_grace_period() -> None:
    tx, rx = _pair(grace=0.5)
    old = [tx.protect(b"old") for _ in range(3)]
    tx.rekey(os.urandom, epoch=4)
    rx.add_update(tx.key_update())
    rx.unprotect(old[0], 10.0)  # old key still fine: new key not used yet
    rx.unprotect(tx.protect(b"new"), 10.0)  # first use of the new key starts the grace period
    assert rx.unprotect(old[1], 10.4).payload == b"old"
    assert _code(rx, old[2], 10.5) == ErrorCode.UNKNOWN_KEY
    assert rx.known_kids() == [1]


def test_counter_is_monotonic_across_key_changes() -> None:
    tx, rx = _pair()
    seen = []
    for epoch in range(4, 14):
        seen.append(rx.unprotect(tx.protect(b"a"), 0.0).counter)
        tx.rekey(os.urandom, epoch)
        rx.add_update(tx.key_update())
    assert seen == list(range(10))
    assert tx.key.kid == 10


def test_key_phase_reuse_erases_the_older_key() -> None:
    tx, rx = _pair()
    first = tx.protect(b"x")
    for epoch in range(4, 4 + KID_PHASES):
        tx.ratchet(epoch)
        rx.ratchet_to(epoch)
    assert tx.key.kid == KID_PHASES
    assert _code(rx, first) == ErrorCode.AUTHENTICATION  # phase 0 now means kid 8
    assert rx.unprotect(tx.protect(b"y"), 0.0).payload == b"y"
    assert 0 not in rx.known_kids()


def test_an_older_update_for_a_held_phase_is_stale() -> None:
    tx, rx = _pair()
    old = tx.key_update()
    for epoch in range(4, 4 + KID_PHASES):
        tx.ratchet(epoch)
    rx.add_update(tx.key_update())  # kid 8, phase 0
    with pytest.raises(RemoteProtocolError) as exc:
        rx.add_update(old)  # kid 0, phase 0
    assert exc.value.code == ErrorCode.STALE


def test_a_first_key_installed_at_a_high_counter_is_not_too_far() -> None:
    """Spec §11.6: the jump bound counts from the installed key's next_counter, not from 0."""
    far = (1 << 20) + 5  # beyond the default max_jump from -1
    tx, rx = _pair(next_counter=far)
    assert rx.unprotect(tx.protect(b"x"), 0.0).counter == far
    late = FrameReceiver(room_id=ROOM, sender_id=ALICE)
    late.add_key(tx.key)  # next_counter 0: the bound counts from -1
    assert _code(late, tx.protect(b"y")) == ErrorCode.TOO_FAR


def test_an_update_with_the_held_kid_replaces_it_without_reopening_counters() -> None:
    """Spec §11.6: an equal kid replaces the held key (no error); the window is kept."""
    tx, rx = _pair()
    frame = tx.protect(b"x")
    assert rx.unprotect(frame, 0.0).payload == b"x"
    rx.add_update(tx.key_update())  # the same kid again, next_counter 1
    assert rx.known_kids() == [tx.key.kid]
    assert _code(rx, frame) == ErrorCode.REPLAY
    assert rx.unprotect(tx.protect(b"y"), 0.0).payload == b"y"


def test_sender_key_update_encoding() -> None:
    key = SenderKey(7, 9, bytes(range(32)))
    data = key.encode_update(1000)
    assert SenderKey.decode_update(data) == (key, 1000)
    assert "secret" in repr(key) and bytes(range(32)).hex() not in repr(key)
    with pytest.raises(RemoteProtocolError):
        SenderKey.decode_update(canonical.encode([2, 7, 9, bytes(32), 0]))


@given(st.binary(max_size=80))
def test_update_decoder_raises_only_remote_errors(data: bytes) -> None:
    try:
        SenderKey.decode_update(data)
    except RemoteProtocolError:
        pass


def test_ratchet_is_deterministic_and_one_way() -> None:
    k0 = SenderKey(0, 1, bytes(32))
    assert k0.ratchet(2) == k0.ratchet(2)
    assert k0.ratchet(2).secret != k0.ratchet(3).secret
    assert k0.ratchet(2).kid == 1
