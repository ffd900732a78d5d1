"""Catching up from a moderator's sync or snapshot: what to make of it (spec §16.4).

A SYNC carries the commits since the epoch we claimed and ``K_e`` of the
newest; a SNAPSHOT the signed roster of an epoch and its key.  Both come over
a pair channel from a current moderator, so they are authentic, but a
moderator on another branch, or an old copy, must not move us off our chain
or back in time.  These functions hold no state; they compare what was sent
with our :class:`~e2ee.room.chain.Chain` and say what to do.
"""

from __future__ import annotations

from enum import Enum

from e2ee.room.chain import Chain
from e2ee.room.commit import Commit, Snapshot


class SyncStep(Enum):
    """One commit of a sync against our chain; a value is the alert detail."""

    HELD = "held"  # at or before our epoch, with our head there (or none kept): skip
    NEXT = "next"  # chains onto our head: authorize and apply it
    OTHER = "sync shows another commit at epoch {}"  # split view
    OFF_HEAD = "sync commits do not chain onto our head"  # split view


def sync_step(commit: Commit, chain: Chain) -> SyncStep:
    """Where one of a sync's commits falls on our chain (spec §16.4)."""
    if commit.epoch <= chain.epoch:
        if chain.heads.get(commit.epoch) not in (None, commit.head):
            return SyncStep.OTHER
        return SyncStep.HELD
    if commit.epoch != chain.epoch + 1 or commit.parent != chain.head:
        return SyncStep.OFF_HEAD
    return SyncStep.NEXT


class SyncKey(Enum):
    """What to do with a sync's key once its commits are applied (spec §16.4)."""

    STALE = "stale"  # sent before a commit applied since: the key is for an older epoch
    FOREIGN = "foreign"  # we derived K_e ourselves, and this is another one
    INSTALL = "install"  # hold it for our current epoch
    KEEP = "keep"  # we hold this very key already


def sync_key(
    last: int | None,
    chain: Chain,
    held: bytes | None,
    offered: bytes,
    applied: bool,
    awaiting: bool,
) -> SyncKey:
    """The verdict on a sync's key, ``last`` the epoch of its newest commit if it has any."""
    if last is not None and last < chain.epoch:
        return SyncKey.STALE
    if held is not None and held != offered:
        return SyncKey.FOREIGN
    if applied or held is None or awaiting:
        return SyncKey.INSTALL
    return SyncKey.KEEP


def snapshot_refusal(snap: Snapshot, chain: Chain) -> tuple[str, str] | None:
    """``(alert kind, detail)`` if an offered snapshot would roll us back or off our head."""
    if snap.epoch < chain.epoch:
        return "rollback", f"offered a snapshot of epoch {snap.epoch} < {chain.epoch}"
    if snap.epoch == chain.epoch and snap.head != chain.head:
        return "split_view", "offered a snapshot with a different head"
    return None
