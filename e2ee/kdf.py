"""Labelled key derivation (spec §3.3).

Every derivation in Hushroom is HKDF-SHA256 (RFC 5869) with an ``info`` that
starts with a length-prefixed ASCII label, so no two derivations can collide::

    info = u8(len(label)) || label || context

All labels are listed in :data:`LABELS` and in spec §3.4.
"""

from __future__ import annotations

import hashlib
import hmac

from e2ee.errors import LocalProtocolError

_ZERO_SALT = bytes(32)  # RFC 5869's default salt for SHA-256

# KDF labels (spec §3.4).  Key: short name used in code; value: the exact label bytes.
ROOM_TAG = b"hushroom v1 room tag"
ADMISSION_KEY = b"hushroom v1 admission key"
ROOM_ID = b"hushroom v1 room id"
PAIRWISE_ROOT = b"hushroom v1 pairwise root"
PAIRWISE_CHAIN = b"hushroom v1 pairwise chain"
PAIRWISE_AAD = b"hushroom v1 pairwise aad"
SENDER_KEY_RATCHET = b"hushroom v1 sender key ratchet"
FRAME_KEY = b"hushroom v1 frame key"
FRAME_SALT = b"hushroom v1 frame salt"
FRAME_AAD = b"hushroom v1 frame aad"
DATAGRAM_KEY = b"hushroom v1 datagram key"
DATAGRAM_AAD = b"hushroom v1 datagram aad"
# Hash and signature domain labels (spec §3.4, §5).
FINGERPRINT = b"hushroom v1 fingerprint"
INVITE_CHECKSUM = b"hushroom v1 invite checksum"
SIG_SESSION_KEY = b"hushroom v1 sig session key"

LABELS: dict[str, bytes] = {
    "ROOM_TAG": ROOM_TAG,
    "ADMISSION_KEY": ADMISSION_KEY,
    "ROOM_ID": ROOM_ID,
    "PAIRWISE_ROOT": PAIRWISE_ROOT,
    "PAIRWISE_CHAIN": PAIRWISE_CHAIN,
    "PAIRWISE_AAD": PAIRWISE_AAD,
    "SENDER_KEY_RATCHET": SENDER_KEY_RATCHET,
    "FRAME_KEY": FRAME_KEY,
    "FRAME_SALT": FRAME_SALT,
    "FRAME_AAD": FRAME_AAD,
    "DATAGRAM_KEY": DATAGRAM_KEY,
    "DATAGRAM_AAD": DATAGRAM_AAD,
    "FINGERPRINT": FINGERPRINT,
    "INVITE_CHECKSUM": INVITE_CHECKSUM,
    "SIG_SESSION_KEY": SIG_SESSION_KEY,
}


def labelled(label: bytes, data: bytes = b"") -> bytes:
    """``u8(len(label)) || label || data`` — the domain-separation prefix (spec §3.3)."""
    if not 1 <= len(label) <= 255 or not label.isascii():
        raise LocalProtocolError("labels are 1..255 ASCII bytes")
    return bytes((len(label),)) + label + data


def hkdf(
    label: bytes, ikm: bytes, length: int, *, salt: bytes = b"", context: bytes = b""
) -> bytes:
    """HKDF-SHA256(salt, ikm, info = labelled(label, context), length) (spec §3.3).

    An empty ``salt`` is RFC 5869's default (32 zero bytes).  RFC 5869 §2.2
    and §2.3 written out over ``hmac.digest``: every derivation here is one
    or two 32-byte blocks, and a one-shot HMAC costs less than setting up a
    KDF object for each (tests/test_kdf.py checks it against RFC 5869).
    """
    if not 1 <= length <= 255 * 32:
        raise LocalProtocolError("bad HKDF output length")
    prk = hmac.digest(salt or _ZERO_SALT, ikm, "sha256")
    info = labelled(label, context)
    block = b""
    out = b""
    for i in range(1, -(-length // 32) + 1):
        block = hmac.digest(prk, block + info + bytes((i,)), "sha256")
        out += block
    return out[:length]


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104), used by the symmetric ratchets (spec §3.3)."""
    return hmac.digest(key, data, "sha256")


def hmac_sha512(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA512 (RFC 2104), one call per pairwise ratchet step (spec §9.3)."""
    return hmac.digest(key, data, "sha512")


def labelled_hash(label: bytes, data: bytes) -> bytes:
    """SHA-256(labelled(label, data)) (spec §3.3)."""
    return hashlib.sha256(labelled(label, data)).digest()
