"""The relay envelope codec (spec §8): vectors, streaming, every rejection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from e2ee.envelope import (
    CLIENT_TYPES,
    HEADER_LEN,
    RELAY_TYPES,
    Envelope,
    EnvelopeDecoder,
    EnvelopeType,
    RelayErrorCode,
    decode_envelope,
    encode_envelope,
    encode_error,
    encode_loss,
    parse_error,
    parse_loss,
)
from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

ROOT = Path(__file__).resolve().parent.parent
VECTORS = json.loads((ROOT / "spec" / "vectors" / "envelope.json").read_text())
TAG = bytes(range(16))


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["name"])
def test_valid_vectors_encode_and_decode(vector: dict[str, object]) -> None:
    etype = EnvelopeType(vector["type"])
    tag = bytes.fromhex(str(vector["room_tag"]))
    payload = bytes.fromhex(str(vector["payload"]))
    encoded = bytes.fromhex(str(vector["encoded"]))
    assert encode_envelope(etype, tag, int(str(vector["slot"])), payload) == encoded
    assert decode_envelope(encoded) == Envelope(etype, tag, int(str(vector["slot"])), payload)


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
def test_invalid_vectors_are_rejected_with_their_code(vector: dict[str, object]) -> None:
    decoder = EnvelopeDecoder(int(str(vector["max_payload"])))
    with pytest.raises(RemoteProtocolError) as exc:
        decoder.feed(bytes.fromhex(str(vector["encoded"])))
    assert exc.value.code == ErrorCode[str(vector["error"])]


def test_header_is_26_bytes_big_endian() -> None:
    data = encode_envelope(EnvelopeType.UNICAST, TAG, 0x01020304, b"xy")
    assert len(data) == HEADER_LEN + 2
    assert data[:2] == b"\x01\x12"
    assert data[2:18] == TAG
    assert data[18:22] == b"\x01\x02\x03\x04"
    assert data[22:26] == b"\x00\x00\x00\x02"


def test_encode_refuses_bad_tag_and_slot() -> None:
    with pytest.raises(LocalProtocolError):
        encode_envelope(EnvelopeType.MEDIA, b"short", 0, b"")
    with pytest.raises(LocalProtocolError):
        encode_envelope(EnvelopeType.MEDIA, TAG, 2**32, b"")
    with pytest.raises(LocalProtocolError):
        encode_envelope(EnvelopeType.MEDIA, TAG, -1, b"")


envelopes = st.builds(
    lambda t, tag, slot, payload: (t, tag, slot, payload),
    st.sampled_from([EnvelopeType.MEDIA, EnvelopeType.CONTROL, EnvelopeType.UNICAST]),
    st.binary(min_size=16, max_size=16),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=300),
)


@given(st.lists(envelopes, max_size=8), st.lists(st.integers(1, 64), max_size=20))
def test_any_chunking_yields_the_same_envelopes(
    items: list[tuple[EnvelopeType, bytes, int, bytes]], cuts: list[int]
) -> None:
    stream = b"".join(encode_envelope(*item) for item in items)
    decoder = EnvelopeDecoder()
    got: list[Envelope] = []
    pos = 0
    for cut in cuts:
        got += decoder.feed(stream[pos : pos + cut])
        pos += cut
    got += decoder.feed(stream[pos:])
    assert [(e.type, e.room_tag, e.slot, e.payload) for e in got] == items
    assert decoder.buffered == 0


@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_remote_error(data: bytes) -> None:
    decoder = EnvelopeDecoder(1000)
    try:
        for env in decoder.feed(data):
            assert len(env.room_tag) == 16
    except RemoteProtocolError as exc:
        assert exc.code in {
            ErrorCode.MALFORMED,
            ErrorCode.UNSUPPORTED_VERSION,
            ErrorCode.UNKNOWN_TYPE,
            ErrorCode.TOO_LARGE,
        }


def test_oversize_is_refused_from_the_header_alone() -> None:
    header = encode_envelope(EnvelopeType.MEDIA, TAG, 0, b"x" * 101)[:HEADER_LEN]
    with pytest.raises(RemoteProtocolError) as exc:
        EnvelopeDecoder(100).feed(header)
    assert exc.value.code == ErrorCode.TOO_LARGE


def test_decoder_is_poisoned_after_an_error() -> None:
    decoder = EnvelopeDecoder()
    with pytest.raises(RemoteProtocolError):
        decoder.feed(b"\x07" * 30)
    with pytest.raises(RemoteProtocolError):
        decoder.feed(encode_envelope(EnvelopeType.PING, TAG, 0))


def test_allowed_types_restrict_direction() -> None:
    welcome = encode_envelope(EnvelopeType.WELCOME, TAG, 1)
    with pytest.raises(RemoteProtocolError) as exc:
        EnvelopeDecoder(allowed=CLIENT_TYPES).feed(welcome)
    assert exc.value.code == ErrorCode.UNKNOWN_TYPE
    assert EnvelopeDecoder(allowed=RELAY_TYPES).feed(welcome)[0].slot == 1


def test_truncated_input_stays_buffered_and_decode_envelope_refuses_it() -> None:
    data = encode_envelope(EnvelopeType.CONTROL, TAG, 0, b"hello")
    decoder = EnvelopeDecoder()
    assert decoder.feed(data[:-1]) == []
    assert decoder.buffered == len(data) - 1
    with pytest.raises(RemoteProtocolError):
        decode_envelope(data[:-1])
    with pytest.raises(RemoteProtocolError):
        decode_envelope(data + b"\x01")


def test_error_and_loss_helpers_round_trip() -> None:
    err = decode_envelope(encode_error(TAG, RelayErrorCode.ROOM_FULL, "room is full"))
    assert parse_error(err) == (RelayErrorCode.ROOM_FULL, "room is full")
    loss = decode_envelope(encode_loss(TAG, 3, 2**40))
    assert parse_loss(loss) == (3, 2**32 - 1)  # saturates
    assert RelayErrorCode.RATE_LIMITED.closes_connection
    assert not RelayErrorCode.NO_SUCH_SLOT.closes_connection


def test_independent_verifier_agrees(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "verify_envelope", ROOT / "spec" / "verify_envelope.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    n = module.verify(ROOT / "spec" / "vectors" / "envelope.json")
    assert n == len(VECTORS["valid"]) + len(VECTORS["invalid"]) + len(VECTORS["truncated"])
    # and it catches a wrong byte
    broken = json.loads(json.dumps(VECTORS))
    broken["valid"][0]["encoded"] = "02" + broken["valid"][0]["encoded"][2:]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(AssertionError):
        module.verify(path)
