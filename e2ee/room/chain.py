"""The chain of commit heads a member has applied, and split-view checks (spec §12.5, §16.2, §16.3).

A member's view of the room is the chain ``(epoch, head)`` it applied in
relay order.  It keeps the heads of the last :data:`KEPT_HEADS` epochs so
that any head a member, a beacon, a sync or a commit claims can be checked
against its own: the same epoch with another head is a split view.  A
moderator claiming a later epoch means we are behind: after ``sync_after``
seconds without catching up, ask it for a sync (spec §16.4).
"""

from __future__ import annotations

from enum import Enum, auto

from e2ee.room.commit import GENESIS_PARENT, Commit

KEPT_HEADS = 4096  # heads kept to check claims against (spec §16.7)


class Placement(Enum):
    """Where a verified commit falls relative to our chain (spec §12.5, §16.3)."""

    NEXT = auto()  # it extends our head: authorize and apply it
    KNOWN = auto()  # we applied this very commit already
    RACE = auto()  # another child of a parent we hold: lost a race in relay order
    FORK = auto()  # at or before our next epoch, off our chain: a split view
    FUTURE = auto()  # beyond our next epoch: we will hear of it through a sync


class HeadCheck(Enum):
    """What a member's claimed ``(epoch, head)`` says about our chain (spec §16.2)."""

    AGREES = auto()  # nothing to learn
    CONFIRMS = auto()  # the same head at our current epoch
    SPLIT = auto()  # a different head at an epoch we hold
    BEHIND = auto()  # a later epoch, claimed by a moderator


class Chain:
    """Our epoch, head and recent heads; whether we are behind a moderator (spec §16.2–§16.4)."""

    __slots__ = (
        "_behind_epoch",
        "_behind_of",
        "_behind_since",
        "_sync_after",
        "epoch",
        "head",
        "heads",
    )

    def __init__(self, sync_after: float) -> None:
        self._sync_after = sync_after
        self.epoch = -1
        self.head = GENESIS_PARENT
        self.heads: dict[int, bytes] = {}
        self._behind_since: float | None = None
        self._behind_of: bytes | None = None
        self._behind_epoch = 0

    def advance(self, epoch: int, head: bytes) -> int:
        """``(epoch, head)`` is now current; the epoch it supersedes."""
        old = self.epoch
        self.epoch = epoch
        self.head = head
        self.heads[epoch] = head
        self.heads.pop(epoch - KEPT_HEADS, None)
        if self._behind_since is not None and self._behind_epoch <= epoch:
            self._behind_since = None
        return old

    def record(self, epoch: int, head: bytes) -> None:
        """An epoch whose key arrived: current if it is the newest (spec §15.2)."""
        self.epoch = max(self.epoch, epoch)
        if epoch == self.epoch:
            self.head = head
        self.heads[epoch] = head

    def place(self, commit: Commit) -> Placement:
        """Where ``commit`` falls relative to our chain (spec §12.5 step 3, §16.3)."""
        if commit.epoch == self.epoch + 1 and commit.parent == self.head:
            return Placement.NEXT
        if self.heads.get(commit.epoch) == commit.head:
            return Placement.KNOWN
        if commit.epoch > self.epoch + 1:
            return Placement.FUTURE
        if self.heads.get(commit.epoch - 1) == commit.parent:
            return Placement.RACE
        return Placement.FORK

    def check(
        self, author: bytes, epoch: int, head: bytes, moderator: bool, now: float
    ) -> HeadCheck:
        """``author``'s claimed ``(epoch, head)`` against ours (spec §16.2, §16.3)."""
        if epoch <= self.epoch:
            ours = self.heads.get(epoch)
            if ours is not None and ours != head:
                return HeadCheck.SPLIT
            if epoch == self.epoch and ours == head:
                return HeadCheck.CONFIRMS
            return HeadCheck.AGREES
        if not moderator:
            return HeadCheck.AGREES
        if self._behind_since is None:
            self._behind_since = now
            self._behind_of = author
            self._behind_epoch = epoch
        return HeadCheck.BEHIND

    def newest_heads(self, count: int) -> list[bytes]:
        """Our newest ``count`` heads, newest first, as far back as we hold them (spec §16.2)."""
        heads = []
        for e in range(self.epoch, max(-1, self.epoch - count), -1):
            h = self.heads.get(e)
            if h is None:
                break
            heads.append(h)
        return heads

    def sync_due(self) -> float | None:
        """When to ask for a sync, if behind."""
        return self._behind_since + self._sync_after if self._behind_since else None

    def behind_due(self, now: float) -> bytes | None:
        """If the wait is over at ``now``: stop waiting; the moderator to ask, if any."""
        if self._behind_since is None or now < self._behind_since + self._sync_after:
            return None
        self._behind_since = None
        return self._behind_of
