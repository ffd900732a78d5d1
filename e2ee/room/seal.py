"""Room payloads as the relay sees them: opaque, padded, keyed by a hint (spec §13.1).

Every CONTROL and UNICAST payload of the room protocol (version 2) is one of
two shapes, each 32 bytes and then a ciphertext:

* keyed: ``hint 8 | nonce 24 | XChaCha(k, nonce, pad(kind || body), aad)`` with
  ``hint = labelled_hash("hushroom v1 room payload hint", k || nonce)[:8]``
  and ``aad = 0x02 || room_id || hint || extra``.  ``k`` is the admission key
  (JOIN_REQUEST, BEACON, SEALED_CHUNK; ``extra`` empty), the epoch control key
  ``C_e`` (COMMIT, CONTROL; ``extra = epoch u32``) or a pairwise channel's wrap
  key (PAIRWISE; ``extra`` empty);
* sealed to a session key (SEALED): ``eph_pub 32 | XChaCha(k, n, pad(0x05 || body), aad)``
  with ``k || n = HKDF("hushroom v1 room seal key", X25519(eph, recipient), 56,
  ctx = eph || recipient)`` and ``aad = 0x02 || room_id || eph || recipient``.

The *kind* (:class:`Kind`) travels inside the ciphertext; the hint is fresh
for every payload (the nonce is random), so the relay sees no kind, epoch,
channel or counter, only the padded size (:func:`padded_len`).  A receiver
finds the key by computing the hint under each key it holds (spec §13.1,
bounded in §16.7) and decrypts only on a match.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from enum import IntEnum

from e2ee import kdf, xchacha
from e2ee.errors import DecryptionFailed, ErrorCode, RemoteProtocolError
from e2ee.identity import SessionKey
from e2ee.pairwise import PairwiseChannel
from e2ee.room import labels

Rng = Callable[[int], bytes]
PAYLOAD_VERSION = 2
NONCE_LEN = 24
HINT_LEN = 8
HEAD_LEN = HINT_LEN + NONCE_LEN  # == the ephemeral key of a SEALED payload
TAG_LEN = 16
MIN_PADDED = 256
LARGE_STEP = 65_536
BEACON_MAC_LEN = 32
_U32 = struct.Struct(">I")
_VERSION = bytes((PAYLOAD_VERSION,))
_sha256 = hashlib.sha256


class Kind(IntEnum):
    """First byte of every room payload's plaintext (spec §13.1)."""

    JOIN_REQUEST = 1
    COMMIT = 2
    CONTROL = 3
    PAIRWISE = 4
    SEALED = 5
    SEALED_CHUNK = 6
    BEACON = 7


# -- padding (spec §13.1) --------------------------------------------------


def padded_len(length: int) -> int:
    """The padded size of ``length`` plaintext bytes: the smallest power of two >= 256
    that holds ``length + 1``, or beyond 65,536 the next multiple of 65,536."""
    if length < MIN_PADDED:
        return MIN_PADDED
    if length < LARGE_STEP:
        return 1 << length.bit_length()  # the smallest power of two > length
    return -(-(length + 1) // LARGE_STEP) * LARGE_STEP


#: The padded sizes up to 65,536: the powers of two from 256 (:func:`padded_len`).
_SMALL_PADDED = frozenset(MIN_PADDED << i for i in range((LARGE_STEP // MIN_PADDED).bit_length()))


def is_payload_len(length: int) -> bool:
    """Whether a room payload can be ``length`` bytes: 32 + a padded size + 16 (spec §13.1)."""
    padded = length - HEAD_LEN - TAG_LEN
    return padded in _SMALL_PADDED or (padded > LARGE_STEP and not padded % LARGE_STEP)


def _pad(kind: Kind, body: bytes) -> bytes:
    data = bytes((kind,)) + body
    return data + b"\x80" + bytes(padded_len(len(data)) - len(data) - 1)


_KINDS = {int(kind): kind for kind in Kind}


def _unpad(padded: bytes) -> tuple[Kind, bytes]:
    stripped = padded.rstrip(b"\x00")
    n = len(stripped) - 1  # kind || body, then the 0x80 marker
    if n < 1 or stripped[n] != 0x80 or len(padded) != padded_len(n):
        raise RemoteProtocolError("bad room payload padding", ErrorCode.MALFORMED)
    kind = _KINDS.get(stripped[0])
    if kind is None:
        raise RemoteProtocolError("unknown room payload kind", ErrorCode.UNKNOWN_TYPE)
    return kind, stripped[1:n]


# -- keyed payloads (spec §13.1) --------------------------------------------


_HINT_PREFIX = kdf.labelled(labels.PAYLOAD_HINT)
#: The shortest room payload: a head, the smallest padded size, a tag (spec §13.1).
MIN_PAYLOAD = HEAD_LEN + MIN_PADDED + TAG_LEN


def hint(key: bytes, nonce: bytes) -> bytes:
    """``labelled_hash("hushroom v1 room payload hint", key || nonce)[:8]`` (spec §13.1).

    The labelled hash written out: one SHA-256 over the label's prefix, kept.
    """
    return _sha256(_HINT_PREFIX + key + nonce).digest()[:HINT_LEN]


def hint_matches(key: bytes, payload: bytes) -> bool:
    """Whether ``payload`` carries the hint of ``key``: one hash, no decryption."""
    if len(payload) < MIN_PAYLOAD:
        return False
    return hint(key, payload[HINT_LEN:HEAD_LEN]) == payload[:HINT_LEN]


def seal_keyed(
    key: bytes, room_id: bytes, kind: Kind, body: bytes, rng: Rng, extra: bytes = b""
) -> bytes:
    """``hint | nonce | XChaCha(key, nonce, pad(kind || body), 0x02||room_id||hint||extra)``."""
    nonce = rng(NONCE_LEN)
    tag = hint(key, nonce)
    aad = _VERSION + room_id + tag + extra
    return tag + nonce + xchacha.encrypt(key, nonce, _pad(kind, body), aad)


def open_keyed(
    key: bytes, room_id: bytes, payload: bytes, extra: bytes = b""
) -> tuple[Kind, bytes]:
    """Inverse of :func:`seal_keyed`; DecryptionFailed unless the tag verifies.

    The caller found ``key`` by the payload's hint (:func:`hint_matches`); the
    hint is not computed again here: it is in the associated data, so a
    payload whose hint is not ``key``'s fails the tag.
    """
    if len(payload) < MIN_PAYLOAD:
        raise DecryptionFailed()
    aad = _VERSION + room_id + payload[:HINT_LEN] + extra
    return _unpad(xchacha.decrypt(key, payload[HINT_LEN:HEAD_LEN], payload[HEAD_LEN:], aad))


def _expect(kind: Kind, opened: tuple[Kind, bytes]) -> bytes:
    if opened[0] is not kind:
        raise RemoteProtocolError("unexpected room payload kind", ErrorCode.MALFORMED)
    return opened[1]


# -- admission key (spec §13.1) --------------------------------------------


def seal_admission(
    admission_key: bytes,
    room_id: bytes,
    plaintext: bytes,
    rng: Rng,
    kind: Kind = Kind.JOIN_REQUEST,
) -> bytes:
    """A keyed payload under the admission key (spec §13.1).

    Used for admission messages (0x01, spec §13.3), head BEACONs (0x07, spec
    §16.2) and the pieces of a chunked SEALED payload (0x06, spec §13.1).
    """
    return seal_keyed(admission_key, room_id, kind, plaintext, rng)


def open_admission(
    admission_key: bytes, room_id: bytes, payload: bytes, kind: Kind = Kind.JOIN_REQUEST
) -> bytes:
    """Inverse of :func:`seal_admission` for one expected ``kind``."""
    return _expect(kind, open_keyed(admission_key, room_id, payload))


def beacon_mac(epoch_key: bytes, room_id: bytes, beacon: bytes) -> bytes:
    """``HMAC-SHA512(HKDF("hushroom v1 room beacon key", K_e, ctx = room_id), beacon)[:32]``.

    Appended to a BEACON's body: it proves the author holds the key of the
    epoch the beacon names (spec §16.2).
    """
    key = kdf.hkdf(labels.BEACON_KEY, epoch_key, 32, context=room_id)
    return kdf.hmac_sha512(key, beacon)[:BEACON_MAC_LEN]


# -- epoch control key (spec §13.1) ----------------------------------------


def seal_epoch(kind: Kind, key: bytes, room_id: bytes, epoch: int, pt: bytes, rng: Rng) -> bytes:
    """A keyed payload under ``C_e``; the epoch is in the associated data only."""
    return seal_keyed(key, room_id, kind, pt, rng, _U32.pack(epoch))


def open_epoch(key: bytes, room_id: bytes, epoch: int, payload: bytes) -> tuple[Kind, bytes]:
    """Inverse of :func:`seal_epoch`: (COMMIT or CONTROL, body); DecryptionFailed on any failure."""
    kind, body = open_keyed(key, room_id, payload, _U32.pack(epoch))
    if kind not in (Kind.COMMIT, Kind.CONTROL):
        raise RemoteProtocolError("unexpected epoch payload kind", ErrorCode.MALFORMED)
    return kind, body


# -- pair keys (spec §15.3) ------------------------------------------------


class PairChannel:
    """A member's pairwise channel (spec §9) with a peer, wrapped as a keyed payload (spec §15.3).

    The channel itself is :class:`e2ee.pairwise.PairwiseChannel` (one X25519
    per pair, then per-direction hash ratchets).  On the wire a room PAIRWISE
    payload is a keyed payload (kind 0x04) under the channel's *wrap key*
    ``w = HKDF("hushroom v1 room pair wrap key", root, ctx = "")`` whose body is
    the pairwise message, so neither a channel id nor the message counter is
    visible to the relay.
    """

    __slots__ = ("_channel", "_room_id", "key", "peer_id")

    def __init__(
        self, mine: SessionKey, my_id: bytes, peer_id: bytes, peer_session: bytes, room_id: bytes
    ) -> None:
        self._channel = PairwiseChannel(
            room_id=room_id,
            my_identity=my_id,
            my_session=mine,
            peer_identity=peer_id,
            peer_session=peer_session,
            wrap_label=labels.PAIR_WRAP_KEY,
        )
        self.key = self._channel.wrap_key
        self._room_id = room_id
        self.peer_id = peer_id

    def seal(self, plaintext: bytes, rng: Rng) -> bytes:
        """A keyed PAIRWISE payload whose body is ``PairwiseChannel.seal(plaintext)``."""
        return seal_keyed(
            self.key, self._room_id, Kind.PAIRWISE, self._channel.seal(plaintext), rng
        )

    def open(self, payload: bytes) -> bytes:
        """Inverse of :meth:`seal`; DecryptionFailed / RemoteProtocolError (REPLAY, TOO_FAR)."""
        return self._channel.open(
            _expect(Kind.PAIRWISE, open_keyed(self.key, self._room_id, payload))
        )


# -- ephemeral seal to a session key (spec §13.1) --------------------------


def _seal_key(shared: bytes, eph: bytes, recipient: bytes) -> tuple[bytes, bytes]:
    out = kdf.hkdf(labels.SEAL_KEY, shared, 32 + NONCE_LEN, context=eph + recipient)
    return out[:32], out[32:]


def seal_to(recipient_session: bytes, room_id: bytes, plaintext: bytes, rng: Rng) -> bytes:
    """``eph_pub | XChaCha(k, n, pad(0x05 || pt), aad = 0x02 || room_id || eph || recipient)``."""
    eph = SessionKey.generate(rng)
    key, nonce = _seal_key(eph.exchange(recipient_session), eph.public, recipient_session)
    aad = _VERSION + room_id + eph.public + recipient_session
    return eph.public + xchacha.encrypt(key, nonce, _pad(Kind.SEALED, plaintext), aad)


def open_sealed(mine: SessionKey, room_id: bytes, payload: bytes) -> bytes:
    """Inverse of :func:`seal_to`; DecryptionFailed on any failure."""
    if len(payload) < HEAD_LEN + MIN_PADDED + TAG_LEN:
        raise DecryptionFailed()
    eph = payload[:HEAD_LEN]
    try:
        shared = mine.exchange(eph)
    except RemoteProtocolError:
        raise DecryptionFailed() from None
    key, nonce = _seal_key(shared, eph, mine.public)
    aad = _VERSION + room_id + eph + mine.public
    return _expect(Kind.SEALED, _unpad(xchacha.decrypt(key, nonce, payload[HEAD_LEN:], aad)))


# -- chunking of large sealed payloads (spec §13.1) ------------------------

CHUNK_DATA = 60_000
_CHUNK_HEAD = struct.Struct(">8sHH")


def split_chunks(sealed: bytes, transfer_id: bytes) -> list[bytes]:
    """``transfer_id 8 | index u16 | count u16 | data`` bodies of SEALED_CHUNK payloads."""
    pieces = [sealed[i : i + CHUNK_DATA] for i in range(0, len(sealed), CHUNK_DATA)]
    count = len(pieces)
    return [_CHUNK_HEAD.pack(transfer_id, i, count) + p for i, p in enumerate(pieces)]


def parse_chunk(body: bytes) -> tuple[bytes, int, int, bytes]:
    """(transfer_id, index, count, data) of a SEALED_CHUNK body (spec §13.1)."""
    if len(body) < _CHUNK_HEAD.size + 1:
        raise RemoteProtocolError("short chunk", ErrorCode.MALFORMED)
    tid, index, count = _CHUNK_HEAD.unpack_from(body)
    if not 0 <= index < count or count > 64:
        raise RemoteProtocolError("bad chunk index", ErrorCode.MALFORMED)
    return tid, index, count, body[_CHUNK_HEAD.size :]
