"""Regression tests for what fuzzing found in the core decoders (issue 9 "Fuzzing")."""

from __future__ import annotations

import pytest

from e2ee import canonical
from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from e2ee.invite import Invite, authority

from .targets_core import canonical_value

#: u8(len(authority)) in the checksum input (spec §6.1)
MAX_AUTHORITY_LEN = 255
_HOST_253 = ".".join(["a" * 63] * 3 + ["b" * 61])


def _nested(levels: int, inner: canonical.Value) -> canonical.Value:
    value = inner
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize("inner", [1, b"x", None])
def test_sixteen_levels_of_arrays_around_a_value_decode(inner: canonical.Value) -> None:
    # spec §4.1: at most 16 levels of arrays, the outermost counts as one
    data = b"\x91" * 15 + canonical.encode([inner])
    assert canonical.decode(data) == _nested(16, inner)
    assert canonical.encode(_nested(16, inner)) == data
    canonical_value(data)


@pytest.mark.parametrize(("wrappers", "inner"), [(17, 1), (16, [])])
def test_seventeen_levels_are_malformed_and_not_encodable(
    wrappers: int, inner: canonical.Value
) -> None:
    data = b"\x91" * wrappers + canonical.encode(inner)
    with pytest.raises(RemoteProtocolError) as info:
        canonical.decode(data)
    assert info.value.code is ErrorCode.MALFORMED
    with pytest.raises(LocalProtocolError):
        canonical.encode(_nested(wrappers, inner))


def test_arbitrarily_deep_nesting_is_malformed() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        canonical.decode(b"\x91" * 100_000 + b"\x90")
    assert info.value.code is ErrorCode.MALFORMED


def test_invite_with_an_authority_over_255_bytes_is_malformed_not_a_crash() -> None:
    # the checksum input is u8(len(authority)) || authority (spec §6.1): a 253-byte
    # host and a 5-digit port made bytes((259,)) raise ValueError out of from_link
    assert len(_HOST_253) == 253
    link = f"hushroom://{_HOST_253}:65535/#aaaaaaaa"
    with pytest.raises(RemoteProtocolError) as info:
        Invite.from_link(link)
    assert info.value.code is ErrorCode.MALFORMED
    with pytest.raises(RemoteProtocolError):
        authority(_HOST_253, 65535)


def test_longest_authority_still_links() -> None:
    host = _HOST_253[: MAX_AUTHORITY_LEN - len(":65535")]
    host = host.rstrip(".-")
    assert len(authority(host, 65535)) <= MAX_AUTHORITY_LEN
    invite = Invite(host, 65535, bytes(32), bytes(32), bytes(range(32)))
    assert Invite.from_link(invite.to_link()) == invite
    too_long = Invite(_HOST_253, 65535, bytes(32), bytes(32), bytes(range(32)))
    with pytest.raises(LocalProtocolError):
        too_long.to_link()
