"""Labelled key derivation (spec §3.3).

Every derivation in Hushroom is HKDF-SHA256 (RFC 5869) with an ``info`` that
starts with a length-prefixed ASCII label, so no two derivations can collide::

    info = u8(len(label)) || label || context

All labels are listed in :data:`LABELS` and in spec §3.4.
"""

from __future__ import annotations

import hashlib

from e2ee.errors import LocalProtocolError

_IPAD = bytes(b ^ 0x36 for b in range(256))  # RFC 2104's pads, as translation tables
_OPAD = bytes(b ^ 0x5C for b in range(256))
# RFC 5869's default salt (32 zero bytes) as HMAC-SHA256's padded keys
_ZERO_IPAD = bytes(64).translate(_IPAD)
_ZERO_OPAD = bytes(64).translate(_OPAD)
_sha256 = hashlib.sha256
_sha512 = hashlib.sha512


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


_PREFIXES: dict[bytes, bytes] = {}  # checked label -> u8(len) || label
_MAX_PREFIXES = 256  # more than every label in spec §3.4; past it, labels are checked each time


def labelled(label: bytes, data: bytes = b"") -> bytes:
    """``u8(len(label)) || label || data`` — the domain-separation prefix (spec §3.3).

    Labels are protocol constants: each is checked once and its prefix kept
    (at most :data:`_MAX_PREFIXES` of them).
    """
    prefix = _PREFIXES.get(label)
    if prefix is None:
        if type(label) is not bytes or not 1 <= len(label) <= 255 or not label.isascii():
            raise LocalProtocolError("labels are 1..255 ASCII bytes")
        prefix = bytes((len(label),)) + label
        if len(_PREFIXES) < _MAX_PREFIXES:
            _PREFIXES[label] = prefix
    return prefix + data


def hkdf(
    label: bytes, ikm: bytes, length: int, *, salt: bytes = b"", context: bytes = b""
) -> bytes:
    """HKDF-SHA256(salt, ikm, info = labelled(label, context), length) (spec §3.3).

    An empty ``salt`` is RFC 5869's default (32 zero bytes).  RFC 5869 §2.2
    and §2.3 written out over :func:`hmac_sha256`: every derivation here is
    one or two 32-byte blocks, and a one-shot HMAC costs less than setting up
    a KDF object for each (tests/test_kdf.py checks it against RFC 5869).
    """
    if not 1 <= length <= 255 * 32:
        raise LocalProtocolError("bad HKDF output length")
    if salt:
        prk = hmac_sha256(salt, ikm)
    else:  # the default salt's padded keys are constants
        prk = _sha256(_ZERO_OPAD + _sha256(_ZERO_IPAD + ikm).digest()).digest()
    info = (_PREFIXES.get(label) or labelled(label)) + context
    if length <= 32:  # one block, T(1) = HMAC(PRK, info || 0x01): every key in this protocol
        return hmac_sha256(prk, info + b"\x01")[:length]
    block = b""
    out = b""
    for i in range(1, -(-length // 32) + 1):
        block = hmac_sha256(prk, block + info + bytes((i,)))
        out += block
    return out[:length]


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104), used by the symmetric ratchets (spec §3.3).

    ``H((K' ^ opad) || H((K' ^ ipad) || data))`` written out over one-shot
    hashes, with ``K'`` the key (hashed first if longer than a block) padded
    with zeros to a block; the pads are byte translations.  For the short
    inputs of this protocol this costs less than ``hmac.digest``'s per-call
    set-up (tests/test_kdf.py checks it against the standard library for
    every key and message length class).
    """
    if len(key) > 64:
        key = _sha256(key).digest()
    padded = key.ljust(64, b"\0")
    inner = _sha256(padded.translate(_IPAD) + data).digest()
    return _sha256(padded.translate(_OPAD) + inner).digest()


def hmac_sha512(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA512 (RFC 2104), one call per pairwise ratchet step (spec §9.3).

    Written out as :func:`hmac_sha256` is, over a 128-byte block.
    """
    if len(key) > 128:
        key = _sha512(key).digest()
    padded = key.ljust(128, b"\0")
    inner = _sha512(padded.translate(_IPAD) + data).digest()
    return _sha512(padded.translate(_OPAD) + inner).digest()


def labelled_hash(label: bytes, data: bytes) -> bytes:
    """SHA-256(labelled(label, data)) (spec §3.3)."""
    return _sha256((_PREFIXES.get(label) or labelled(label)) + data).digest()
