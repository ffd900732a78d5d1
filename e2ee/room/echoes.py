"""Our broadcasts on their way back to us (spec §12.5, §17.3).

The relay echoes every CONTROL broadcast to its sender in its place in the
room's one order.  :class:`Echoes` keeps, in order, the broadcasts this
session sent whose echo has not come back (at most :data:`MAX_PENDING`; the
oldest is forgotten first), so that the session can drop, unopened, the echo
of its own chat, hands, beacons and announcements, and hand its commit's echo
on.  A payload from our own slot that is not one of them is processed like
any other (the relay chose the slot it stamped).
"""

from __future__ import annotations

from collections import deque

MAX_PENDING = 1024  # broadcasts sent and not echoed yet (spec §12.5)


class Echoes:
    """The broadcasts sent on this link, in order, whose echo is awaited (spec §17.3)."""

    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: deque[bytes] = deque(maxlen=MAX_PENDING)

    def sent(self, payload: bytes) -> None:
        """We broadcast ``payload``: its echo will come back."""
        self._pending.append(payload)

    def returned(self, payload: bytes) -> bool:
        """Whether ``payload``, from our own slot, is the echo of a broadcast of ours.

        Echoes come back in the order we sent them; a match also forgets the
        broadcasts before it (their echoes cannot come any more).
        """
        if payload not in self._pending:
            return False
        while self._pending.popleft() != payload:
            pass
        return True

    def clear(self) -> None:
        """A new link: no echo of the old one will come."""
        self._pending.clear()

    def __len__(self) -> int:
        return len(self._pending)
