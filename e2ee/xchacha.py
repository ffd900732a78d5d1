"""XChaCha20-Poly1305 with a cached HChaCha20 subkey (spec §3.2).

XChaCha20-Poly1305(K, N, aad, m) equals IETF ChaCha20-Poly1305 (RFC 8439) under
the key ``HChaCha20(K, N[0:16])`` and the 12-byte nonce ``0x00000000 || N[16:24]``
(draft-irtf-cfrg-xchacha §2.3).  HChaCha20 is computed once per (K, N[0:16]) —
from one ChaCha20 keystream block of ``cryptography``, minus the input state —
so the per-message cost is one IETF AEAD call.
"""

from __future__ import annotations

import struct
from functools import partial

import nacl.bindings
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from nacl._sodium import ffi as _ffi
from nacl._sodium import lib as _lib

from e2ee.errors import DecryptionFailed, LocalProtocolError

KEY_LEN = 32
NONCE_LEN = 24
TAG_LEN = 16
_SIGMA = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)  # "expand 32-byte k"
_ZERO_BLOCK = bytes(64)
_MAX_MESSAGE = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX


def hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """HChaCha20(key, nonce16) -> 32-byte subkey (spec §3.2).

    ChaCha20 with ``cryptography`` takes a 16-byte "nonce" = 32-bit little-endian
    block counter || 96-bit nonce, which is exactly HChaCha20's 16 input bytes in
    state words 12..15.  One keystream block is the 20-round state plus the input
    state; subtracting the input (mod 2^32) in words 0..3 and 12..15 leaves the
    HChaCha20 output.
    """
    if len(key) != KEY_LEN or len(nonce16) != 16:
        raise LocalProtocolError("HChaCha20 takes a 32-byte key and a 16-byte input")
    block = Cipher(algorithms.ChaCha20(key, nonce16), mode=None).encryptor().update(_ZERO_BLOCK)
    out = struct.unpack("<16I", block)
    n = struct.unpack("<4I", nonce16)
    return struct.pack(
        "<8I",
        (out[0] - _SIGMA[0]) & 0xFFFFFFFF,
        (out[1] - _SIGMA[1]) & 0xFFFFFFFF,
        (out[2] - _SIGMA[2]) & 0xFFFFFFFF,
        (out[3] - _SIGMA[3]) & 0xFFFFFFFF,
        (out[12] - n[0]) & 0xFFFFFFFF,
        (out[13] - n[1]) & 0xFFFFFFFF,
        (out[14] - n[2]) & 0xFFFFFFFF,
        (out[15] - n[3]) & 0xFFFFFFFF,
    )


class XChaChaPrefix:
    """XChaCha20-Poly1305 under one key and one fixed 16-byte nonce prefix (spec §3.2).

    Only the last 8 nonce bytes vary per message; the HChaCha20 subkey is
    computed once in the constructor.
    """

    __slots__ = ("_aead", "prefix")

    def __init__(self, key: bytes, prefix: bytes) -> None:
        self.prefix = bytes(prefix)
        self._aead = ChaCha20Poly1305(hchacha20(key, self.prefix))

    def encrypt(self, suffix8: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """Seal with nonce ``prefix || suffix8`` -> ciphertext || 16-byte tag (spec §3.2)."""
        if len(suffix8) != 8:
            raise LocalProtocolError("the nonce suffix is 8 bytes")
        return self._aead.encrypt(b"\x00\x00\x00\x00" + suffix8, plaintext, aad)

    def decrypt(self, suffix8: bytes, ciphertext: bytes, aad: bytes) -> bytes:
        """Open with nonce ``prefix || suffix8``; any failure is DecryptionFailed (spec §3.2)."""
        if len(suffix8) != 8:
            raise LocalProtocolError("the nonce suffix is 8 bytes")
        try:
            return self._aead.decrypt(b"\x00\x00\x00\x00" + suffix8, ciphertext, aad)
        except (InvalidTag, ValueError, OverflowError):
            raise DecryptionFailed() from None


def encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """One-shot XChaCha20-Poly1305 encrypt (24-byte nonce) via libsodium (spec §3.2).

    For a key used once (pairwise message keys) this is cheaper than computing
    and caching the HChaCha20 subkey.  libsodium is called directly: the
    binding's wrapper formats its error strings on every call, which costs
    more than the AEAD of a short message.  The lengths are checked here;
    cffi itself refuses any argument that is not ``bytes`` (TypeError).
    """
    n = len(plaintext)
    if len(nonce) != NONCE_LEN or len(key) != KEY_LEN or n > _MAX_MESSAGE:
        raise LocalProtocolError("XChaCha20-Poly1305 takes a 32-byte key and a 24-byte nonce")
    out = _new_buffer(n + TAG_LEN)
    try:
        _seal(out, _NULL, plaintext, n, aad, len(aad), _NULL, nonce, key)
    except TypeError:
        raise LocalProtocolError("XChaCha20-Poly1305 takes bytes") from None
    sealed: bytes = _ffi.buffer(out)[:]
    return sealed


def decrypt(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """One-shot XChaCha20-Poly1305 decrypt; every failure is DecryptionFailed (spec §3.2).

    The lengths are checked here; cffi refuses any argument that is not ``bytes``.
    """
    n = len(ciphertext) - TAG_LEN
    if n < 0 or len(nonce) != NONCE_LEN or len(key) != KEY_LEN:
        raise DecryptionFailed()
    out = _new_buffer(n or 1)
    try:
        failed = _open(out, _NULL, _NULL, ciphertext, n + TAG_LEN, aad, len(aad), nonce, key)
    except TypeError:
        raise DecryptionFailed() from None
    if failed:
        raise DecryptionFailed()
    opened: bytes = _ffi.buffer(out, n)[:]
    return opened


_NULL = _ffi.NULL
_new_buffer = partial(_ffi.new, "unsigned char[]")
_seal = _lib.crypto_aead_xchacha20poly1305_ietf_encrypt
_open = _lib.crypto_aead_xchacha20poly1305_ietf_decrypt
