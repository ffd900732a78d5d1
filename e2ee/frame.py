"""Frame protection: SFrame-style headers over XChaCha20-Poly1305 (spec §11).

A protected frame is ``header || ciphertext || tag`` where ``header`` is the
RFC 9605 SFrame header carrying ``KID = kid mod 8`` and the speaker's frame
counter ``CTR``.  The counter is monotonic per speaker across all of its key
changes, so it doubles as the jitter buffer's sequence number.

Per key (once): frame_key, frame_salt from the sender key (spec §10.3) and the
HChaCha20 subkey for ``frame_salt[0:16]``.  Per frame: one IETF
ChaCha20-Poly1305 call with nonce ``0^4 || (frame_salt[16:24] XOR u64(CTR))``,
which is exactly XChaCha20-Poly1305 with the 24-byte nonce
``frame_salt XOR (0^16 || u64(CTR))``.

Associated data: ``labelled("hushroom v1 frame aad", room_id || u64(epoch) ||
sender_id || u8(flags)) || header``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from e2ee import kdf, padding
from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from e2ee.replay import ReplayWindow
from e2ee.sender_key import SenderKey, frame_key_and_salt
from e2ee.sframe_header import decode_header, encode_header
from e2ee.xchacha import TAG_LEN, XChaChaPrefix

KID_PHASES = 8  # the header carries kid mod 8 (spec §11.2)
MAX_COUNTER = 2**64 - 1
MAX_FRAME_PLAINTEXT = padding.MAX_PADDED_INPUT
FLAG_PADDED = 0x01
DEFAULT_GRACE = 1.0
DEFAULT_WINDOW = 256
DEFAULT_MAX_JUMP = 1 << 20


def frame_aad_prefix(room_id: bytes, epoch: int, sender_id: bytes, padded: bool) -> bytes:
    """The constant part of a frame's associated data (spec §11.3)."""
    if len(room_id) != 32 or len(sender_id) != 32:
        raise LocalProtocolError("room id and sender id are 32 bytes")
    flags = FLAG_PADDED if padded else 0
    return kdf.labelled(
        kdf.FRAME_AAD, room_id + epoch.to_bytes(8, "big") + sender_id + bytes((flags,))
    )


class _KeyContext:
    """Everything derived once per sender key (spec §10.3, §11.3)."""

    __slots__ = ("aad_prefix", "cipher", "epoch", "expires_at", "kid", "min_counter", "salt_tail")

    def __init__(
        self, key: SenderKey, room_id: bytes, sender_id: bytes, padded: bool, min_counter: int
    ) -> None:
        frame_key, salt = frame_key_and_salt(key.secret, key.kid)
        self.kid = key.kid
        self.epoch = key.epoch
        self.cipher = XChaChaPrefix(frame_key, salt[:16])
        self.salt_tail = int.from_bytes(salt[16:], "big")
        self.aad_prefix = frame_aad_prefix(room_id, key.epoch, sender_id, padded)
        self.min_counter = min_counter
        self.expires_at: float | None = None

    def suffix(self, ctr: int) -> bytes:
        """Nonce bytes 16..23: frame_salt[16:24] XOR u64(ctr) (spec §11.3)."""
        return (self.salt_tail ^ ctr).to_bytes(8, "big")


class FrameSender:
    """A speaker's sending state: its current sender key and frame counter (spec §11.5)."""

    def __init__(
        self,
        key: SenderKey,
        *,
        room_id: bytes,
        sender_id: bytes,
        padded: bool = True,
        next_counter: int = 0,
        counter_limit: int = MAX_COUNTER,
    ) -> None:
        if not 0 <= counter_limit <= MAX_COUNTER or next_counter < 0:
            raise LocalProtocolError("bad counter parameters")
        self._room_id = room_id
        self._sender_id = sender_id
        self._padded = padded
        self._next = next_counter
        self._limit = counter_limit
        self._key = key
        self._ctx = _KeyContext(key, room_id, sender_id, padded, next_counter)

    @property
    def key(self) -> SenderKey:
        """The current sender key (to distribute over pairwise channels, spec §15)."""
        return self._key

    @property
    def next_counter(self) -> int:
        """The counter the next frame will carry."""
        return self._next

    def _switch(self, key: SenderKey) -> SenderKey:
        self._key = key  # the previous key and its context are dropped here
        self._ctx = _KeyContext(key, self._room_id, self._sender_id, self._padded, self._next)
        return key

    def ratchet(self, epoch: int) -> SenderKey:
        """Move to the next key of the hash ratchet, bound to ``epoch`` (spec §10.2)."""
        return self._switch(self._key.ratchet(epoch))

    def rekey(self, rng: Callable[[int], bytes], epoch: int) -> SenderKey:
        """Draw a fresh random key (after a removal) with kid + 1 (spec §10.2)."""
        if self._key.kid >= MAX_COUNTER:
            raise LocalProtocolError("sender key id exhausted")
        return self._switch(SenderKey.fresh(rng, epoch, self._key.kid + 1))

    def key_update(self) -> bytes:
        """The current key and next counter, encoded for distribution (spec §10.4)."""
        return self._key.encode_update(self._next)

    def export_for_joiner(self, epoch: int) -> bytes:
        """Ratchet forward to ``epoch`` if it is newer, then export (spec §10.5).

        The joiner can decrypt frames from now on, never earlier ones: earlier
        frames were sealed under keys it cannot derive from the export.
        """
        if epoch < self._key.epoch:
            raise LocalProtocolError("cannot export for an older epoch")
        if epoch > self._key.epoch:
            self.ratchet(epoch)
        return self.key_update()

    def protect(self, payload: bytes) -> bytes:
        """Seal one frame (spec §11.5).  LocalProtocolError once the counter is exhausted."""
        ctr = self._next
        if ctr > self._limit:
            raise LocalProtocolError("frame counter exhausted: no nonce may repeat")
        if len(payload) > MAX_FRAME_PLAINTEXT:
            raise LocalProtocolError(f"frames are at most {MAX_FRAME_PLAINTEXT} bytes")
        self._next = ctr + 1
        ctx = self._ctx
        header = encode_header(ctx.kid % KID_PHASES, ctr)
        plaintext = padding.pad(payload) if self._padded else payload
        return header + ctx.cipher.encrypt(ctx.suffix(ctr), plaintext, ctx.aad_prefix + header)


class DecryptedFrame(NamedTuple):
    """An authenticated frame: the speaker's counter (monotonic sequence) and the payload."""

    counter: int
    payload: bytes


class FrameReceiver:
    """Receiving state for one remote speaker (spec §11.6)."""

    def __init__(
        self,
        *,
        room_id: bytes,
        sender_id: bytes,
        padded: bool = True,
        window: int = DEFAULT_WINDOW,
        max_jump: int = DEFAULT_MAX_JUMP,
        grace: float = DEFAULT_GRACE,
    ) -> None:
        self._room_id = room_id
        self._sender_id = sender_id
        self._padded = padded
        self._window = ReplayWindow(window, max_jump)
        self._grace = grace
        self._keys: dict[int, _KeyContext] = {}  # kid mod 8 -> context
        self._newest: SenderKey | None = None
        self._active_kid = -1
        self._next_expiry = float("inf")
        frame_aad_prefix(room_id, 0, sender_id, padded)  # validates lengths

    def known_kids(self) -> list[int]:
        """The kids of all keys currently held, oldest first."""
        return sorted(ctx.kid for ctx in self._keys.values())

    def add_key(self, key: SenderKey, next_counter: int = 0) -> None:
        """Install a key received from its sender (spec §11.6, §15).

        A held key with the same ``kid mod 8`` and a smaller kid is erased; an
        update older than the held key of its phase is refused (STALE).
        ``next_counter`` resynchronises the replay window's jump bound.
        """
        phase = key.kid % KID_PHASES
        held = self._keys.get(phase)
        if held is not None and held.kid > key.kid:
            raise RemoteProtocolError("a newer key with this key phase is held", ErrorCode.STALE)
        self._keys[phase] = _KeyContext(
            key, self._room_id, self._sender_id, self._padded, next_counter
        )
        if self._newest is None or key.kid >= self._newest.kid:
            self._newest = key
            self._window.advance_to(next_counter)

    def add_update(self, data: bytes) -> SenderKey:
        """Install a key from its :meth:`SenderKey.encode_update` bytes (spec §10.4)."""
        key, next_counter = SenderKey.decode_update(data)
        self.add_key(key, next_counter)
        return key

    def ratchet_to(self, epoch: int) -> SenderKey:
        """Follow the sender's join ratchet to ``epoch`` (spec §10.2, §10.5).

        Mirrors :meth:`FrameSender.export_for_joiner`: derives and installs the
        next key only if the newest held key is from an earlier epoch;
        otherwise returns the newest key unchanged.
        """
        if self._newest is None:
            raise LocalProtocolError("no key to ratchet from")
        if self._newest.epoch >= epoch:
            return self._newest
        key = self._newest.ratchet(epoch)
        self.add_key(key, 0)
        return key

    def expire(self, now: float) -> None:
        """Erase keys whose grace period has ended (spec §11.7)."""
        nxt = float("inf")
        for phase, ctx in list(self._keys.items()):
            if ctx.expires_at is None:
                continue
            if ctx.expires_at <= now:
                del self._keys[phase]
            else:
                nxt = min(nxt, ctx.expires_at)
        self._next_expiry = nxt

    def _activate(self, kid: int, now: float) -> None:
        self._active_kid = kid
        deadline = now + self._grace
        for ctx in self._keys.values():
            if ctx.kid < kid and (ctx.expires_at is None or ctx.expires_at > deadline):
                ctx.expires_at = deadline
        self._next_expiry = min(self._next_expiry, deadline)
        if self._grace <= 0:
            self.expire(now)

    def unprotect(self, frame: bytes, now: float, *, commit: bool = True) -> DecryptedFrame:
        """Open one frame (spec §11.6).

        Raises RemoteProtocolError: MALFORMED / NON_CANONICAL (header),
        UNKNOWN_KEY (no key for the KID), REPLAY (seen or too old), TOO_FAR
        (counter jump), DecryptionFailed (authentication).  State changes only
        for frames that authenticate, and only with ``commit`` (a frame played
        before its speaker's proof moves no replay window, spec §15.6).
        """
        if now >= self._next_expiry:
            self.expire(now)
        kid_phase, ctr, hlen = decode_header(frame)
        ctx = self._keys.get(kid_phase)
        if ctx is None:
            raise RemoteProtocolError("no key for this frame's KID", ErrorCode.UNKNOWN_KEY)
        if len(frame) - hlen < TAG_LEN:
            raise RemoteProtocolError("frame shorter than its tag", ErrorCode.MALFORMED)
        self._window.check(ctr)
        if ctr < ctx.min_counter:
            raise RemoteProtocolError("counter precedes this key", ErrorCode.REPLAY)
        header = frame[:hlen]
        plaintext = ctx.cipher.decrypt(ctx.suffix(ctr), frame[hlen:], ctx.aad_prefix + header)
        if commit:
            self._window.accept(ctr)
        if commit and ctx.kid > self._active_kid:
            self._activate(ctx.kid, now)
        if self._padded:
            plaintext = padding.unpad(plaintext)
        return DecryptedFrame(ctr, plaintext)
