"""The catch-up decisions alone (spec §16.4): a sync's commits and key, an offered snapshot."""

from __future__ import annotations

import random

from e2ee.identity import IdentityKey
from e2ee.room import chair
from e2ee.room.catch_up import SyncKey, SyncStep, snapshot_refusal, sync_key, sync_step
from e2ee.room.chain import Chain
from e2ee.room.commit import Commit, Snapshot, key_confirmation, sign_commit
from e2ee.room.roster import Policy

ROOM_ID = bytes(range(32))
MOD = IdentityKey(random.Random(1).randbytes(32))
RNG = random.Random(2).randbytes


def history(n: int) -> list[Commit]:
    """A genesis and ``n`` empty commits after it, each on the previous head."""
    genesis, _, _ = chair.genesis(MOD, ROOM_ID, Policy.OPEN, bytes(32), "mod", RNG)
    commits = [genesis]
    for epoch in range(1, n + 1):
        confirm = key_confirmation(bytes(32), b"")
        commits.append(
            sign_commit(MOD, ROOM_ID, epoch, commits[-1].head, [], False, key_confirm=confirm)
        )
    return commits


def chain_at(commits: list[Commit]) -> Chain:
    chain = Chain(sync_after=1.0)
    for c in commits:
        chain.advance(c.epoch, c.head)
    return chain


def test_a_sync_commit_is_skipped_applied_or_a_split_by_where_it_falls() -> None:
    ours = history(3)
    theirs = history(3)  # another branch: same epochs, other heads (fresh signatures)
    chain = chain_at(ours[:3])
    assert sync_step(ours[1], chain) is SyncStep.HELD
    assert sync_step(ours[3], chain) is SyncStep.NEXT
    assert sync_step(theirs[1], chain) is SyncStep.OTHER
    assert sync_step(theirs[3], chain) is SyncStep.OFF_HEAD  # right epoch, other parent
    ahead = sign_commit(MOD, ROOM_ID, 4, ours[3].head, [], False, key_confirm=bytes(32))
    assert sync_step(ahead, chain) is SyncStep.OFF_HEAD  # skips an epoch


def test_a_sync_key_is_stale_foreign_installed_or_kept() -> None:
    chain = chain_at(history(2))
    k, other = b"k" * 32, b"o" * 32
    assert sync_key(1, chain, None, k, applied=True, awaiting=False) is SyncKey.STALE
    assert sync_key(2, chain, k, other, applied=False, awaiting=False) is SyncKey.FOREIGN
    assert sync_key(None, chain, None, k, applied=False, awaiting=False) is SyncKey.INSTALL
    assert sync_key(2, chain, k, k, applied=True, awaiting=False) is SyncKey.INSTALL
    assert sync_key(None, chain, k, k, applied=False, awaiting=True) is SyncKey.INSTALL
    assert sync_key(None, chain, k, k, applied=False, awaiting=False) is SyncKey.KEEP


def snapshot(epoch: int, head: bytes) -> Snapshot:
    _, roster, _ = chair.genesis(MOD, ROOM_ID, Policy.OPEN, bytes(32), "mod", RNG)
    return Snapshot(ROOM_ID, epoch, head, roster, MOD.public, b"", [])


def test_an_offered_snapshot_may_not_roll_back_or_leave_our_head() -> None:
    commits = history(2)
    chain = chain_at(commits)
    refusal = snapshot_refusal(snapshot(1, commits[1].head), chain)
    assert refusal is not None and refusal[0] == "rollback"
    refusal = snapshot_refusal(snapshot(2, commits[1].head), chain)
    assert refusal is not None and refusal[0] == "split_view"
    assert snapshot_refusal(snapshot(2, commits[2].head), chain) is None
    assert snapshot_refusal(snapshot(5, bytes(32)), chain) is None  # ahead: a catch-up
