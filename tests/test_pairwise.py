"""Pairwise channels (spec §9)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2ee import canonical, identity
from e2ee.errors import DecryptionFailed, ErrorCode, LocalProtocolError, RemoteProtocolError
from e2ee.pairwise import PairwiseChannel

ROOM = b"R" * 32


def _pair(**kw: int) -> tuple[PairwiseChannel, PairwiseChannel]:
    ia, ib = os.urandom(32), os.urandom(32)
    sa, sb = identity.SessionKey.generate(os.urandom), identity.SessionKey.generate(os.urandom)
    a = PairwiseChannel(
        room_id=ROOM, my_identity=ia, my_session=sa, peer_identity=ib, peer_session=sb.public, **kw
    )
    b = PairwiseChannel(
        room_id=ROOM, my_identity=ib, my_session=sb, peer_identity=ia, peer_session=sa.public, **kw
    )
    return a, b


def test_both_directions() -> None:
    a, b = _pair()
    for i in range(5):
        assert b.open(a.seal(f"a{i}".encode())) == f"a{i}".encode()
        assert a.open(b.seal(f"b{i}".encode())) == f"b{i}".encode()


def test_a_party_cannot_open_its_own_messages() -> None:
    a, _ = _pair()
    with pytest.raises(DecryptionFailed):
        a.open(a.seal(b"x"))


def test_replay_is_rejected() -> None:
    a, b = _pair()
    m = a.seal(b"once")
    assert b.open(m) == b"once"
    with pytest.raises(RemoteProtocolError) as exc:
        b.open(m)
    assert exc.value.code == ErrorCode.REPLAY


def test_out_of_order_and_skipped_keys_are_used_once() -> None:
    a, b = _pair()
    msgs = [a.seal(bytes([i])) for i in range(6)]
    assert b.open(msgs[5]) == b"\x05"
    assert b.open(msgs[2]) == b"\x02"
    assert b.open(msgs[0]) == b"\x00"
    with pytest.raises(RemoteProtocolError) as exc:
        b.open(msgs[2])
    assert exc.value.code == ErrorCode.REPLAY
    assert b.open(msgs[4]) == b"\x04"


def test_counter_jump_is_bounded() -> None:
    a, b = _pair(max_skip=3)
    msgs = [a.seal(b"x") for _ in range(6)]
    with pytest.raises(RemoteProtocolError) as exc:
        b.open(msgs[4])
    assert exc.value.code == ErrorCode.TOO_FAR
    assert b.open(msgs[3]) == b"x"


def test_stored_skipped_keys_are_bounded() -> None:
    a, b = _pair(max_skip=10, max_stored_skipped=3)
    msgs = [a.seal(bytes([i])) for i in range(8)]
    b.open(msgs[7])  # skips 0..6, keeps only 4, 5, 6
    with pytest.raises(RemoteProtocolError):
        b.open(msgs[3])
    assert b.open(msgs[4]) == b"\x04"


def test_failed_message_changes_no_state() -> None:
    a, b = _pair()
    good = a.seal(b"good")
    fields = canonical.decode(good)
    assert isinstance(fields, list)
    forged = canonical.encode([1, 0, bytes(len(fields[2]))])  # type: ignore[arg-type]
    with pytest.raises(DecryptionFailed):
        b.open(forged)
    assert b.open(good) == b"good"


def test_channels_are_bound_to_the_room_and_both_parties() -> None:
    ia, ib, ic = os.urandom(32), os.urandom(32), os.urandom(32)
    sa, sb = identity.SessionKey.generate(os.urandom), identity.SessionKey.generate(os.urandom)
    a = PairwiseChannel(
        room_id=ROOM, my_identity=ia, my_session=sa, peer_identity=ib, peer_session=sb.public
    )
    m = a.seal(b"hi")
    for room, peer_identity in ((b"S" * 32, ia), (ROOM, ic)):
        b = PairwiseChannel(
            room_id=room,
            my_identity=ib,
            my_session=sb,
            peer_identity=peer_identity,
            peer_session=sa.public,
        )
        with pytest.raises(DecryptionFailed):
            b.open(m)


@settings(max_examples=60)
@given(st.binary(max_size=64), st.data())
def test_any_single_bit_flip_is_rejected(payload: bytes, data: st.DataObject) -> None:
    a, b = _pair()
    m = a.seal(payload)
    bit = data.draw(st.integers(0, len(m) * 8 - 1))
    flipped = bytearray(m)
    flipped[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(RemoteProtocolError):
        b.open(bytes(flipped))
    assert b.open(m) == payload


def test_bit_flips_in_the_ciphertext_are_decryption_failures() -> None:
    a, b = _pair()
    m = a.seal(b"payload")
    for i in range(len(m) - 23, len(m)):  # ciphertext and tag bytes
        for bit in range(8):
            flipped = bytearray(m)
            flipped[i] ^= 1 << bit
            with pytest.raises(DecryptionFailed):
                b.open(bytes(flipped))


@given(st.binary(max_size=80))
def test_random_bytes_raise_only_remote_errors(data: bytes) -> None:
    _, b = _pair()
    try:
        b.open(data)
    except RemoteProtocolError:
        pass


def test_bad_setup() -> None:
    s = identity.SessionKey.generate(os.urandom)
    with pytest.raises(LocalProtocolError):
        PairwiseChannel(
            room_id=ROOM,
            my_identity=b"x" * 32,
            my_session=s,
            peer_identity=b"x" * 32,
            peer_session=s.public,
        )
    with pytest.raises(RemoteProtocolError):
        PairwiseChannel(
            room_id=ROOM,
            my_identity=b"x" * 32,
            my_session=s,
            peer_identity=b"y" * 32,
            peer_session=bytes(32),
        )
