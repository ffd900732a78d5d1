"""A sliding replay window over a 64-bit counter (spec §11.6).

``check(ctr)`` raises before decryption; ``accept(ctr)`` records a counter
after the frame authenticated.  Counters more than ``size`` below the highest
accepted are "too old"; counters more than ``max_jump`` above it are "too far".
"""

from __future__ import annotations

from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError


class ReplayWindow:
    """Bitmap window: bit i set means counter ``highest - i`` was accepted."""

    __slots__ = ("_bits", "highest", "max_jump", "size")

    def __init__(self, size: int = 256, max_jump: int = 1 << 20, start: int = 0) -> None:
        if size < 1 or max_jump < 1 or start < 0:
            raise LocalProtocolError("bad replay window parameters")
        self.size = size
        self.max_jump = max_jump
        self.highest = start - 1  # nothing at or above ``start`` seen yet
        self._bits = 0

    def check(self, ctr: int) -> None:
        """Raise REPLAY for a seen or too-old counter, TOO_FAR for a big jump (spec §11.6)."""
        if ctr > self.highest:
            if ctr - self.highest > self.max_jump:
                raise RemoteProtocolError("frame counter jumps too far", ErrorCode.TOO_FAR)
            return
        offset = self.highest - ctr
        if offset >= self.size or (self._bits >> offset) & 1:
            raise RemoteProtocolError("replayed or too old frame", ErrorCode.REPLAY)

    def accept(self, ctr: int) -> None:
        """Record an authenticated counter, after :meth:`check` passed (spec §11.6)."""
        if ctr > self.highest:
            shift = ctr - self.highest
            self._bits = ((self._bits << shift) | 1) & ((1 << self.size) - 1)
            self.highest = ctr
        else:
            self._bits |= 1 << (self.highest - ctr)

    def advance_to(self, start: int) -> None:
        """Resynchronise so that the jump bound is measured from ``start`` (spec §11.6).

        Nothing at or above ``start`` is marked seen; older counters slide out of
        the window as if ``start - 1`` had been the highest.
        """
        new_high = start - 1
        if new_high > self.highest:
            shift = new_high - self.highest
            self._bits = (self._bits << shift) & ((1 << self.size) - 1) if shift < self.size else 0
            self.highest = new_high
