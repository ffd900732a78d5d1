"""Audio frames inside MEDIA envelopes (spec §15.4).

A MEDIA payload is ``epoch u32 | counter u64 | XChaCha20-Poly1305 ciphertext``.
The frame key of member ``m`` at epoch ``e`` is the sender base ``S_e,m``
(spec §15.1); the nonce is 16 zero bytes followed by the counter, which the
sender never repeats within its session (it keeps one counter across epochs, so
the counter is also the ``seq`` receivers give the jitter buffer).  The
associated data is ``0x10 || room_id || epoch u32 || counter u64 || member_id``.
"""

from __future__ import annotations

import struct

from e2ee import xchacha
from e2ee.errors import DecryptionFailed, LocalProtocolError

HEADER = struct.Struct(">IQ")
HEADER_LEN = HEADER.size
MAX_COUNTER = 2**64 - 1
_PREFIX = bytes(16)


class FrameKey:
    """One member's frame key at one epoch, HChaCha20 subkey cached (spec §15.4)."""

    __slots__ = ("_aead", "epoch", "member")

    def __init__(self, sender_base: bytes, epoch: int, member: bytes) -> None:
        self._aead = xchacha.XChaChaPrefix(sender_base, _PREFIX)
        self.epoch = epoch
        self.member = member

    def _aad(self, header: bytes, room_id: bytes) -> bytes:
        return b"\x10" + room_id + header + self.member

    def protect(self, room_id: bytes, counter: int, opus: bytes) -> bytes:
        """Encrypt one frame (spec §15.4)."""
        if not 0 <= counter <= MAX_COUNTER:
            raise LocalProtocolError("frame counter exhausted")
        header = HEADER.pack(self.epoch, counter)
        return header + self._aead.encrypt(header[4:], opus, self._aad(header, room_id))

    def unprotect(self, room_id: bytes, payload: bytes) -> tuple[int, bytes]:
        """Decrypt one frame, returning ``(counter, opus)``; DecryptionFailed on failure."""
        if len(payload) < HEADER_LEN + 16:
            raise DecryptionFailed()
        header = payload[:HEADER_LEN]
        counter: int = HEADER.unpack(header)[1]
        return counter, self._aead.decrypt(
            header[4:], payload[HEADER_LEN:], self._aad(header, room_id)
        )


def frame_epoch(payload: bytes) -> int:
    """The cleartext epoch of a MEDIA payload (spec §15.4); -1 if too short."""
    if len(payload) < HEADER_LEN + 16:
        return -1
    epoch: int = HEADER.unpack_from(payload)[0]
    return epoch
