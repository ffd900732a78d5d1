"""Payloads held until their epoch key arrives (spec §14.3, §16.7).

A COMMIT or CONTROL payload sealed under an epoch key the member does not hold
yet (a commit or a re-key secret is still on its way), and a PAIRWISE payload
that reaches a joiner before its welcome, are kept here and retried when the
key arrives.  Everything here is unauthenticated, so the store is bounded in
entries (:data:`MAX_ENTRIES`), in bytes (:data:`MAX_BYTES`) and per payload
(:data:`MAX_PAYLOAD`).  When full it evicts the payload for the furthest
epoch first (the one least likely ever to open; junk claiming a far-future
epoch goes first), the oldest first within an epoch.  Payloads are grouped
by epoch so that releasing one epoch costs time in proportion to what it
releases, however many epochs wait.
"""

from __future__ import annotations

from collections import deque

from e2ee.envelope import EnvelopeType

MAX_ENTRIES = 4096
MAX_BYTES = 4 * 1024 * 1024
MAX_PAYLOAD = 64 * 1024  # a sealed commit (at most 32,768 bytes) or control message fits
NO_ROSTER = -1  # the group of payloads that came before the joiner had any roster

Held = tuple[EnvelopeType, int, bytes]


class PendingPayloads:
    """Bounded, epoch-grouped store of undecryptable-yet payloads (spec §16.7)."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self._by_epoch: dict[int, deque[Held]] = {}
        self._entries = 0
        self._bytes = 0
        self.max_entries = max_entries
        self.max_bytes = max_bytes

    def __len__(self) -> int:
        return self._entries

    @property
    def buffered_bytes(self) -> int:
        """Payload bytes held (at most ``max_bytes``)."""
        return self._bytes

    def epochs(self) -> list[int]:
        """The epochs that have payloads waiting, ascending."""
        return sorted(self._by_epoch)

    def add(self, epoch: int, etype: EnvelopeType, src: int, payload: bytes) -> int:
        """Keep a payload for ``epoch``; return how many payloads were dropped to make room.

        A payload longer than :data:`MAX_PAYLOAD` is not kept (returns 1).
        """
        if len(payload) > MAX_PAYLOAD:
            return 1
        dropped = 0
        while self._entries >= self.max_entries or self._bytes + len(payload) > self.max_bytes:
            far = max(self._by_epoch)
            if far < epoch:
                return dropped + 1  # everything held is nearer than this one
            self._pop_oldest(far)
            dropped += 1
        self._by_epoch.setdefault(epoch, deque()).append((etype, src, payload))
        self._entries += 1
        self._bytes += len(payload)
        return dropped

    def take(self, epoch: int) -> list[Held]:
        """Remove and return every payload waiting for ``epoch``, in arrival order."""
        group = self._by_epoch.pop(epoch, None)
        if group is None:
            return []
        self._entries -= len(group)
        self._bytes -= sum(len(p) for _, _, p in group)
        return list(group)

    def _pop_oldest(self, epoch: int) -> None:
        group = self._by_epoch[epoch]
        _, _, payload = group.popleft()
        if not group:
            del self._by_epoch[epoch]
        self._entries -= 1
        self._bytes -= len(payload)
