"""Canonical msgpack subset (spec §4)."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from e2ee import canonical
from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.binary(max_size=300)
    | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5),
    max_leaves=20,
)


@given(values)
def test_round_trip(value: canonical.Value) -> None:
    data = canonical.encode(value)
    assert canonical.decode(data) == value
    assert canonical.encode(canonical.decode(data)) == data


@given(st.binary(max_size=64))
def test_random_bytes_raise_only_remote_errors(data: bytes) -> None:
    try:
        value = canonical.decode(data)
    except RemoteProtocolError:
        return
    assert canonical.encode(value) == data  # whatever is accepted is canonical


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\xd0\x05", ErrorCode.NON_CANONICAL),  # int8 for 5
        (b"\xcc\x05", ErrorCode.NON_CANONICAL),  # uint8 for 5
        (b"\xcd\x00\xff", ErrorCode.NON_CANONICAL),  # uint16 for 255
        (b"\xd9\x01a", ErrorCode.NON_CANONICAL),  # str8 for a 1-char string
        (b"\xdc\x00\x01\x01", ErrorCode.NON_CANONICAL),  # array16 of 1
        (b"\xc5\x00\x01a", ErrorCode.NON_CANONICAL),  # bin16 of 1
        (b"\x81\x01\x02", ErrorCode.MALFORMED),  # map
        (b"\xcb" + bytes(8), ErrorCode.MALFORMED),  # float64
        (b"\xca" + bytes(4), ErrorCode.MALFORMED),  # float32
        (b"\xd4\x01\x00", ErrorCode.MALFORMED),  # ext
        (b"\xd6\xff" + bytes(4), ErrorCode.MALFORMED),  # timestamp ext
        (b"\x01\x02", ErrorCode.MALFORMED),  # trailing byte
        (b"\xa1\xff", ErrorCode.MALFORMED),  # invalid UTF-8
        (b"\x92\x01", ErrorCode.MALFORMED),  # truncated array
        (b"", ErrorCode.MALFORMED),
        (b"\xc1", ErrorCode.MALFORMED),  # never-used byte
    ],
)
def test_rejects(data: bytes, code: ErrorCode) -> None:
    with pytest.raises(RemoteProtocolError) as exc:
        canonical.decode(data)
    assert exc.value.code == code


def test_matches_shortest_forms() -> None:
    assert canonical.encode(127) == b"\x7f"
    assert canonical.encode(128) == b"\xcc\x80"
    assert canonical.encode(-32) == b"\xe0"
    assert canonical.encode(-33) == b"\xd0\xdf"
    assert canonical.encode(b"") == b"\xc4\x00"
    assert canonical.encode("") == b"\xa0"
    assert canonical.encode([]) == b"\x90"
    assert canonical.encode(2**64 - 1) == b"\xcf" + b"\xff" * 8


@pytest.mark.parametrize("bad", [1.5, {"a": 1}, 2**64, -(2**63) - 1, bytearray(b"x"), object()])
def test_encoder_refuses_values_outside_the_subset(bad: object) -> None:
    with pytest.raises(LocalProtocolError):
        canonical.encode(bad)  # type: ignore[arg-type]


def test_deep_nesting_is_rejected() -> None:
    data = b"\x91" * 40 + b"\x90"
    with pytest.raises(RemoteProtocolError):
        canonical.decode(data)


def test_field_helpers() -> None:
    fields = canonical.decode_array(canonical.encode([1, b"ab", "x"]), 3, "t")
    assert canonical.expect_int(fields[0], "n") == 1
    assert canonical.expect_bytes(fields[1], "b", 2) == b"ab"
    assert canonical.expect_str(fields[2], "s") == "x"
    with pytest.raises(RemoteProtocolError):
        canonical.expect_int(True, "n")
    with pytest.raises(RemoteProtocolError):
        canonical.expect_bytes(fields[1], "b", 3)
    with pytest.raises(RemoteProtocolError):
        canonical.decode_array(canonical.encode([1]), 2, "t")
    with pytest.raises(RemoteProtocolError) as exc:
        canonical.expect_version(2, "t")
    assert exc.value.code == ErrorCode.UNSUPPORTED_VERSION
    assert msgpack.packb(True) == canonical.encode(True)


@pytest.mark.parametrize(
    ("value", "length", "max_len", "code"),
    [
        (b"ab", 0, 1 << 20, ErrorCode.MALFORMED),  # a length of 0 is a length
        (b"", 2, 1 << 20, ErrorCode.MALFORMED),
        (b"abc", None, 2, ErrorCode.TOO_LARGE),
        (b"abc", 3, 2, ErrorCode.TOO_LARGE),  # both bounds hold, not only the length
        (bytearray(b"ab"), 2, 1 << 20, ErrorCode.MALFORMED),  # only a decoded bin is bytes
        ("ab", None, 1 << 20, ErrorCode.MALFORMED),
    ],
)
def test_expect_bytes_checks_type_length_and_bound(
    value: object, length: int | None, max_len: int, code: ErrorCode
) -> None:
    with pytest.raises(RemoteProtocolError) as exc:
        canonical.expect_bytes(value, "b", length, max_len)  # type: ignore[arg-type]
    assert exc.value.code is code


def test_sixteen_levels_allowed_seventeen_rejected() -> None:
    ok = b"\x91" * 15 + b"\x90"  # 16 arrays
    assert canonical.encode(canonical.decode(ok)) == ok
    with pytest.raises(RemoteProtocolError):
        canonical.decode(b"\x91" * 16 + b"\x90")
    deep: canonical.Value = []
    for _ in range(16):
        deep = [deep]
    with pytest.raises(LocalProtocolError):
        canonical.encode(deep)


def test_nesting_depth_bound_and_its_error_code() -> None:
    """Spec §4.3: 16 levels of arrays decode; an array at level 17 is MALFORMED."""
    assert canonical.decode(b"\x91" * 15 + b"\x90") == canonical.decode(
        canonical.encode(_nested(16))
    )
    with pytest.raises(RemoteProtocolError) as exc:
        canonical.decode(b"\x91" * 16 + b"\x90")
    assert exc.value.code is ErrorCode.MALFORMED
    with pytest.raises(LocalProtocolError):
        canonical.encode(_nested(17))


def _nested(levels: int) -> canonical.Value:
    value: canonical.Value = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    "bad",
    [b"\xcb" + bytes(8), b"\xca" + bytes(4), b"\xd6\xff" + bytes(4), b"\xd4\x01\x00"],
    ids=["float64", "float32", "timestamp", "ext"],
)
@pytest.mark.parametrize(
    ("before", "after"),
    [(b"\x91", b""), (b"\x93\x01\xc4\x01a", b"\xc0"), (b"\x92\x91\x92\x02", b"\x03")],
    ids=["alone", "between", "nested"],
)
def test_rejects_a_type_outside_the_subset_inside_arrays(
    bad: bytes, before: bytes, after: bytes
) -> None:
    """The subset check reaches every item of every array, not only the top level."""
    with pytest.raises(RemoteProtocolError) as exc:
        canonical.decode(before + bad + after)
    assert exc.value.code == ErrorCode.MALFORMED


def test_decodes_a_bytearray_like_its_bytes() -> None:
    data = canonical.encode([1, b"x", ["y", None, True]])
    assert canonical.decode(bytearray(data)) == canonical.decode(data)
