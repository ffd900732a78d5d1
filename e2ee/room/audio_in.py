"""Incoming audio: which epoch key opens a frame (spec §15.4).

A frame's header carries only ``kid mod 8`` of the sender's epoch (§11.2),
and a burst of commits can put more than eight epochs inside one key grace
period.  So the KID phase only narrows the choice: the frame is tried under
each epoch key the receiver still holds whose epoch has that phase, the epoch
that last opened a frame of this speaker first, then newest first.  The
associated data binds the epoch (§11.3), so exactly one key can open a frame
and the choice is never ambiguous.

Each (speaker, epoch) pair has its own :class:`e2ee.frame.FrameReceiver`
(one key, one replay window); a frame authenticates under one key only, so a
replay always meets the window that saw it.  A receiver is created on demand
and its window starts :data:`REORDER` below the last counter accepted from
that speaker (frames under different keys never share a counter's meaning,
so this only sets the jump bound); for a speaker not heard before it starts
at the frame's own counter and is kept only once a frame opened under it.
Receivers of epochs whose keys are dropped are dropped with them, so audio
under an expired epoch key is refused.

On the wire the phase and counter are masked (§15.4.1): :meth:`AudioIn.reveal`
tries every usable epoch, in the same order, unmasks under its header key and
opens the frame without moving any state; the first that opens names the
frame's epoch and gives back the §11 frame that the proof gate holds and
:meth:`AudioIn.open` plays.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from e2ee.errors import DecryptionFailed, ErrorCode, RemoteProtocolError
from e2ee.frame import KID_PHASES, DecryptedFrame, FrameReceiver
from e2ee.room import header_protection
from e2ee.sender_key import SenderKey
from e2ee.sframe_header import decode_header

REORDER = 256  # a new epoch's window starts this far below the speaker's last counter
MAX_CANDIDATES = 64  # epochs tried for one MEDIA payload (spec §15.4.1)


class AudioIn:
    """Per speaker and epoch frame receivers of one session (spec §15.4)."""

    def __init__(self, room_id: bytes) -> None:
        self._room_id = room_id
        self._receivers: dict[tuple[bytes, int], FrameReceiver] = {}
        self._last_epoch: dict[bytes, int] = {}
        self._next_counter: dict[bytes, int] = {}
        self._header_keys: dict[tuple[bytes, int], bytes] = {}

    def order(self, member: bytes, epochs: Iterable[int]) -> list[int]:
        """The candidates for ``member``'s payload (§15.4, §15.4.1): the epoch that last
        opened its frame first, then newest first, at most MAX_CANDIDATES of them."""
        last = self._last_epoch.get(member)
        return sorted(epochs, key=lambda e: (e != last, -e))[:MAX_CANDIDATES]

    def header_key(
        self, member: bytes, epoch: int, key_for: Callable[[int], SenderKey | None]
    ) -> bytes | None:
        """``member``'s header protection key at ``epoch`` (§15.4.1), derived once."""
        hp = self._header_keys.get((member, epoch))
        if hp is None:
            key = key_for(epoch)
            if key is None:
                return None
            hp = self._header_keys[(member, epoch)] = header_protection.header_key(key.secret)
        return hp

    def reveal(
        self,
        member: bytes,
        wire: bytes,
        now: float,
        epochs: Iterable[int],
        key_for: Callable[[int], SenderKey | None],
    ) -> tuple[int, bytes]:
        """``(epoch, §11 frame)`` of a wire frame: the first usable epoch that opens it (§15.4.1).

        Nothing changes (no replay window moves).  Raises UNKNOWN_KEY without
        any usable epoch, MALFORMED for a payload too short to be a frame,
        else the error of the first candidate whose key revealed the header
        (REPLAY, DecryptionFailed, ...), DecryptionFailed when none did.
        """
        candidates = self.order(member, epochs)
        if not candidates:
            raise RemoteProtocolError("no held epoch key", ErrorCode.UNKNOWN_KEY)
        first_error: RemoteProtocolError | None = None
        for epoch in candidates:
            hp = self.header_key(member, epoch, key_for)
            if hp is None:
                continue
            try:
                frame = header_protection.reveal_frame(wire, hp, epoch % KID_PHASES)
            except DecryptionFailed:
                continue  # not this epoch's header key
            try:
                self.open(member, frame, now, (epoch,), key_for, commit=False)
            except RemoteProtocolError as exc:  # includes DecryptionFailed
                first_error = first_error or exc
                continue
            return epoch, frame
        raise first_error or DecryptionFailed()

    def open(
        self,
        member: bytes,
        payload: bytes,
        now: float,
        epochs: Iterable[int],
        key_for: Callable[[int], SenderKey | None],
        commit: bool = True,
    ) -> tuple[int, DecryptedFrame]:
        """Open ``member``'s frame under the held epoch key that fits; ``(epoch, frame)``.

        ``epochs`` are the epochs whose keys the session holds.  Without
        ``commit`` (a frame played before it is proven, spec §15.6) no state
        changes: no replay window, receiver or counter moves.  Raises
        RemoteProtocolError (UNKNOWN_KEY when no held epoch has the frame's
        phase) or the first candidate's error (DecryptionFailed, REPLAY, ...).
        """
        phase, counter, _ = decode_header(payload)
        candidates = self.order(member, (e for e in epochs if e % KID_PHASES == phase))
        if not candidates:
            raise RemoteProtocolError("no held epoch key has this KID", ErrorCode.UNKNOWN_KEY)
        first_error: RemoteProtocolError | None = None
        for epoch in candidates:
            rx = self._receivers.get((member, epoch))
            created = rx is None
            if rx is None:
                key = key_for(epoch)
                if key is None:
                    continue
                rx = FrameReceiver(room_id=self._room_id, sender_id=member)
                heard = self._next_counter.get(member)
                rx.add_key(key, counter if heard is None else max(0, heard - REORDER))
                if heard is not None:  # the window start cannot be moved by a forgery
                    self._receivers[(member, epoch)] = rx
            try:
                frame = rx.unprotect(payload, now, commit=commit)
            except RemoteProtocolError as exc:  # includes DecryptionFailed
                first_error = first_error or exc
                continue
            if not commit:
                return epoch, frame
            if created:
                self._receivers[(member, epoch)] = rx
            self._last_epoch[member] = epoch
            self._next_counter[member] = max(self._next_counter.get(member, 0), frame.counter + 1)
            return epoch, frame
        raise first_error or RemoteProtocolError("no key for this frame", ErrorCode.UNKNOWN_KEY)

    def forget_epoch(self, epoch: int) -> None:
        """The epoch's key was dropped: its receivers go with it."""
        for k in [k for k in self._receivers if k[1] == epoch]:
            del self._receivers[k]
        for k in [k for k in self._header_keys if k[1] == epoch]:
            del self._header_keys[k]

    def forget_member(self, member: bytes) -> None:
        """``member`` left the roster."""
        for k in [k for k in self._receivers if k[0] == member]:
            del self._receivers[k]
        for k in [k for k in self._header_keys if k[0] == member]:
            del self._header_keys[k]
        self._last_epoch.pop(member, None)
        self._next_counter.pop(member, None)

    def __len__(self) -> int:
        return len(self._receivers)
