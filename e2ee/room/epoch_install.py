"""Moving to an epoch: the chain, its keys, and the payloads held for them (spec §14.3, §15.1).

When a commit applies, our chain advances to its ``(epoch, head)`` and the
epoch it supersedes starts its key grace (spec §15.4); when ``K_e`` of an
epoch arrives (derived from a commit, from a re-key's fresh secret, a sync,
a snapshot or a welcome), the epoch is recorded, its keys are held, and the
payloads held for its control key are released to be tried again (spec
§14.3).  A commit whose key is not known yet advances the chain without
keys: the re-key secret installs them later (spec §15.2).
"""

from __future__ import annotations

from e2ee.room.chain import Chain
from e2ee.room.epochs import EpochKeys
from e2ee.room.pending import PendingPayloads


class EpochInstall:
    """The chain and the epoch keys moved together (spec §15.1); owns no state."""

    __slots__ = ("_chain", "_held", "_keys")

    def __init__(self, chain: Chain, keys: EpochKeys, held: PendingPayloads) -> None:
        self._chain = chain
        self._keys = keys
        self._held = held

    def advance(self, epoch: int, head: bytes, key: bytes | None, now: float) -> None:
        """``(epoch, head)`` is current, with ``key`` if known; the old epoch's grace starts."""
        old = self._chain.advance(epoch, head)
        if key is not None:
            self.install(epoch, head, key)
        self._keys.supersede(old, now)

    def install(self, epoch: int, head: bytes, key: bytes) -> None:
        """``K_e`` of ``(epoch, head)`` arrived: hold it, release what waited for it."""
        self._chain.record(epoch, head)
        self._keys.install(epoch, key)
        if self._held:
            self._held.key_arrived(self._keys.control[epoch])
