"""Padding buckets (spec §11.4) and the replay window (spec §11.6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from e2ee import padding
from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from e2ee.replay import ReplayWindow


@given(st.binary(max_size=padding.MAX_PADDED_INPUT))
def test_pad_round_trip_to_a_bucket(data: bytes) -> None:
    padded = padding.pad(data)
    assert len(padded) in padding.BUCKETS
    assert len(padded) == min(b for b in padding.BUCKETS if b > len(data))
    assert padding.unpad(padded) == data


def test_trailing_zero_bytes_survive() -> None:
    assert padding.unpad(padding.pad(b"\x00\x00")) == b"\x00\x00"
    assert padding.unpad(padding.pad(b"\x80")) == b"\x80"


@pytest.mark.parametrize("bad", [b"", b"\x00" * 32, b"abc", b"ab\x81\x00"])
def test_bad_padding(bad: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        padding.unpad(bad)


@given(st.binary(max_size=100))
def test_unpad_of_random_bytes_raises_only_remote_errors(data: bytes) -> None:
    try:
        out = padding.unpad(data)
    except RemoteProtocolError:
        return
    assert data.startswith(out + b"\x80")


def test_too_large() -> None:
    with pytest.raises(LocalProtocolError):
        padding.pad(bytes(padding.MAX_PADDED_INPUT + 1))


def _code(w: ReplayWindow, ctr: int) -> ErrorCode | None:
    try:
        w.check(ctr)
    except RemoteProtocolError as exc:
        return exc.code
    return None


def test_window() -> None:
    w = ReplayWindow(size=4, max_jump=10)
    for c in (0, 2, 1):
        assert _code(w, c) is None
        w.accept(c)
    assert _code(w, 1) == ErrorCode.REPLAY
    assert _code(w, 3) is None
    w.accept(5)
    assert _code(w, 1) == ErrorCode.REPLAY  # too old: 5 - 1 >= 4
    assert _code(w, 3) is None
    assert _code(w, 2) == ErrorCode.REPLAY
    assert _code(w, 16) == ErrorCode.TOO_FAR
    assert _code(w, 15) is None


def test_advance_to_resynchronises_the_jump_bound() -> None:
    w = ReplayWindow(size=8, max_jump=10)
    assert _code(w, 100) == ErrorCode.TOO_FAR
    w.advance_to(95)
    assert _code(w, 100) is None
    assert _code(w, 94) is None  # not marked seen, still inside the window
    assert _code(w, 80) == ErrorCode.REPLAY


@given(st.lists(st.integers(0, 300), max_size=60))
def test_window_accepts_each_counter_at_most_once(counters: list[int]) -> None:
    w = ReplayWindow(size=32, max_jump=1000)
    accepted: set[int] = set()
    for c in counters:
        if _code(w, c) is None:
            assert c not in accepted
            w.accept(c)
            accepted.add(c)
