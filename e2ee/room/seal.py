"""The three E2EE envelopes of room payloads (spec §14.1).

Every CONTROL and UNICAST payload of the room protocol starts with a one-byte
*kind* (:class:`Kind`) and is sealed with XChaCha20-Poly1305 (spec §3.2) under
one of three keys:

* the admission key (JOIN_REQUEST: knock, offer, request, spec §13.3; and BEACON):
  ``kind | nonce24 | ct``;
* the epoch control key ``C_e`` (COMMIT, CONTROL): ``kind | epoch u32 | nonce24 | ct``;
* a pairwise channel between two members (PAIRWISE, spec §9): ``kind | channel_id 8 | message``;
* an ephemeral X25519 seal to a session key (SEALED, WELCOME_CHUNK reassembled):
  ``kind | eph_pub 32 | nonce24 | ct``.

The associated data is always ``kind || room_id || <the cleartext header fields>``,
so a payload cannot be moved between kinds, rooms or epochs.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from enum import IntEnum

from e2ee import kdf, xchacha
from e2ee.errors import DecryptionFailed, ErrorCode, RemoteProtocolError
from e2ee.identity import SessionKey
from e2ee.pairwise import PairwiseChannel
from e2ee.room import labels

Rng = Callable[[int], bytes]
NONCE_LEN = 24
CHANNEL_ID_LEN = 8
_U32 = struct.Struct(">I")


class Kind(IntEnum):
    """First byte of every room CONTROL/UNICAST payload (spec §14.1)."""

    JOIN_REQUEST = 1
    COMMIT = 2
    CONTROL = 3
    PAIRWISE = 4
    SEALED = 5
    SEALED_CHUNK = 6
    BEACON = 7


def _kind(data: bytes) -> Kind:
    if not data:
        raise RemoteProtocolError("empty room payload", ErrorCode.MALFORMED)
    try:
        return Kind(data[0])
    except ValueError:
        raise RemoteProtocolError("unknown room payload kind", ErrorCode.UNKNOWN_TYPE) from None


def peek_kind(data: bytes) -> Kind:
    """The payload's kind byte (spec §14.1)."""
    return _kind(data)


# -- admission key (spec §13.1) --------------------------------------------


def seal_admission(
    admission_key: bytes,
    room_id: bytes,
    plaintext: bytes,
    rng: Rng,
    kind: Kind = Kind.JOIN_REQUEST,
) -> bytes:
    """``kind | nonce | XChaCha(admission_key, nonce, pt, aad = kind || room_id)`` (spec §13.1).

    Used for admission messages (0x01, spec §13.3) and for head BEACONs (0x07, spec §16.2).
    """
    nonce = rng(NONCE_LEN)
    head = bytes((kind,))
    return head + nonce + xchacha.encrypt(admission_key, nonce, plaintext, head + room_id)


def open_admission(
    admission_key: bytes, room_id: bytes, payload: bytes, kind: Kind = Kind.JOIN_REQUEST
) -> bytes:
    """Inverse of :func:`seal_admission`; DecryptionFailed on any failure."""
    if len(payload) < 1 + NONCE_LEN + 16 or payload[0] != kind:
        raise DecryptionFailed()
    head = payload[:1]
    return xchacha.decrypt(admission_key, payload[1:25], payload[25:], head + room_id)


# -- epoch control key (spec §14.1) ----------------------------------------


def seal_epoch(kind: Kind, key: bytes, room_id: bytes, epoch: int, pt: bytes, rng: Rng) -> bytes:
    """``kind | epoch u32 | nonce | XChaCha(C_e, nonce, pt, aad = kind||room_id||epoch)``."""
    nonce = rng(NONCE_LEN)
    head = bytes((kind,)) + _U32.pack(epoch)
    return head + nonce + xchacha.encrypt(key, nonce, pt, head[:1] + room_id + head[1:])


def epoch_of(payload: bytes) -> int:
    """The cleartext epoch of a COMMIT or CONTROL payload (spec §14.1)."""
    if len(payload) < 5 + NONCE_LEN + 16:
        raise RemoteProtocolError("short room payload", ErrorCode.MALFORMED)
    epoch: int = _U32.unpack_from(payload, 1)[0]
    return epoch


def open_epoch(key: bytes, room_id: bytes, payload: bytes) -> bytes:
    """Inverse of :func:`seal_epoch`; DecryptionFailed on any failure."""
    if len(payload) < 5 + NONCE_LEN + 16:
        raise DecryptionFailed()
    return xchacha.decrypt(key, payload[5:29], payload[29:], payload[:1] + room_id + payload[1:5])


# -- pair keys (spec §15.3) ------------------------------------------------


class PairChannel:
    """A member's pairwise channel (spec §9) with a peer, plus its 8-byte channel id (spec §15.3).

    The channel itself is :class:`e2ee.pairwise.PairwiseChannel` (one X25519
    per pair, then per-direction hash ratchets).  On the wire a room PAIRWISE
    payload is ``0x04 | channel_id | pairwise message``, where
    ``channel_id = labelled_hash("hushroom v1 room pair channel id",
    room_id || low || high)[:8]`` and ``low``/``high`` are the two parties'
    ``identity || session_key`` sorted bytewise: an opaque handle that lets
    the receiver pick the channel without trying all of them.
    """

    __slots__ = ("_channel", "_prefix", "channel_id", "peer_id")

    def __init__(
        self, mine: SessionKey, my_id: bytes, peer_id: bytes, peer_session: bytes, room_id: bytes
    ) -> None:
        self._channel = PairwiseChannel(
            room_id=room_id,
            my_identity=my_id,
            my_session=mine,
            peer_identity=peer_id,
            peer_session=peer_session,
        )
        lo, hi = sorted((my_id + mine.public, peer_id + peer_session))
        self.channel_id = kdf.labelled_hash(labels.PAIR_CHANNEL_ID, room_id + lo + hi)[
            :CHANNEL_ID_LEN
        ]
        self._prefix = bytes((Kind.PAIRWISE,)) + self.channel_id
        self.peer_id = peer_id

    def seal(self, plaintext: bytes) -> bytes:
        """``0x04 | channel_id | PairwiseChannel.seal(plaintext)`` (spec §15.3)."""
        return self._prefix + self._channel.seal(plaintext)

    def open(self, payload: bytes) -> bytes:
        """Inverse of :meth:`seal`; DecryptedFailed / RemoteProtocolError (REPLAY, TOO_FAR)."""
        return self._channel.open(payload[1 + CHANNEL_ID_LEN :])


def channel_id_of(payload: bytes) -> bytes:
    """The cleartext channel id of a PAIRWISE payload (spec §15.3)."""
    if len(payload) < 1 + CHANNEL_ID_LEN + 16:
        raise RemoteProtocolError("short pairwise payload", ErrorCode.MALFORMED)
    return payload[1 : 1 + CHANNEL_ID_LEN]


# -- ephemeral seal to a session key (spec §13.1) --------------------------


def _seal_key(shared: bytes, eph: bytes, recipient: bytes) -> bytes:
    return kdf.hkdf(labels.SEAL_KEY, shared, 32, context=eph + recipient)


def seal_to(recipient_session: bytes, room_id: bytes, plaintext: bytes, rng: Rng) -> bytes:
    """``0x05 | eph_pub | nonce | XChaCha(k, nonce, pt, aad = 0x05||room_id||eph||recipient)``.

    ``k = HKDF("hushroom v1 room seal key", X25519(eph, recipient), ctx = eph || recipient)``.
    """
    eph = SessionKey.generate(rng)
    key = _seal_key(eph.exchange(recipient_session), eph.public, recipient_session)
    nonce = rng(NONCE_LEN)
    head = bytes((Kind.SEALED,)) + eph.public
    aad = head[:1] + room_id + eph.public + recipient_session
    return head + nonce + xchacha.encrypt(key, nonce, plaintext, aad)


def open_sealed(mine: SessionKey, room_id: bytes, payload: bytes) -> bytes:
    """Inverse of :func:`seal_to`; DecryptionFailed on any failure."""
    if len(payload) < 33 + NONCE_LEN + 16 or payload[0] != Kind.SEALED:
        raise DecryptionFailed()
    eph = payload[1:33]
    try:
        shared = mine.exchange(eph)
    except RemoteProtocolError:
        raise DecryptionFailed() from None
    key = _seal_key(shared, eph, mine.public)
    aad = payload[:1] + room_id + eph + mine.public
    return xchacha.decrypt(key, payload[33:57], payload[57:], aad)


# -- chunking of large sealed payloads (spec §13.1) ------------------------

CHUNK_DATA = 60_000
_CHUNK_HEAD = struct.Struct(">B8sHH")


def split_chunks(sealed: bytes, transfer_id: bytes) -> list[bytes]:
    """``0x06 | transfer_id 8 | index u16 | count u16 | data`` pieces of a SEALED payload."""
    pieces = [sealed[i : i + CHUNK_DATA] for i in range(0, len(sealed), CHUNK_DATA)]
    count = len(pieces)
    return [
        _CHUNK_HEAD.pack(Kind.SEALED_CHUNK, transfer_id, i, count) + p for i, p in enumerate(pieces)
    ]


def parse_chunk(payload: bytes) -> tuple[bytes, int, int, bytes]:
    """(transfer_id, index, count, data) of a SEALED_CHUNK payload (spec §13.1)."""
    if len(payload) < _CHUNK_HEAD.size + 1:
        raise RemoteProtocolError("short chunk", ErrorCode.MALFORMED)
    _, tid, index, count = _CHUNK_HEAD.unpack_from(payload)
    if not 0 <= index < count or count > 64:
        raise RemoteProtocolError("bad chunk index", ErrorCode.MALFORMED)
    return tid, index, count, payload[_CHUNK_HEAD.size :]
