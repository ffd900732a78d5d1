"""Keys that come over a moderator's pair channel: re-key secrets and sync keys (spec §15.2, §16.4).

A re-key commit's fresh secret gives ``K_e`` of its epoch once it matches the
commit's key confirmation (:mod:`e2ee.room.fresh`); one that does not is a
``key_mismatch`` alert.  A sync's key, taken after its commits applied, is
judged by :func:`e2ee.room.catch_up.sync_key`: one sent before a commit we
applied since is counted (``stale_sync``) and dropped, another key than the
one we derived ourselves is a ``key_mismatch`` alert, and otherwise it is
held for our current epoch (any awaited fresh secret is then not needed).
Each method says whether a key was installed: the caller then retries the
payloads held for it (spec §14.3).
"""

from __future__ import annotations

from collections import Counter

from e2ee.room import catch_up
from e2ee.room.catch_up import SyncKey
from e2ee.room.chain import Chain
from e2ee.room.epoch_install import EpochInstall
from e2ee.room.epochs import EpochKeys
from e2ee.room.events import KeysRotated
from e2ee.room.fresh import FreshSecrets, Outcome
from e2ee.room.outbox import Outbox


class CatchUpKeys:
    """Re-key secrets and sync keys judged and installed (spec §15.2, §16.4); owns no state."""

    __slots__ = ("_chain", "_counters", "_fresh", "_install", "_keys", "_outbox")

    def __init__(
        self,
        outbox: Outbox,
        counters: Counter[str],
        chain: Chain,
        keys: EpochKeys,
        fresh: FreshSecrets,
        install: EpochInstall,
    ) -> None:
        self._outbox = outbox
        self._counters = counters
        self._chain = chain
        self._keys = keys
        self._fresh = fresh
        self._install = install

    def fresh_received(self, epoch: int, head: bytes, fresh: bytes) -> bool:
        """A re-key commit's fresh secret (spec §15.2); True if it keyed its epoch."""
        outcome, key = self._fresh.received(epoch, head, fresh, self._chain.epoch)
        if outcome is Outcome.MISMATCH:
            self._outbox.alert("key_mismatch", f"the re-key secret of epoch {epoch} is not the one")
        elif outcome is Outcome.KEYED:
            assert key is not None
            self._install.install(epoch, head, key)
            self._outbox.events.append(KeysRotated(epoch))
            return True
        return False

    def sync_key(self, last: int | None, offered: bytes, applied: bool) -> bool:
        """A sync's key once its commits applied, ``last`` the epoch of its newest commit
        if it has any (spec §16.4); True if it was installed."""
        chain = self._chain
        held = self._keys.get(chain.epoch)
        awaiting = self._fresh.awaiting is not None
        verdict = catch_up.sync_key(last, chain, held, offered, applied, awaiting)
        if verdict is SyncKey.STALE:
            self._counters["stale_sync"] += 1
        elif verdict is SyncKey.FOREIGN:
            # we derived K_e ourselves from confirmed commits: a different one is a lie
            self._outbox.alert("key_mismatch", f"a sync offers another key for epoch {chain.epoch}")
        elif verdict is SyncKey.INSTALL:
            self._fresh.cancel()
            self._install.install(chain.epoch, chain.head, offered)
            return True
        return False
