"""Payloads held until their key arrives (spec §14.3, §16.7).

A payload whose hint matches none of the member's keys may be a COMMIT or
CONTROL payload of an epoch whose key is still on its way (a commit or a
re-key secret is late), or a PAIRWISE payload that reaches a joiner before
its welcome.  It is kept here, and when a key arrives (:meth:`key_arrived`)
the payloads whose hint that key matches are released (:meth:`next_released`):
one hash per held payload per new key, never a decryption.  Everything here
is unauthenticated, so the store is bounded in entries (:data:`MAX_ENTRIES`),
in bytes (:data:`MAX_BYTES`) and per payload (:data:`MAX_PAYLOAD`); when full
it evicts the oldest payload first.
"""

from __future__ import annotations

from collections import deque

from e2ee.envelope import EnvelopeType
from e2ee.room.seal import HEAD_LEN, TAG_LEN, hint_matches

MAX_ENTRIES = 4096
MAX_BYTES = 4 * 1024 * 1024
MAX_PAYLOAD = HEAD_LEN + 65_536 + TAG_LEN  # a padded commit (at most 32,768 bytes) fits
MAX_KEYS = 64  # arrived keys not yet tried against the store

Held = tuple[EnvelopeType, int, bytes]


class PendingPayloads:
    """Bounded store of payloads no held key opens yet (spec §16.7)."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self._held: deque[Held] = deque()
        self._keys: deque[bytes] = deque(maxlen=MAX_KEYS)
        self._bytes = 0
        self.max_entries = max_entries
        self.max_bytes = max_bytes

    def __len__(self) -> int:
        return len(self._held)

    @property
    def buffered_bytes(self) -> int:
        """Payload bytes held (at most ``max_bytes``)."""
        return self._bytes

    def add(self, etype: EnvelopeType, src: int, payload: bytes) -> int:
        """Keep a payload; return how many payloads were dropped to make room.

        A payload longer than :data:`MAX_PAYLOAD` is not kept (returns 1).
        """
        if len(payload) > MAX_PAYLOAD:
            return 1
        dropped = 0
        while len(self._held) >= self.max_entries or self._bytes + len(payload) > self.max_bytes:
            _, _, old = self._held.popleft()
            self._bytes -= len(old)
            dropped += 1
        self._held.append((etype, src, payload))
        self._bytes += len(payload)
        return dropped

    def clear(self) -> None:
        """Drop everything held."""
        self._held.clear()
        self._keys.clear()
        self._bytes = 0

    def key_arrived(self, key: bytes) -> None:
        """A key the member now holds: held payloads under it become releasable."""
        if self._held:
            self._keys.append(key)

    def next_released(self) -> list[Held] | None:
        """Remove and return, in arrival order, the payloads under the next arrived key
        that opens any; None when no arrived key is left to try."""
        while self._keys:
            key = self._keys.popleft()
            out: list[Held] = []
            keep: deque[Held] = deque()
            for held in self._held:
                (out if hint_matches(key, held[2]) else keep).append(held)
            if out:
                self._held = keep
                self._bytes = sum(len(p) for _, _, p in keep)
                return out
        return None
