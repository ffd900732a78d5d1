"""SFrame header encoding against RFC 9605 Appendix C.1 (spec §11.2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from e2ee.sframe_header import decode_header, encode_header

VECTORS = json.loads(
    (Path(__file__).parent.parent / "spec/vectors/sframe_header_rfc9605.json").read_text()
)
CASES = [(int(c["kid"], 16), int(c["ctr"], 16), c["header"]) for c in VECTORS["cases"]]


@pytest.mark.parametrize(("kid", "ctr", "header"), CASES)
def test_rfc9605_vectors(kid: int, ctr: int, header: str) -> None:
    assert encode_header(kid, ctr).hex() == header
    assert decode_header(bytes.fromhex(header) + b"payload") == (kid, ctr, len(header) // 2)


@given(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_round_trip(kid: int, ctr: int) -> None:
    h = encode_header(kid, ctr)
    assert decode_header(h) == (kid, ctr, len(h))


@given(st.binary(max_size=20))
def test_random_bytes_raise_only_remote_errors(data: bytes) -> None:
    try:
        kid, ctr, n = decode_header(data)
    except RemoteProtocolError:
        return
    assert encode_header(kid, ctr) == data[:n]


@pytest.mark.parametrize("header", ["0807", "8007", "880000ff", "090001", "8100ff", "", "09ff"])
def test_non_minimal_or_truncated(header: str) -> None:
    with pytest.raises(RemoteProtocolError) as exc:
        decode_header(bytes.fromhex(header))
    assert exc.value.code in (ErrorCode.NON_CANONICAL, ErrorCode.MALFORMED)


def test_out_of_range() -> None:
    with pytest.raises(LocalProtocolError):
        encode_header(2**64, 0)
    with pytest.raises(LocalProtocolError):
        encode_header(0, -1)
