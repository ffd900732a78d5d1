"""The relay envelope codec (spec §8): the one structure the relay parses.

Pure sans-IO: bytes in, :class:`Envelope` values out, and back.  Both the relay
and the client link use it; it holds no key and knows nothing of the E2EE
layer (payloads are opaque bytes).

Wire layout (spec §8.1), all integers big-endian::

    version u8 (=1) | type u8 | room_tag 16 bytes | slot u32 | payload_length u32 | payload

The header is :data:`HEADER_LEN` = 26 bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

VERSION = 1
HEADER_LEN = 26
ROOM_TAG_LEN = 16
MAX_SLOT = 0xFFFFFFFF
#: Default bound on one envelope's payload (spec §8.3); configurable per decoder.
DEFAULT_MAX_PAYLOAD = 262_144
#: Longest PING payload the relay echoes in its PONG (spec §8.2).
MAX_PING_PAYLOAD = 64
#: A DATAGRAM_ACCEPT that opens a channel: port u16, token 8, key 32 (spec §23.2).
DATAGRAM_ACCEPT_LEN = 42
ZERO_TAG = bytes(ROOM_TAG_LEN)

_HEADER = struct.Struct(">BB16sII")
_U32_PAIR = struct.Struct(">II")
_U16 = struct.Struct(">H")


class EnvelopeType(IntEnum):
    """Envelope types (spec §8.2).  0x0_ / 0x1_ / 0x2_ from clients, 0x8_ / 0xA_ from the relay.

    MEDIA, CONTROL and UNICAST travel in both directions: a client sends them
    with the destination (UNICAST) or zero (broadcasts) in ``slot``; the relay
    forwards them with ``slot`` set to the SOURCE slot it stamped itself.
    """

    JOIN = 0x01
    LEAVE = 0x02
    SET_CLASS = 0x03
    MEDIA = 0x10
    CONTROL = 0x11
    UNICAST = 0x12
    PING = 0x20
    DATAGRAM_OFFER = 0x21
    WELCOME = 0x81
    PEER_JOINED = 0x82
    PEER_LEFT = 0x83
    LOSS = 0x84
    ERROR = 0x85
    DATAGRAM_ACCEPT = 0x86
    PONG = 0xA0


#: Types a client may send to the relay (spec §8.2).
CLIENT_TYPES = frozenset(
    {
        EnvelopeType.JOIN,
        EnvelopeType.LEAVE,
        EnvelopeType.SET_CLASS,
        EnvelopeType.MEDIA,
        EnvelopeType.CONTROL,
        EnvelopeType.UNICAST,
        EnvelopeType.PING,
        EnvelopeType.DATAGRAM_OFFER,
    }
)
#: Types the relay sends to a client (spec §8.2).
RELAY_TYPES = frozenset(
    {
        EnvelopeType.WELCOME,
        EnvelopeType.PEER_JOINED,
        EnvelopeType.PEER_LEFT,
        EnvelopeType.MEDIA,
        EnvelopeType.CONTROL,
        EnvelopeType.UNICAST,
        EnvelopeType.LOSS,
        EnvelopeType.ERROR,
        EnvelopeType.PONG,
        EnvelopeType.DATAGRAM_ACCEPT,
    }
)


class DeliveryClass(IntEnum):
    """The one-byte payload of JOIN and SET_CLASS (spec §8.2, §17.2)."""

    STAGE = 0
    AUDIENCE = 1


class RelayErrorCode(IntEnum):
    """Codes in the payload of a relay ERROR envelope (spec §17.6).

    Codes below 0x100 close the connection (the relay sends the ERROR, then
    closes); codes from 0x100 refuse one request and the link stays up.
    """

    MALFORMED = 0x01
    UNSUPPORTED_VERSION = 0x02
    UNKNOWN_TYPE = 0x03
    TOO_LARGE = 0x04
    TRUNCATED = 0x05
    UNEXPECTED_TYPE = 0x06
    RATE_LIMITED = 0x07
    SLOW_CONSUMER = 0x08
    IDLE_TIMEOUT = 0x09
    HANDSHAKE_TIMEOUT = 0x0A
    TOO_MANY_CONNECTIONS = 0x0B
    SHUTTING_DOWN = 0x0C
    NOT_JOINED = 0x101
    ALREADY_JOINED = 0x102
    TOO_MANY_ROOMS = 0x103
    ROOM_FULL = 0x104
    NO_SUCH_SLOT = 0x105

    @property
    def closes_connection(self) -> bool:
        """True for the codes after which the relay closes the link (spec §17.6)."""
        return self.value < 0x100


@dataclass(frozen=True, slots=True)
class Envelope:
    """One decoded envelope (spec §8.1)."""

    type: EnvelopeType
    room_tag: bytes
    slot: int
    payload: bytes


def encode_envelope(type: EnvelopeType, room_tag: bytes, slot: int, payload: bytes = b"") -> bytes:
    """Encode one envelope (spec §8.1): one ``struct.pack`` and one concatenation.

    Raises :class:`LocalProtocolError` for a room tag that is not 16 bytes or
    a slot outside u32.  Payload rules per type are the decoder's job.
    """
    if len(room_tag) != ROOM_TAG_LEN:
        raise LocalProtocolError("room tag must be 16 bytes")
    try:
        return _HEADER.pack(VERSION, type, room_tag, slot, len(payload)) + payload
    except struct.error as exc:
        raise LocalProtocolError(f"cannot encode envelope: {exc}") from None


def encode_error(room_tag: bytes, code: RelayErrorCode, reason: str) -> bytes:
    """Encode a relay ERROR envelope (spec §8.2): code u16 then a UTF-8 reason."""
    return encode_envelope(
        EnvelopeType.ERROR, room_tag, 0, _U16.pack(code) + reason.encode("utf-8")
    )


def encode_loss(room_tag: bytes, frames: int, nbytes: int) -> bytes:
    """Encode a LOSS notice (spec §8.2): frames dropped u32, bytes dropped u32 (saturating)."""
    return encode_envelope(
        EnvelopeType.LOSS,
        room_tag,
        0,
        _U32_PAIR.pack(min(frames, MAX_SLOT), min(nbytes, MAX_SLOT)),
    )


def parse_error(envelope: Envelope) -> tuple[int, str]:
    """Split an ERROR payload into (code, reason) (spec §8.2)."""
    code = _U16.unpack_from(envelope.payload)[0]
    return code, envelope.payload[2:].decode("utf-8", errors="replace")


def parse_loss(envelope: Envelope) -> tuple[int, int]:
    """Split a LOSS payload into (frames dropped, bytes dropped) (spec §8.2)."""
    frames, nbytes = _U32_PAIR.unpack(envelope.payload)
    return frames, nbytes


def _check_payload(etype: EnvelopeType, payload: bytes) -> None:
    """Per-type payload rules of spec §8.2; raises MALFORMED."""
    n = len(payload)
    if etype in (EnvelopeType.JOIN, EnvelopeType.SET_CLASS):
        if n != 1 or payload[0] > DeliveryClass.AUDIENCE:
            raise RemoteProtocolError("JOIN/SET_CLASS payload must be one byte 0 or 1")
    elif etype in (
        EnvelopeType.LEAVE,
        EnvelopeType.WELCOME,
        EnvelopeType.PEER_JOINED,
        EnvelopeType.PEER_LEFT,
        EnvelopeType.DATAGRAM_OFFER,
    ):
        if n:
            raise RemoteProtocolError(f"{etype.name} carries no payload")
    elif etype in (EnvelopeType.PING, EnvelopeType.PONG):
        if n > MAX_PING_PAYLOAD:
            raise RemoteProtocolError("PING/PONG payload longer than 64 bytes")
    elif etype == EnvelopeType.LOSS:
        if n != 8:
            raise RemoteProtocolError("LOSS payload must be 8 bytes")
    elif etype == EnvelopeType.DATAGRAM_ACCEPT:
        if n not in (0, DATAGRAM_ACCEPT_LEN):
            raise RemoteProtocolError("DATAGRAM_ACCEPT payload must be empty or 42 bytes")
    elif etype == EnvelopeType.ERROR:
        if n < 2:
            raise RemoteProtocolError("ERROR payload shorter than its code")
        try:
            payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise RemoteProtocolError("ERROR reason is not UTF-8") from None


class EnvelopeDecoder:
    """Streaming decoder (spec §8.3): feed any chunking of the byte stream, get envelopes.

    ``allowed`` restricts the accepted types (the relay passes
    :data:`CLIENT_TYPES`, a client :data:`RELAY_TYPES`); a known type outside
    it raises ``UNKNOWN_TYPE`` as well.  After an error the decoder is
    poisoned: the stream has lost framing and every later ``feed`` raises.
    """

    __slots__ = ("_allowed", "_buf", "_error", "max_payload")

    def __init__(
        self,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        allowed: frozenset[EnvelopeType] | None = None,
    ) -> None:
        if max_payload < 0 or max_payload > MAX_SLOT:
            raise LocalProtocolError("max_payload must fit in u32")
        self.max_payload = max_payload
        self._allowed = frozenset(int(t) for t in (allowed or EnvelopeType))
        self._buf = bytearray()
        self._error: RemoteProtocolError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet forming a whole envelope (a truncation at EOF)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Envelope]:
        """Append ``data`` and return every complete envelope, in order (spec §8.3).

        Raises :class:`RemoteProtocolError` with code MALFORMED,
        UNSUPPORTED_VERSION, UNKNOWN_TYPE or TOO_LARGE; the header is checked
        as soon as its 26 bytes are in, before any payload is buffered.
        """
        if self._error is not None:
            raise self._error
        buf = self._buf
        stream: bytes | bytearray = data
        if buf:  # the rest of a buffered envelope: parse the buffer in place
            buf += data
            stream = buf
        out: list[Envelope] = []
        pos = 0
        end = len(stream)
        unpack = _HEADER.unpack_from
        allowed = self._allowed
        max_payload = self.max_payload
        try:
            while end - pos >= HEADER_LEN:
                version, etype, tag, slot, length = unpack(stream, pos)
                if version != VERSION or etype not in allowed or length > max_payload:
                    raise _header_error(version, etype, allowed, length, max_payload)
                stop = pos + HEADER_LEN + length
                if stop > end:
                    break
                payload = bytes(stream[pos + HEADER_LEN : stop])
                kind = _TYPES[etype]  # in ``allowed``: a known type
                if kind not in _FREE_PAYLOAD:
                    _check_payload(kind, payload)
                out.append(Envelope(kind, tag, slot, payload))
                pos = stop
        except RemoteProtocolError as exc:
            self._error = exc
            buf.clear()
            raise
        if stream is buf:
            del buf[:pos]
        elif pos < end:
            buf += stream[pos:]  # the start of an envelope, kept for the next feed
        return out


def _header_error(
    version: int, etype: int, allowed: frozenset[int], length: int, max_payload: int
) -> RemoteProtocolError:
    """The error of a header that fails :meth:`EnvelopeDecoder.feed`'s checks, in their order."""
    if version != VERSION:
        return RemoteProtocolError(
            f"unsupported envelope version {version}", ErrorCode.UNSUPPORTED_VERSION
        )
    if etype not in allowed:
        return RemoteProtocolError(f"unknown envelope type {etype:#04x}", ErrorCode.UNKNOWN_TYPE)
    return RemoteProtocolError(
        f"envelope payload of {length} bytes exceeds {max_payload}", ErrorCode.TOO_LARGE
    )


_FREE_PAYLOAD = frozenset({EnvelopeType.MEDIA, EnvelopeType.CONTROL, EnvelopeType.UNICAST})
_TYPES = {int(t): t for t in EnvelopeType}  # a dict lookup, not an enum call per envelope


def decode_envelope(data: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> Envelope:
    """Decode exactly one envelope occupying all of ``data`` (spec §8.3).

    Raises MALFORMED if ``data`` is truncated or has trailing bytes.
    """
    decoder = EnvelopeDecoder(max_payload)
    envelopes = decoder.feed(data)
    if len(envelopes) != 1 or decoder.buffered:
        raise RemoteProtocolError("expected exactly one whole envelope", ErrorCode.MALFORMED)
    return envelopes[0]
