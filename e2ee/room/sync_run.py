"""One moderator's sync read commit by commit as our chain advances (spec §16.4).

A SYNC carries the commits since the epoch we claimed and the key of the
newest.  Each commit is decoded and placed against our chain as it is then
(:func:`e2ee.room.catch_up.sync_step`): one we hold is skipped, the next one
is handed to the caller to authorize and apply, and one that shows another
commit at an epoch we hold, or does not chain onto our head, is a
``split_view`` alert that ends the sync.  The caller stops reading when a
commit fails to apply or it is no longer a member.  The sync's key is judged
(:mod:`e2ee.room.catch_up_keys`) only once every commit was read:
:attr:`SyncRun.last` is then the epoch it is for, when it carries commits.
"""

from __future__ import annotations

from collections.abc import Iterator

from e2ee import canonical
from e2ee.room.catch_up import SyncStep, sync_step
from e2ee.room.chain import Chain
from e2ee.room.commit import Commit, decode_commit
from e2ee.room.outbox import Outbox
from e2ee.room.pairs import Sync


class SyncRun:
    """How far one sync got: the commits it hands on, and what its key is for."""

    __slots__ = ("_chain", "_msg", "_outbox", "_room_id", "applied", "complete", "last")

    def __init__(self, msg: Sync, room_id: bytes, chain: Chain, outbox: Outbox) -> None:
        self._msg = msg
        self._room_id = room_id
        self._chain = chain
        self._outbox = outbox
        self.last: int | None = None  # the epoch of the newest commit read
        self.applied = False  # the caller applied one of its commits
        self.complete = False  # every commit was read

    def commits(self) -> Iterator[Commit]:
        """The sync's commits that chain onto our head, each once the one before applied."""
        for raw in self._msg.commits:
            commit = decode_commit(canonical.expect_bytes(raw, "commit"), self._room_id)
            self.last = commit.epoch
            step = sync_step(commit, self._chain)
            if step is SyncStep.HELD:
                continue
            if step is not SyncStep.NEXT:
                self._outbox.alert("split_view", step.value.format(commit.epoch))
                return
            yield commit
            self.applied = True  # resumed: the caller applied it and reads on
        self.complete = True
