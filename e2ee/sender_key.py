"""Sender keys: one speaker's media key, its key id and hash ratchet (spec §10).

A :class:`SenderKey` is ``(kid, epoch, secret)``.  A speaker draws a fresh random
secret when members are removed (:meth:`SenderKey.fresh`) and ratchets it
forward when members join (:meth:`SenderKey.ratchet`): the ratchet is one-way,
so a joiner given the ratcheted key cannot compute any earlier one.  ``kid``
increases by one at every change, fresh or ratcheted; the frame header carries
``kid mod 8`` (spec §11.2).

From a sender key, :func:`frame_key_and_salt` derives the XChaCha20-Poly1305
key and the 24-byte salt the per-frame nonce is made from (spec §10.3).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from e2ee import canonical, kdf
from e2ee.errors import LocalProtocolError

SECRET_LEN = 32
SALT_LEN = 24
UPDATE_VERSION = 1
MAX_KID = 2**64 - 1
_U64 = struct.Struct(">Q")


def frame_key_and_salt(secret: bytes, kid: int) -> tuple[bytes, bytes]:
    """frame_key (32) and frame_salt (24) for one sender key (spec §10.3)."""
    ctx = _U64.pack(kid)
    return (
        kdf.hkdf(kdf.FRAME_KEY, secret, 32, context=ctx),
        kdf.hkdf(kdf.FRAME_SALT, secret, SALT_LEN, context=ctx),
    )


@dataclass(frozen=True)
class SenderKey:
    """One key of one speaker: ``kid``, its roster ``epoch`` and the secret (spec §10.1)."""

    kid: int
    epoch: int
    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != SECRET_LEN:
            raise LocalProtocolError("a sender key secret is 32 bytes")
        if not 0 <= self.kid <= MAX_KID or not 0 <= self.epoch <= MAX_KID:
            raise LocalProtocolError("kid and epoch are 64-bit unsigned integers")

    @classmethod
    def fresh(cls, rng: Callable[[int], bytes], epoch: int, kid: int = 0) -> SenderKey:
        """A new random secret for ``epoch`` (spec §10.2)."""
        secret = rng(SECRET_LEN)
        if len(secret) != SECRET_LEN:
            raise LocalProtocolError("rng must return 32 bytes")
        return cls(kid, epoch, secret)

    def ratchet(self, epoch: int) -> SenderKey:
        """The next key in the hash ratchet, bound to the new ``epoch`` (spec §10.2).

        secret' = HKDF(ikm=secret, label "hushroom v1 sender key ratchet",
                       context = u64(kid + 1) || u64(epoch))
        """
        if self.kid >= MAX_KID:
            raise LocalProtocolError("sender key id exhausted")
        kid = self.kid + 1
        secret = kdf.hkdf(
            kdf.SENDER_KEY_RATCHET,
            self.secret,
            SECRET_LEN,
            context=_U64.pack(kid) + _U64.pack(epoch),
        )
        return SenderKey(kid, epoch, secret)

    def encode_update(self, next_counter: int) -> bytes:
        """The key-distribution / joiner-export structure (spec §10.4).

        canonical([1, kid, epoch, secret, next_counter]); ``next_counter`` is the
        first frame counter the sender may use under this key.
        """
        return canonical.encode([UPDATE_VERSION, self.kid, self.epoch, self.secret, next_counter])

    @staticmethod
    def decode_update(data: bytes) -> tuple[SenderKey, int]:
        """Parse :meth:`encode_update` output -> (key, next_counter) (spec §10.4)."""
        fields = canonical.decode_array(data, 5, "sender key update")
        canonical.expect_version(fields[0], "sender key update", UPDATE_VERSION)
        kid = canonical.expect_int(fields[1], "kid")
        epoch = canonical.expect_int(fields[2], "epoch")
        secret = canonical.expect_bytes(fields[3], "sender key", SECRET_LEN)
        next_counter = canonical.expect_int(fields[4], "next counter")
        return SenderKey(kid, epoch, secret), next_counter

    def __repr__(self) -> str:
        return f"SenderKey(kid={self.kid}, epoch={self.epoch}, <secret>)"
