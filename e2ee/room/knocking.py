"""A joiner knocking: our KNOCK broadcast and its retry until admitted (spec §13.2, §13.3).

A joiner broadcasts a KNOCK, sealed under the admission key, when the relay
welcomes its link, and again every ``join_retry`` seconds while it is still
joining: moderators answer with offers (spec §13.3).  A welcome or a denial
stops the retry.  (A moderator's table of the knocks it has heard is
:mod:`e2ee.room.knocks`.)
"""

from __future__ import annotations

from collections.abc import Callable

from e2ee.envelope import EnvelopeType
from e2ee.room import seal
from e2ee.room.joiner import Joiner
from e2ee.room.outbox import Outbox


class Knocking:
    """The KNOCK we broadcast and when it is sent again (spec §13.2); owns ``retry_at``."""

    __slots__ = ("_joiner", "_outbox", "_period", "_rng", "_room_id", "retry_at")

    def __init__(
        self,
        joiner: Joiner,
        room_id: bytes,
        rng: Callable[[int], bytes],
        outbox: Outbox,
        period: float,
    ) -> None:
        self._joiner = joiner
        self._room_id = room_id
        self._rng = rng
        self._outbox = outbox
        self._period = period
        self.retry_at: float | None = None

    def send(self, admission_key: bytes, now: float) -> None:
        """Broadcast a KNOCK; moderators answer with offers (spec §13.3)."""
        knock = seal.seal_admission(admission_key, self._room_id, self._joiner.knock(), self._rng)
        self._outbox.send(EnvelopeType.CONTROL, 0, knock)
        self.retry_at = now + self._period

    def due(self, now: float) -> bool:
        """Whether the retry is due at ``now`` (it is then cleared until the next send)."""
        if self.retry_at is None or now < self.retry_at:
            return False
        self.retry_at = None
        return True

    def stop(self) -> None:
        """A welcome or a denial came: no more retries (spec §13.5)."""
        self.retry_at = None
