"""The datagram channel codec (spec §23): seal and open one media datagram.

Sans-IO: bytes in, bytes out, no clock and no randomness (the relay draws
the link key and the token, spec §23.2).  One :class:`DatagramChannel` is one
end of one link's channel; it seals in its own direction and opens the
other's, under per-direction keys derived from the link key.

Wire layout (spec §23.3), integers big-endian::

    token 8 bytes | counter u64 | XChaCha20-Poly1305(K_dir, 0^16 || counter, aad, plaintext)
    plaintext = pad(u8(kind) || u8(flags) || body)
    aad       = labelled("hushroom v1 datagram aad", token || u64(counter))

A MEDIA_RED body also carries a copy of the MEDIA of an earlier datagram of
the same direction (spec §23.3): the receiver hands it out only if that
earlier counter never arrived, and then records it in the replay window, so a
copy and its original are never both delivered.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from e2ee import kdf
from e2ee.errors import DecryptionFailed, ErrorCode, LocalProtocolError, RemoteProtocolError
from e2ee.padding import BUCKETS, bucket_for, unpad
from e2ee.replay import ReplayWindow
from e2ee.xchacha import TAG_LEN, XChaChaPrefix

TOKEN_LEN = 8
KEY_LEN = 32
#: token and counter, in clear (spec §23.3)
HEADER_LEN = 16
MAX_COUNTER = 2**64 - 1
#: largest padded plaintext: a datagram is at most 16 + 1,024 + 16 = 1,056 bytes (spec §23.3)
MAX_PLAINTEXT = 1024
#: bytes a datagram adds to its padded plaintext: header and tag
OVERHEAD = HEADER_LEN + TAG_LEN
MAX_DATAGRAM = HEADER_LEN + MAX_PLAINTEXT + TAG_LEN
MIN_DATAGRAM = HEADER_LEN + BUCKETS[0] + TAG_LEN
#: counters more than this far below the highest accepted are too old (spec §23.4)
REPLAY_WINDOW = 1024
#: a counter more than this far above the highest accepted is refused (spec §23.4)
MAX_JUMP = 1 << 20
#: the floor a PROBE is padded to before the client sent any MEDIA (spec §23.3)
DEFAULT_PROBE_FLOOR = 128
#: flags bit 0, client to relay only: "I receive your datagrams; send me media by them"
FLAG_RECEIVING = 0x01
#: flags bit 1, both directions: "your datagrams reach me with loss: send MEDIA_RED" (§23.3)
FLAG_REDUNDANT = 0x02
PROBE_BODY_LEN = 8
#: the most counters a MEDIA_RED copy may lie behind its datagram (a u8, spec §23.3)
MAX_BACK = 255

_ZERO_PREFIX = bytes(16)
_HEADER = struct.Struct(">8sQ")
_U64 = struct.Struct(">Q")
_RED_HEAD = struct.Struct(">BH")  # back, length of the primary MEDIA envelope


class Direction(IntEnum):
    """Who seals: the ``ctx`` byte of the direction key (spec §23.3)."""

    CLIENT_TO_RELAY = 0
    RELAY_TO_CLIENT = 1


class Kind(IntEnum):
    """Datagram kinds, inside the encryption (spec §23.3)."""

    PROBE = 1
    PROBE_ACK = 2
    MEDIA = 3
    MEDIA_RED = 4


#: which kinds each direction may carry, and the flags it may set (spec §23.3)
_ALLOWED: dict[Direction, tuple[frozenset[Kind], int]] = {
    Direction.CLIENT_TO_RELAY: (
        frozenset({Kind.PROBE, Kind.MEDIA, Kind.MEDIA_RED}),
        FLAG_RECEIVING | FLAG_REDUNDANT,
    ),
    Direction.RELAY_TO_CLIENT: (
        frozenset({Kind.PROBE_ACK, Kind.MEDIA, Kind.MEDIA_RED}),
        FLAG_REDUNDANT,
    ),
}


@dataclass(frozen=True, slots=True)
class Datagram:
    """One opened datagram (spec §23.3).

    ``body`` is the MEDIA envelope for both media kinds; ``copy`` is a
    MEDIA_RED's copy of datagram ``counter - back``'s envelope when that
    datagram never arrived (it is now recorded as accepted), else None.
    """

    counter: int
    kind: Kind
    flags: int
    body: bytes
    copy: bytes | None = None

    @property
    def media(self) -> tuple[bytes, ...]:
        """The MEDIA envelopes to hand on, oldest first (none for a probe)."""
        if self.kind is Kind.PROBE or self.kind is Kind.PROBE_ACK:
            return ()
        return (self.body,) if self.copy is None else (self.copy, self.body)


def red_body(back: int, primary: bytes, copy: bytes) -> bytes:
    """A MEDIA_RED body: ``u8(back) || u16(len(primary)) || primary || copy`` (spec §23.3)."""
    if not 1 <= back <= MAX_BACK or not primary or not copy or len(primary) > 0xFFFF:
        raise LocalProtocolError("bad MEDIA_RED parts")
    return _RED_HEAD.pack(back, len(primary)) + primary + copy


def split_red(body: bytes) -> tuple[int, bytes, bytes]:
    """``(back, primary, copy)`` of a MEDIA_RED body (spec §23.3); MALFORMED otherwise."""
    if len(body) < _RED_HEAD.size:
        raise RemoteProtocolError("MEDIA_RED body too short")
    back, length = _RED_HEAD.unpack_from(body)
    primary = body[_RED_HEAD.size : _RED_HEAD.size + length]
    copy = body[_RED_HEAD.size + length :]
    if back == 0 or length == 0 or len(primary) != length or not copy:
        raise RemoteProtocolError("bad MEDIA_RED body")
    return back, primary, copy


def direction_key(link_key: bytes, direction: Direction) -> bytes:
    """``KDF("hushroom v1 datagram key", link_key, 32, "", u8(direction))`` (spec §23.3)."""
    if len(link_key) != KEY_LEN:
        raise LocalProtocolError("the datagram link key is 32 bytes")
    return kdf.hkdf(kdf.DATAGRAM_KEY, link_key, KEY_LEN, context=bytes((direction,)))


def datagram_aad(token: bytes, counter: int) -> bytes:
    """``labelled("hushroom v1 datagram aad", token || u64(counter))`` (spec §23.3)."""
    return kdf.labelled(kdf.DATAGRAM_AAD, token + _U64.pack(counter))


def token_of(datagram: bytes) -> bytes:
    """The clear token that names the link to the relay (spec §23.3); MALFORMED if no datagram."""
    if not MIN_DATAGRAM <= len(datagram) <= MAX_DATAGRAM:
        raise RemoteProtocolError("datagram length out of bounds")
    return datagram[:TOKEN_LEN]


def padded_size(inner_len: int, floor: int = 0) -> int:
    """Plaintext size: the §11.4 bucket of ``inner_len``, at least ``floor`` (spec §23.3)."""
    size = max(bucket_for(inner_len), bucket_for(floor - 1) if floor > 0 else 0)
    if size > MAX_PLAINTEXT:
        raise LocalProtocolError("too large for one datagram: send it over the link")
    return size


def fits(body_len: int) -> bool:
    """True if a body of ``body_len`` bytes fits one datagram (spec §23.3)."""
    return body_len + 2 < MAX_PLAINTEXT


class DatagramChannel:
    """One end of one link's datagram channel (spec §23.3, §23.4).

    ``direction`` is the direction this end seals in; it opens the other.
    Counters start at ``next_counter`` (0 for a new channel) and raise before
    they would wrap; received counters pass a sliding replay window.
    """

    __slots__ = ("_open", "_seal", "_window", "direction", "next_counter", "token")

    def __init__(
        self, link_key: bytes, token: bytes, direction: Direction, next_counter: int = 0
    ) -> None:
        if len(token) != TOKEN_LEN:
            raise LocalProtocolError("the datagram token is 8 bytes")
        if not 0 <= next_counter <= MAX_COUNTER + 1:
            raise LocalProtocolError("bad datagram counter")
        other = Direction(1 - direction)
        self.token = bytes(token)
        self.direction = direction
        self.next_counter = next_counter
        self._seal = XChaChaPrefix(direction_key(link_key, direction), _ZERO_PREFIX)
        self._open = XChaChaPrefix(direction_key(link_key, other), _ZERO_PREFIX)
        self._window = ReplayWindow(REPLAY_WINDOW, MAX_JUMP)

    def seal(self, kind: Kind, body: bytes, flags: int = 0, floor: int = 0) -> bytes:
        """One datagram (spec §23.3); ``floor`` is the least plaintext size (probes: §23.3).

        LocalProtocolError for a kind or flag this direction may not send, a
        body too large for a datagram, or an exhausted counter.
        """
        kinds, flag_mask = _ALLOWED[self.direction]
        if kind not in kinds or flags & ~flag_mask:
            raise LocalProtocolError("this end may not send that kind or flag")
        counter = self.next_counter
        if counter > MAX_COUNTER:
            raise LocalProtocolError("datagram counter exhausted: no nonce may repeat")
        inner = bytes((kind, flags)) + body
        size = padded_size(len(inner), floor)
        plaintext = inner + b"\x80" + bytes(size - len(inner) - 1)
        self.next_counter = counter + 1
        suffix = _U64.pack(counter)
        return (
            self.token
            + suffix
            + self._seal.encrypt(suffix, plaintext, datagram_aad(self.token, counter))
        )

    def open(self, datagram: bytes) -> Datagram:
        """Authenticate and decrypt one datagram from the other end (spec §23.4).

        Raises RemoteProtocolError: MALFORMED (length, padding, kind, flags,
        body), REPLAY or TOO_FAR (counter, checked before decryption), or the
        opaque DecryptionFailed (wrong token, key or any flipped bit: this
        end's token is in the associated data).
        """
        token_of(datagram)
        token, counter = _HEADER.unpack_from(datagram)
        if token != self.token:
            raise DecryptionFailed()
        self._window.check(counter)
        plaintext = self._open.decrypt(
            datagram[8:16], datagram[HEADER_LEN:], datagram_aad(self.token, counter)
        )
        self._window.accept(counter)
        inner = unpad(plaintext)
        if len(inner) < 2:
            raise RemoteProtocolError("datagram shorter than kind and flags")
        kinds, flag_mask = _ALLOWED[Direction(1 - self.direction)]
        kind_byte, flags = inner[0], inner[1]
        if kind_byte not in kinds or flags & ~flag_mask:
            raise RemoteProtocolError("datagram kind or flags not allowed", ErrorCode.UNKNOWN_TYPE)
        kind = Kind(kind_byte)
        body = inner[2:]
        if kind is Kind.MEDIA_RED:
            return self._open_red(counter, flags, body)
        if kind != Kind.MEDIA and len(body) != PROBE_BODY_LEN:
            raise RemoteProtocolError("probe body must be 8 bytes")
        return Datagram(counter, kind, flags, body)

    def _open_red(self, counter: int, flags: int, body: bytes) -> Datagram:
        """Step 7 for MEDIA_RED (spec §23.4): the copy counts only if its original is missing."""
        back, primary, copy = split_red(body)
        if back > counter:
            raise RemoteProtocolError("MEDIA_RED copy before the first counter")
        original = counter - back
        try:
            self._window.check(original)
        except RemoteProtocolError:  # the original arrived, or is too old: drop the copy
            return Datagram(counter, Kind.MEDIA_RED, flags, primary)
        self._window.accept(original)
        return Datagram(counter, Kind.MEDIA_RED, flags, primary, copy)


def probe_body(probe_id: int) -> bytes:
    """The body of a PROBE or PROBE_ACK: u64 probe id (spec §23.3)."""
    return _U64.pack(probe_id)


def probe_id(body: bytes) -> int:
    """The probe id of a PROBE or PROBE_ACK body (spec §23.3)."""
    value: int = _U64.unpack(body)[0]
    return value


@dataclass(frozen=True, slots=True)
class DatagramGrant:
    """What DATAGRAM_ACCEPT carries: the relay's UDP port, the token, the link key (spec §23.2)."""

    port: int
    token: bytes
    link_key: bytes

    def encode(self) -> bytes:
        """``u16(port) || token (8) || link_key (32)`` (spec §23.2)."""
        if len(self.token) != TOKEN_LEN or len(self.link_key) != KEY_LEN:
            raise LocalProtocolError("bad datagram grant")
        if not 1 <= self.port <= 0xFFFF:
            raise LocalProtocolError("bad datagram port")
        return struct.pack(">H", self.port) + self.token + self.link_key

    @classmethod
    def decode(cls, payload: bytes) -> DatagramGrant:
        """Parse a 42-byte DATAGRAM_ACCEPT payload (spec §23.2); MALFORMED otherwise."""
        if len(payload) != 2 + TOKEN_LEN + KEY_LEN:
            raise RemoteProtocolError("DATAGRAM_ACCEPT payload must be 42 bytes")
        port = struct.unpack_from(">H", payload)[0]
        if port == 0:
            raise RemoteProtocolError("DATAGRAM_ACCEPT port must not be 0")
        return cls(port, payload[2:10], payload[10:42])
