"""Invite links and the keys derived from a room secret (spec §6).

A link looks like ``hushroom://relay.example.org:7443/#<code>``, or with up to
four relay addresses sharing one pin, in order of preference,
``hushroom://a.example.org:7443,b.example.org:7443/#<code>``.  The ``<code>``
(the URL fragment, which never leaves the device) is lowercase unpadded
base32 (RFC 4648) of ``payload || checksum``::

    payload  = canonical([1, room_secret(32), relay_pin(32), founder_identity(32)])
             | canonical([2, room_secret(32), relay_pin(32), founder_identity(32), room_id(32)])
    checksum = SHA-256(labelled("hushroom v1 invite checksum",
                                u8(len(authorities)) || authorities || payload))[0:4]

where ``authorities`` is the link's normalised ``host:port`` list joined with
``,`` (one address: just its authority), so a typo in a host, a port or the
code gives ``ErrorCode.CHECKSUM``.  Version 2 is a
*rotated* invite (spec §13.7): a new room secret for an existing room, whose
room id can no longer be derived from it and so is carried.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from e2ee import canonical, kdf
from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

SCHEME = "hushroom://"
INVITE_VERSION = 1
ROTATED_INVITE_VERSION = 2
CHECKSUM_LEN = 4
ROOM_SECRET_LEN = 32
RELAY_PIN_LEN = 32
ROOM_TAG_LEN = 16
ADMISSION_KEY_LEN = 32
ROOM_ID_LEN = 32
MAX_LINK_LEN = 600
MAX_AUTHORITY_LEN = 255
MAX_RELAYS = 4
MAX_AUTHORITY_LIST_LEN = 255

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _bad(message: str, code: ErrorCode = ErrorCode.MALFORMED) -> RemoteProtocolError:
    return RemoteProtocolError(message, code)


def normalise_host(host: str) -> str:
    """Validate and normalise a relay host (spec §6.2); returns it without brackets.

    Accepts an ASCII DNS name (lower-cased), a dotted IPv4 address, or an IPv6
    address (RFC 5952 compressed form; an IPv4-mapped address as ``::ffff:a.b.c.d``,
    RFC 5952 §5).  Raises RemoteProtocolError(MALFORMED) otherwise.
    """
    if not host:
        raise _bad("the invite has no relay host")
    if not host.isascii():
        raise _bad(
            "internationalised host names are not supported; use the ASCII (xn--) form of the name"
        )
    if ":" in host:
        if "%" in host:
            raise _bad("IPv6 zone identifiers (%...) are not allowed in an invite")
        try:
            addr6 = ipaddress.IPv6Address(host)
        except ValueError:
            raise _bad("the relay host is not a valid IPv6 address") from None
        if addr6.ipv4_mapped is not None:
            return f"::ffff:{addr6.ipv4_mapped}"
        return addr6.compressed
    host = host.lower()
    labels = host.split(".")
    if all(label.isdigit() for label in labels):
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise _bad("the relay host is not a valid IPv4 address") from None
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise _bad("the relay host is not a valid host name (letters, digits, '-' and '.')")
    if labels[-1].isdigit():
        raise _bad("the relay host is not a valid host name")
    return host


def authority(host: str, port: int) -> str:
    """``host:port`` with IPv6 hosts in brackets, after normalisation (spec §6.2)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise _bad("the relay port must be 1..65535")
    host = normalise_host(host)
    auth = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if len(auth) > MAX_AUTHORITY_LEN:
        # the checksum input carries u8(len(authority)) (spec §6.1)
        raise _bad("the relay address is too long")
    return auth


def _split_authority(text: str) -> tuple[str, int]:
    if "@" in text:
        raise _bad("the invite link must not contain user information ('@')")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise _bad("unterminated '[' in the relay address")
        host, rest = text[1:end], text[end + 1 :]
        if not rest.startswith(":"):
            raise _bad("the invite link has no relay port")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise _bad("the invite link has no relay port")
        if ":" in host:
            raise _bad("IPv6 relay addresses must be written in brackets: [addr]:port")
    if not port_text.isascii() or not port_text.isdigit() or port_text != str(int(port_text)):
        raise _bad("the relay port is not a number")
    return normalise_host(host), int(port_text)


def authority_list(relays: tuple[tuple[str, int], ...]) -> str:
    """The normalised authorities joined with ``,``, bounds checked (spec §6.2)."""
    if not 1 <= len(relays) <= MAX_RELAYS:
        raise _bad(f"an invite names 1 to {MAX_RELAYS} relay addresses")
    auths = [authority(host, port) for host, port in relays]
    if len(set(auths)) != len(auths):
        raise _bad("the invite names the same relay address twice")
    joined = ",".join(auths)
    if len(joined) > MAX_AUTHORITY_LIST_LEN:
        # the checksum input carries u8(len(authorities)) (spec §6.1)
        raise _bad("the relay addresses are too long together")
    return joined


def _checksum(auth: str, payload: bytes) -> bytes:
    data = bytes((len(auth),)) + auth.encode("ascii") + payload
    return hashlib.sha256(kdf.labelled(kdf.INVITE_CHECKSUM, data)).digest()[:CHECKSUM_LEN]


@dataclass(frozen=True)
class Invite:
    """The contents of an invite link (spec §6.1).

    ``host``/``port`` is the preferred relay address; ``alternates`` are the
    further addresses of the same pinned relay, in order of preference (§6.2).
    """

    host: str
    port: int
    room_secret: bytes
    relay_pin: bytes
    founder_identity: bytes
    room_id: bytes | None = None  # set in a rotated invite only (spec §13.7)
    alternates: tuple[tuple[str, int], ...] = ()

    @property
    def relays(self) -> tuple[tuple[str, int], ...]:
        """Every relay address of the invite, the preferred one first (spec §6.2)."""
        return ((self.host, self.port), *self.alternates)

    @classmethod
    def create(
        cls,
        host: str,
        port: int,
        relay_pin: bytes,
        founder_identity: bytes,
        rng: Callable[[int], bytes],
        alternates: tuple[tuple[str, int], ...] = (),
    ) -> Invite:
        """A new room: a fresh 32-byte room secret from ``rng`` (spec §6.1).

        ``alternates`` are further addresses of the same relay key (§6.2).
        """
        secret = rng(ROOM_SECRET_LEN)
        if len(secret) != ROOM_SECRET_LEN:
            raise LocalProtocolError("rng must return 32 bytes")
        return cls(host, port, secret, relay_pin, founder_identity, None, alternates)

    def rotated(self, room_secret: bytes) -> Invite:
        """The invite of this room under a new room secret (spec §13.7): same room id."""
        return Invite(
            self.host,
            self.port,
            room_secret,
            self.relay_pin,
            self.founder_identity,
            self.secrets().room_id,
            self.alternates,
        )

    def payload(self) -> bytes:
        """canonical([1, room_secret, relay_pin, founder_identity] (+ [room_id], v2)) (§6.1)."""
        fields: list[bytes] = [self.room_secret, self.relay_pin, self.founder_identity]
        if self.room_id is not None:
            fields.append(self.room_id)
        names = ("room secret", "relay pin", "founder identity", "room id")
        for name, value in zip(names, fields, strict=False):
            if len(value) != 32:
                raise LocalProtocolError(f"the {name} is 32 bytes")
        version = INVITE_VERSION if self.room_id is None else ROTATED_INVITE_VERSION
        return canonical.encode([version, *fields])

    def to_link(self) -> str:
        """Encode as ``hushroom://host:port[,host:port...]/#code`` (spec §6.1)."""
        try:
            auth = authority_list(self.relays)
        except RemoteProtocolError as exc:
            raise LocalProtocolError(str(exc)) from None
        payload = self.payload()
        code = base64.b32encode(payload + _checksum(auth, payload)).decode("ascii")
        return f"{SCHEME}{auth}/#{code.rstrip('=').lower()}"

    @classmethod
    def from_link(cls, link: str) -> Invite:
        """Parse and check an invite link (spec §6.3).  Raises RemoteProtocolError.

        ``CHECKSUM`` means the link was mistyped or truncated.
        """
        if not isinstance(link, str) or len(link) > MAX_LINK_LEN:
            raise _bad("that is not a Hushroom invite link", ErrorCode.TOO_LARGE)
        link = link.strip()
        if link[: len(SCHEME)].lower() != SCHEME:
            raise _bad("an invite link starts with hushroom://")
        rest = link[len(SCHEME) :]
        head, sep, code = rest.partition("#")
        if not sep or not code:
            raise _bad("the invite link has no '#' code part; was it cut off?", ErrorCode.CHECKSUM)
        if head.endswith("/"):
            head = head[:-1]
        if "/" in head or "?" in head:
            raise _bad("the invite link has an unexpected path or query")
        parts = head.split(",", MAX_RELAYS)
        if len(parts) > MAX_RELAYS:
            raise _bad(f"an invite names 1 to {MAX_RELAYS} relay addresses")
        if "" in parts:
            raise _bad("the invite link has an empty relay address (',,' or a trailing ',')")
        relays = tuple(_split_authority(part) for part in parts)
        auth = authority_list(relays)
        code = code.strip()
        if not code.isascii() or not code.isalnum():
            raise _bad("the invite code is mistyped (invalid character)", ErrorCode.CHECKSUM)
        try:
            raw = base64.b32decode(code.upper() + "=" * (-len(code) % 8))
        except (binascii.Error, ValueError):
            raise _bad("the invite code is mistyped or truncated", ErrorCode.CHECKSUM) from None
        if base64.b32encode(raw).decode("ascii").rstrip("=") != code.upper():
            # unused trailing bits set, or a length no encoder produces
            raise _bad("the invite code is mistyped or truncated", ErrorCode.CHECKSUM)
        payload, check = raw[:-CHECKSUM_LEN], raw[-CHECKSUM_LEN:]
        if len(raw) <= CHECKSUM_LEN or _checksum(auth, payload) != check:
            raise _bad("the invite link is mistyped or truncated (checksum)", ErrorCode.CHECKSUM)
        fields = canonical.decode(payload)
        if not isinstance(fields, list) or not fields:
            raise _bad("the invite payload is malformed")
        rotated = fields[0] == ROTATED_INVITE_VERSION and not isinstance(fields[0], bool)
        if not rotated:
            canonical.expect_version(fields[0], "invite", INVITE_VERSION)
        if len(fields) != (5 if rotated else 4):
            raise _bad("the invite payload is malformed")
        (host, port), *alternates = relays
        return cls(
            host,
            port,
            canonical.expect_bytes(fields[1], "room secret", ROOM_SECRET_LEN),
            canonical.expect_bytes(fields[2], "relay pin", RELAY_PIN_LEN),
            canonical.expect_bytes(fields[3], "founder identity", 32),
            canonical.expect_bytes(fields[4], "room id", ROOM_ID_LEN) if rotated else None,
            tuple(alternates),
        )

    def secrets(self) -> RoomSecrets:
        """The keys derived from this invite's room secret (spec §6.4).

        A rotated invite's room id is the one it carries (spec §13.7).
        """
        derived = RoomSecrets.derive(self.room_secret, self.founder_identity)
        if self.room_id is None:
            return derived
        return RoomSecrets(derived.room_tag, derived.admission_key, self.room_id)

    def __repr__(self) -> str:
        return f"Invite(relays={self.relays!r}, <secrets>)"


@dataclass(frozen=True)
class RoomSecrets:
    """Keys derived from the room secret (spec §6.4).

    * ``room_tag`` (16 bytes): the only room identifier the relay sees.
    * ``admission_key`` (32 bytes): proves knowledge of the invite (spec §13).
    * ``room_id`` (32 bytes): bound into AEAD associated data and signatures;
      binds the founder's identity key.
    """

    room_tag: bytes
    admission_key: bytes
    room_id: bytes

    @classmethod
    def derive(cls, room_secret: bytes, founder_identity: bytes) -> RoomSecrets:
        """room_tag, admission_key, room_id from labelled HKDF (spec §6.4)."""
        if len(room_secret) != ROOM_SECRET_LEN or len(founder_identity) != 32:
            raise LocalProtocolError("room secret and founder identity are 32 bytes")
        return cls(
            room_tag=kdf.hkdf(kdf.ROOM_TAG, room_secret, ROOM_TAG_LEN),
            admission_key=kdf.hkdf(kdf.ADMISSION_KEY, room_secret, ADMISSION_KEY_LEN),
            room_id=kdf.hkdf(kdf.ROOM_ID, room_secret, ROOM_ID_LEN, context=founder_identity),
        )

    def __repr__(self) -> str:
        return "RoomSecrets(<secret>)"
