"""Canonical msgpack: the one encoding of every structured payload (spec §4).

The subset: ``nil``, ``true``/``false``, integers in [-2^63, 2^64-1] in their
shortest form, ``bin`` for bytes, ``str`` for UTF-8 text, and arrays with a
fixed field order.  No maps, no floats, no extension types.  Because every
value has exactly one encoding, signatures and MACs cover well-defined bytes.

:func:`decode` rejects anything that is not the canonical encoding of an
allowed value (``NON_CANONICAL``), anything that does not parse or has trailing
bytes (``MALFORMED``).  It never raises anything but
:class:`~e2ee.errors.RemoteProtocolError`.
"""

from __future__ import annotations

from functools import partial
from typing import TypeAlias

import msgpack

from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

Value: TypeAlias = "bool | int | bytes | str | list[Value] | tuple[Value, ...] | None"

#: Most levels of arrays in one value, the outermost counting as one (spec §4.1, §4.3).
MAX_DEPTH = 16
MIN_INT = -(2**63)
MAX_INT = 2**64 - 1

#: msgpack's own encoder (a C method bound once): its output IS the canonical
#: encoding of any value of the subset (spec §4.1), so a caller that built the
#: value from checked fields alone may call it without :func:`encode`'s walk.
pack = msgpack.Packer(use_bin_type=True).pack


def _check_encodable(value: object, depth: int) -> None:
    """``depth`` is the number of arrays around ``value``; at most MAX_DEPTH levels (spec §4.1)."""
    if value is None or isinstance(value, bool | bytes | str):
        return
    if isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            raise LocalProtocolError("integer out of the canonical range")
        return
    if isinstance(value, list | tuple):
        if depth >= MAX_DEPTH:
            raise LocalProtocolError("canonical value nested too deeply")
        for item in value:
            _check_encodable(item, depth + 1)
        return
    raise LocalProtocolError(f"type {type(value).__name__} is not in the canonical subset")


def encode(value: Value) -> bytes:
    """Encode ``value`` canonically (spec §4.1); raise LocalProtocolError if not allowed."""
    _check_encodable(value, 0)
    out: bytes = pack(value)
    return out


def _reject_map(_pairs: object) -> object:
    raise ValueError("maps are not allowed")


def _reject_ext(_code: int, _data: bytes) -> object:
    raise ValueError("extension types are not allowed")


#: The scalar types msgpack decodes the subset's scalars to (``unpackb`` returns
#: exactly these, never subclasses, so a ``type()`` lookup is exact).
_DECODED_SCALARS = frozenset({type(None), bool, int, bytes, str})
_DECODED_TYPES = _DECODED_SCALARS | {list}


#: ``msgpack.unpackb`` with the subset's options bound once (maps and extension
#: types raise inside msgpack; floats and depth are :func:`_check_decoded`'s).
_unpack = partial(
    msgpack.unpackb,
    raw=False,
    use_list=True,
    strict_map_key=True,
    object_pairs_hook=_reject_map,
    ext_hook=_reject_ext,
)


def _check_decoded(value: list[object], depth: int) -> None:
    """Every item of the array ``value`` (``depth`` arrays deep) is in the subset (spec §4.3).

    Too deep is MALFORMED, like any other type.  The item types are
    collected as a set in one pass (``map(type, ...)`` runs in C); only the
    arrays among the items are walked further.
    """
    if depth >= MAX_DEPTH:
        raise RemoteProtocolError("nested too deeply", ErrorCode.MALFORMED)
    kinds = set(map(type, value))
    if kinds <= _DECODED_SCALARS:
        return
    if not kinds <= _DECODED_TYPES:
        bad = next(iter(kinds - _DECODED_TYPES))
        raise RemoteProtocolError(f"{bad.__name__} is not allowed", ErrorCode.MALFORMED)
    for item in value:
        if type(item) is list:
            _check_decoded(item, depth + 1)


def decode(data: bytes) -> Value:
    """Decode one canonical value that spans ``data`` exactly (spec §4.2)."""
    if type(data) is not bytes:
        if not isinstance(data, bytes | bytearray):
            raise RemoteProtocolError("expected bytes", ErrorCode.MALFORMED)
        data = bytes(data)
    try:
        value = _unpack(data)
    except msgpack.ExtraData:
        raise RemoteProtocolError("trailing bytes", ErrorCode.MALFORMED) from None
    except Exception:  # msgpack raises a zoo of types for malformed input
        raise RemoteProtocolError("not a canonical msgpack value", ErrorCode.MALFORMED) from None
    kind = type(value)
    if kind is list:
        _check_decoded(value, 0)
    elif kind not in _DECODED_SCALARS:
        raise RemoteProtocolError(f"{kind.__name__} is not allowed", ErrorCode.MALFORMED)
    if pack(value) != data:
        raise RemoteProtocolError("not the canonical encoding", ErrorCode.NON_CANONICAL)
    result: Value = value
    return result


def decode_array(data: bytes, length: int, what: str) -> list[Value]:
    """Decode ``data`` as a canonical array of exactly ``length`` fields (spec §4.2)."""
    value = decode(data)
    if not isinstance(value, list) or len(value) != length:
        raise RemoteProtocolError(f"{what}: expected an array of {length}", ErrorCode.MALFORMED)
    return value


def decode_fields(data: bytes, types: tuple[type, ...]) -> list[Value] | None:
    """``data`` decoded, if it is the canonical array of fields of exactly ``types``; else None.

    The fast path of a decoder that checks every field it reads (spec §4.2):
    the caller checks each field's range or length and, exactly, the items
    of any ``list`` field, and takes the value only if all of it passed;
    then it accepted only what :func:`decode_array` followed by the field
    checks accepts (fields of exactly checked types hold no float and nest
    no deeper than checked, so the subset walk has nothing to find).  On
    None, or a field that fails, the caller runs its full decoder on
    ``data``, which raises the one error that input deserves.
    """
    try:
        value = _unpack(data)
    except Exception:  # any malformed input: the full decoder names it
        return None
    if type(value) is list and tuple(map(type, value)) == types and pack(value) == data:
        fields: list[Value] = value
        return fields
    return None


def expect_int(value: Value, what: str, lo: int = 0, hi: int = MAX_INT) -> int:
    """Field check: an integer (not a bool) in [lo, hi] (spec §4.3)."""
    if type(value) is int and lo <= value <= hi:  # decoded ints are exactly int
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise RemoteProtocolError(f"{what}: expected an integer in range", ErrorCode.MALFORMED)
    return value


def expect_bytes(
    value: Value, what: str, length: int | None = None, max_len: int = 1 << 20
) -> bytes:
    """Field check: a ``bin`` value, of exactly ``length`` bytes if given (spec §4.3)."""
    if type(value) is bytes and len(value) <= max_len and (length is None or len(value) == length):
        return value  # the common case, in one test: decoded bins are exactly bytes
    if not isinstance(value, bytes):
        raise RemoteProtocolError(f"{what}: expected bytes", ErrorCode.MALFORMED)
    if length is not None and len(value) != length:
        raise RemoteProtocolError(f"{what}: expected {length} bytes", ErrorCode.MALFORMED)
    if len(value) > max_len:
        raise RemoteProtocolError(f"{what}: too long", ErrorCode.TOO_LARGE)
    return value


def expect_str(value: Value, what: str, max_len: int = 1 << 16) -> str:
    """Field check: a ``str`` value of at most ``max_len`` UTF-8 bytes (spec §4.3)."""
    if not isinstance(value, str):
        raise RemoteProtocolError(f"{what}: expected text", ErrorCode.MALFORMED)
    if len(value.encode("utf-8")) > max_len:
        raise RemoteProtocolError(f"{what}: too long", ErrorCode.TOO_LARGE)
    return value


def expect_version(value: Value, what: str, supported: int = 1) -> None:
    """Field check: the format version field equals ``supported`` (spec §4.3)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise RemoteProtocolError(f"{what}: bad version field", ErrorCode.MALFORMED)
    if value != supported:
        raise RemoteProtocolError(f"{what}: unsupported version", ErrorCode.UNSUPPORTED_VERSION)
