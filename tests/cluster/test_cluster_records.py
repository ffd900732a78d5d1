"""The cluster records' forms on the engine (spec §24.2): round trips and hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from e2ee.envelope import DeliveryClass
from e2ee.errors import RemoteProtocolError
from relay.cluster.records import (
    ClassSet,
    Control,
    Joined,
    Left,
    Media,
    Ordered,
    Unicast,
    decode_media,
    encode_media,
    record_fields,
    record_from_fields,
)

MAX = 1000
RECORDS: list[Ordered] = [
    Joined(7, DeliveryClass.STAGE, b"n" * 16, 2**40),
    Left(0xFFFFFFFF),
    ClassSet(3, DeliveryClass.AUDIENCE),
    Control(1, b"x" * MAX),
    Unicast(1, 2, b""),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_ordered_records_round_trip(record: Ordered) -> None:
    fields = {k.encode(): v for k, v in record_fields(record).items()}
    assert record_from_fields(fields, MAX) == record


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {b"t": b"X"},
        {b"t": b"L", b"s": b"4294967296"},  # past u32
        {b"t": b"L", b"s": b"-1"},
        {b"t": b"L", b"s": b"1" * 21},
        {b"t": b"S", b"s": b"1", b"c": b"9"},  # no such class
        {b"t": b"C", b"s": b"1", b"p": b"x" * (MAX + 1)},  # one byte past the bound
        {b"t": b"C", b"s": b"1"},
        {b"t": b"J", b"s": b"1", b"c": b"0", b"n": b"short", b"k": b"1"},
    ],
)
def test_hostile_stream_entries_raise_the_projects_error(fields: dict[bytes, bytes]) -> None:
    with pytest.raises(RemoteProtocolError):
        record_from_fields(fields, MAX)


def test_media_round_trips_and_is_bounded() -> None:
    m = Media(5, DeliveryClass.AUDIENCE, True, b"y" * MAX)
    assert decode_media(encode_media(m), MAX) == m
    with pytest.raises(RemoteProtocolError):
        decode_media(encode_media(m) + b"z", MAX)


@given(st.binary(max_size=40))
def test_any_media_bytes_decode_or_raise_the_projects_error(data: bytes) -> None:
    try:
        decode_media(data, 16)
    except RemoteProtocolError:
        pass
