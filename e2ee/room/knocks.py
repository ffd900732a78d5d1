"""The moderator's table of pending knocks (spec §13.3, §16.7).

Join requests that wait for a moderator's decision are kept by member id, at
most :data:`MAX_PENDING_KNOCKS` of them; a new one beyond that evicts the
oldest.  An evicted knocker is not lost: it resends its request every 3 s
until admitted or denied, and its next request enters the table again.
"""

from __future__ import annotations

from typing import Generic, TypeVar

MAX_PENDING_KNOCKS = 256

V = TypeVar("V")


class PendingKnocks(dict[bytes, V], Generic[V]):
    """A dict of pending join requests that never holds more than its bound."""

    def __init__(self, bound: int = MAX_PENDING_KNOCKS) -> None:
        super().__init__()
        self.bound = bound
        self.evicted = 0

    def __setitem__(self, key: bytes, value: V) -> None:
        if key not in self:
            while len(self) >= self.bound:
                del self[next(iter(self))]
                self.evicted += 1
        super().__setitem__(key, value)
