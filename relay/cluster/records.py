"""What nodes of one cluster tell each other about a room (spec §24.2).

Ordered records go through the room's one order (spec §17.3); :class:`Media`
takes the unordered channel.  :func:`encode_media`/:func:`decode_media` are the
binary form of MEDIA on the engine's publish channel, :func:`record_fields`/
:func:`record_from_fields` the field form of an ordered record in a stream.
Decoders bound every length and raise only :class:`e2ee.errors.RemoteProtocolError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from e2ee.envelope import DeliveryClass
from e2ee.errors import ErrorCode, RemoteProtocolError

#: length of a node identifier (random, chosen at start-up)
NODE_ID_LEN = 16


@dataclass(frozen=True, slots=True)
class Seat:
    """Who holds one slot of a room: the node of its link and its delivery class."""

    node: bytes
    cls: DeliveryClass


@dataclass(frozen=True, slots=True)
class Joined:
    """A slot was taken by link ``key`` of ``node`` (spec §24.3)."""

    slot: int
    cls: DeliveryClass
    node: bytes
    key: int


@dataclass(frozen=True, slots=True)
class Left:
    """A slot was freed (its link left, closed, or its node died)."""

    slot: int


@dataclass(frozen=True, slots=True)
class ClassSet:
    """The member in ``slot`` moved to delivery class ``cls``."""

    slot: int
    cls: DeliveryClass


@dataclass(frozen=True, slots=True)
class Control:
    """A CONTROL broadcast from ``src``."""

    src: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Unicast:
    """A UNICAST from ``src`` to ``dst``."""

    src: int
    dst: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Media:
    """A MEDIA broadcast from ``src`` (class ``cls``); ``by_datagram`` as in spec §23.6."""

    src: int
    cls: DeliveryClass
    by_datagram: bool
    payload: bytes


Ordered = Joined | Left | ClassSet | Control | Unicast

_MEDIA = struct.Struct(">IBB")
#: bytes before the payload in the binary form of MEDIA (spec §24.2)
MEDIA_HEADER_LEN = _MEDIA.size


def _fail(what: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"cluster record: {what}", ErrorCode.MALFORMED)


def encode_media(m: Media) -> bytes:
    """``src u32 | cls u8 | by_datagram u8 | payload`` (spec §24.2)."""
    return _MEDIA.pack(m.src, m.cls, int(m.by_datagram)) + m.payload


def decode_media(data: bytes, max_payload: int) -> Media:
    """Inverse of :func:`encode_media`; refuses anything out of bounds."""
    if not _MEDIA.size <= len(data) <= _MEDIA.size + max_payload:
        raise _fail("media length")
    src, cls, flag = _MEDIA.unpack_from(data)
    if flag > 1:
        raise _fail("media flag")
    return Media(src, _cls(cls), bool(flag), data[_MEDIA.size :])


def _cls(value: int) -> DeliveryClass:
    try:
        return DeliveryClass(value)
    except ValueError:
        raise _fail("delivery class") from None


def record_fields(rec: Ordered) -> dict[str, bytes]:
    """The stream-entry fields of an ordered record (spec §24.2)."""
    if isinstance(rec, Joined):
        return {
            "t": b"J",
            "s": b"%d" % rec.slot,
            "c": b"%d" % rec.cls,
            "n": rec.node,
            "k": b"%d" % rec.key,
        }
    if isinstance(rec, Left):
        return {"t": b"L", "s": b"%d" % rec.slot}
    if isinstance(rec, ClassSet):
        return {"t": b"S", "s": b"%d" % rec.slot, "c": b"%d" % rec.cls}
    if isinstance(rec, Control):
        return {"t": b"C", "s": b"%d" % rec.src, "p": rec.payload}
    return {"t": b"U", "s": b"%d" % rec.src, "d": b"%d" % rec.dst, "p": rec.payload}


def field_int(fields: dict[bytes, bytes], name: bytes, bound: int) -> int:
    """The decimal field ``name``, at most ``bound``."""
    raw = fields.get(name, b"")
    if not 0 < len(raw) <= 20 or not raw.isdigit():
        raise _fail("integer field")
    value = int(raw)
    if value > bound:
        raise _fail("integer out of range")
    return value


def _payload(fields: dict[bytes, bytes], max_payload: int) -> bytes:
    raw = fields.get(b"p")
    if raw is None or len(raw) > max_payload:
        raise _fail("payload")
    return raw


_U32 = 0xFFFFFFFF


def record_from_fields(fields: dict[bytes, bytes], max_payload: int) -> Ordered:
    """Inverse of :func:`record_fields`; refuses unknown kinds and out-of-range values."""
    kind = fields.get(b"t")
    if kind == b"J":
        node = fields.get(b"n", b"")
        if len(node) != NODE_ID_LEN:
            raise _fail("node id")
        return Joined(
            field_int(fields, b"s", _U32),
            _cls(field_int(fields, b"c", 255)),
            node,
            field_int(fields, b"k", 2**63),
        )
    if kind == b"L":
        return Left(field_int(fields, b"s", _U32))
    if kind == b"S":
        return ClassSet(field_int(fields, b"s", _U32), _cls(field_int(fields, b"c", 255)))
    if kind == b"C":
        return Control(field_int(fields, b"s", _U32), _payload(fields, max_payload))
    if kind == b"U":
        return Unicast(
            field_int(fields, b"s", _U32),
            field_int(fields, b"d", _U32),
            _payload(fields, max_payload),
        )
    raise _fail("kind")
