"""Pairwise channels between two members (spec §9).

One X25519 per pair, then two symmetric hash ratchets (one per direction).
Each message key is used once, for XChaCha20-Poly1305 whose associated data
binds the room, both identities, both session keys, the direction and the
message counter.  Receivers reject replays, bound how far a counter may jump
and keep at most a bounded number of skipped message keys.

Per message the cost is one HMAC-SHA512 (the ratchet step yields the next
chain key and the message key) and one XChaCha20-Poly1305 call.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from typing import cast

from e2ee import canonical, kdf, xchacha
from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from e2ee.identity import SessionKey

MESSAGE_VERSION = 1
MAX_COUNTER = 2**32 - 1
DEFAULT_MAX_SKIP = 1000
DEFAULT_MAX_STORED_SKIPPED = 2000
_STEP_INPUT = b"\x01"
_ZERO_PREFIX = bytes(16)
_U64 = struct.Struct(">Q")


def ratchet_step(chain_key: bytes) -> tuple[bytes, bytes]:
    """(message_key, next_chain_key) from one HMAC-SHA512(ck, 0x01) (spec §9.3).

    ``next_chain_key`` is output bytes 0..31, ``message_key`` bytes 32..63.
    """
    out = kdf.hmac_sha512(chain_key, _STEP_INPUT)
    return out[32:], out[:32]


def _nonce(counter: int) -> bytes:
    return _ZERO_PREFIX + _U64.pack(counter)


def _seal(message_key: bytes, counter: int, plaintext: bytes, aad: bytes) -> bytes:
    return xchacha.encrypt(message_key, _nonce(counter), plaintext, aad)


def _open(message_key: bytes, counter: int, ciphertext: bytes, aad: bytes) -> bytes:
    return xchacha.decrypt(message_key, _nonce(counter), ciphertext, aad)


_MESSAGE = (int, int, bytes)
_MAX_CIPHERTEXT = 1 << 24


def _fields(message: bytes) -> tuple[int, bytes]:
    """``(n, ciphertext)`` of the canonical ``[1, n, ciphertext||tag]`` (spec §9.4).

    One test of the decoded fields (:func:`e2ee.canonical.decode_fields`);
    anything else goes through the field checks one by one, for its error.
    """
    fields = canonical.decode_fields(message, _MESSAGE)
    if fields is not None:
        version, n, ct = cast("tuple[int, int, bytes]", fields)
        if version == MESSAGE_VERSION and 0 <= n <= MAX_COUNTER and len(ct) <= _MAX_CIPHERTEXT:
            return n, ct
    fields = canonical.decode_array(message, 3, "pairwise message")
    canonical.expect_version(fields[0], "pairwise message", MESSAGE_VERSION)
    n = canonical.expect_int(fields[1], "counter", 0, MAX_COUNTER)
    return n, canonical.expect_bytes(fields[2], "ciphertext", max_len=_MAX_CIPHERTEXT)


class PairwiseChannel:
    """Both directions of one pair's channel, held by one of the two parties (spec §9).

    ``seal(plaintext) -> bytes`` and ``open(message) -> bytes``.  Not thread-safe.
    """

    def __init__(
        self,
        *,
        room_id: bytes,
        my_identity: bytes,
        my_session: SessionKey,
        peer_identity: bytes,
        peer_session: bytes,
        max_skip: int = DEFAULT_MAX_SKIP,
        max_stored_skipped: int = DEFAULT_MAX_STORED_SKIPPED,
        wrap_label: bytes | None = None,
    ) -> None:
        """Derive the channel (spec §9.2).  RemoteProtocolError if the peer key is bad.

        With ``wrap_label``, :attr:`wrap_key` is ``HKDF(wrap_label, root)``: a key
        for an outer layer a protocol puts around the channel's messages.
        """
        for name, value in (
            ("room id", room_id),
            ("my identity", my_identity),
            ("peer identity", peer_identity),
            ("peer session key", peer_session),
        ):
            if len(value) != 32:
                raise LocalProtocolError(f"{name} must be 32 bytes")
        me = my_identity + my_session.public
        peer = peer_identity + peer_session
        if me == peer:
            raise LocalProtocolError("a channel needs two different parties")
        shared = my_session.exchange(peer_session)
        low, high = (me, peer) if me < peer else (peer, me)
        root = kdf.hkdf(kdf.PAIRWISE_ROOT, shared, 32, salt=room_id, context=low + high)
        self.wrap_key = b"" if wrap_label is None else kdf.hkdf(wrap_label, root, 32)
        chain_low_to_high = kdf.hkdf(kdf.PAIRWISE_CHAIN, root, 32, context=b"\x00")
        chain_high_to_low = kdf.hkdf(kdf.PAIRWISE_CHAIN, root, 32, context=b"\x01")
        i_am_low = me == low
        self._send_chain = chain_low_to_high if i_am_low else chain_high_to_low
        self._recv_chain = chain_high_to_low if i_am_low else chain_low_to_high
        self._send_aad = kdf.labelled(kdf.PAIRWISE_AAD, room_id + me + peer)
        self._recv_aad = kdf.labelled(kdf.PAIRWISE_AAD, room_id + peer + me)
        self._send_n = 0
        self._recv_n = 0
        self._skipped: OrderedDict[int, bytes] = OrderedDict()
        self._max_skip = max_skip
        self._max_stored = max_stored_skipped

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt one message: canonical([1, n, ciphertext||tag]) (spec §9.4)."""
        n = self._send_n
        if n > MAX_COUNTER:
            raise LocalProtocolError("pairwise channel exhausted: establish a new one")
        mk, self._send_chain = ratchet_step(self._send_chain)
        self._send_n = n + 1
        ct = _seal(mk, n, plaintext, self._send_aad + _U64.pack(n))
        # an int in u32 and a byte string: msgpack's encoding is the canonical one
        out: bytes = canonical.pack([MESSAGE_VERSION, n, ct])
        return out

    def open(self, message: bytes) -> bytes:
        """Decrypt one message (spec §9.5).

        RemoteProtocolError(REPLAY) for a counter already used or forgotten,
        (TOO_FAR) beyond ``max_skip``; DecryptionFailed if it does not authenticate.
        State changes only when the message authenticates.
        """
        n, ct = _fields(message)
        aad = self._recv_aad + _U64.pack(n)
        if n < self._recv_n:
            mk = self._skipped.get(n)
            if mk is None:
                raise RemoteProtocolError("pairwise message replayed", ErrorCode.REPLAY)
            plaintext = _open(mk, n, ct, aad)
            del self._skipped[n]
            return plaintext
        if n - self._recv_n > self._max_skip:
            raise RemoteProtocolError("pairwise counter jumps too far", ErrorCode.TOO_FAR)
        chain = self._recv_chain
        skipped: list[tuple[int, bytes]] = []
        for i in range(self._recv_n, n):
            mk, chain = ratchet_step(chain)
            skipped.append((i, mk))
        mk, chain = ratchet_step(chain)
        plaintext = _open(mk, n, ct, aad)  # DecryptionFailed: no state has changed
        if skipped:
            for i, key in skipped:
                self._skipped[i] = key
            while len(self._skipped) > self._max_stored:
                self._skipped.popitem(last=False)
        self._recv_chain = chain
        self._recv_n = n + 1
        return plaintext

    def __repr__(self) -> str:
        return f"PairwiseChannel(sent={self._send_n}, received_up_to={self._recv_n})"
