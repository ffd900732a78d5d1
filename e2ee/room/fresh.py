"""Waiting for a re-key commit's fresh secret (spec §15.2, §12.3).

A re-key commit is applied when the relay delivers it, but its epoch key
needs the committer's fresh secret, which comes over a pair channel and may
come before the commit, after it, or never.  This module holds that wait:
the one commit waiting (checked by its ``key_confirm`` when the secret
comes), secrets that came early (at most :data:`MAX_EARLY` of them, for
epochs ahead of ours), and when to ask a moderator for a sync instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from e2ee.room import keys
from e2ee.room.commit import key_confirmation

MAX_EARLY = 64  # fresh secrets kept for epochs ahead of ours (spec §16.7)


@dataclass
class AwaitingFresh:
    """A re-key commit applied whose fresh secret has not come yet (spec §15.2)."""

    epoch: int
    head: bytes
    prev_key: bytes
    confirm: bytes  # the commit's key_confirm, checked when the secret comes (spec §12.3)
    since: float  # when the commit was applied: the sender's grace counts from here
    ask_at: float  # when to ask a moderator for a sync next
    committer: bytes  # whom to ask first


class Outcome(Enum):
    """What a fresh secret that came did."""

    KEYED = auto()  # it completes the awaited commit: the epoch key is ready
    MISMATCH = auto()  # it is for the awaited commit but fails its key confirmation
    HELD = auto()  # for a later epoch: kept (within MAX_EARLY) until its commit applies
    IGNORED = auto()  # for nothing we wait for


class FreshSecrets:
    """The awaited re-key and the early secrets (spec §15.2)."""

    __slots__ = ("_early", "_first_ask", "_retry", "awaiting")

    def __init__(self, first_ask: float, retry: float) -> None:
        self._first_ask = first_ask  # fresh_timeout (spec §15.2)
        self._retry = retry  # sync_after (spec §16.4)
        self.awaiting: AwaitingFresh | None = None
        self._early: dict[tuple[int, bytes], bytes] = {}

    def peek_early(self, epoch: int, head: bytes) -> bytes | None:
        """An early secret for the commit ``(epoch, head)``, kept in place."""
        return self._early.get((epoch, head))

    def take_early(self, epoch: int, head: bytes) -> bytes | None:
        """An early secret for the commit ``(epoch, head)``, removed."""
        return self._early.pop((epoch, head), None)

    def wait(
        self, epoch: int, head: bytes, prev_key: bytes, confirm: bytes, committer: bytes, now: float
    ) -> None:
        """A re-key commit applied without its secret: wait, ask ``fresh_timeout`` from now."""
        ask_at = now + self._first_ask
        self.awaiting = AwaitingFresh(epoch, head, prev_key, confirm, now, ask_at, committer)

    def cancel(self) -> None:
        """The epoch key came another way (a sync or a snapshot): stop waiting."""
        self.awaiting = None

    def received(
        self, epoch: int, head: bytes, fresh: bytes, current: int
    ) -> tuple[Outcome, bytes | None]:
        """A fresh secret came; with KEYED, the new epoch key ``K_e`` (spec §15.1)."""
        aw = self.awaiting
        if aw is not None and aw.epoch == epoch and aw.head == head:
            if key_confirmation(aw.prev_key, fresh) != aw.confirm:
                return Outcome.MISMATCH, None  # keep waiting; the sync timer asks again
            self.awaiting = None
            return Outcome.KEYED, keys.next_epoch_key(aw.prev_key, head, fresh)
        if epoch > current and len(self._early) < MAX_EARLY:
            self._early[(epoch, head)] = fresh
            return Outcome.HELD, None
        return Outcome.IGNORED, None

    def next_due(self) -> float | None:
        """When to ask for a sync next, if waiting."""
        return self.awaiting.ask_at if self.awaiting else None

    def ask_due(self, now: float) -> bytes | None:
        """The committer to ask for a sync if the wait is overdue at ``now`` (re-armed)."""
        aw = self.awaiting
        if aw is None or now < aw.ask_at:
            return None
        aw.ask_at = now + self._retry
        return aw.committer
