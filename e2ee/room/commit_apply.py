"""Applying a verified commit, step by step (spec §12.3 steps 3–6, §12.5, §15.2, §16.3).

A commit that opened under an epoch's control key is placed on our chain
(:meth:`e2ee.room.chain.Chain.place`).  Only the next one is applied: its
signer must be a moderator of our roster (:func:`authorize`), its
``key_confirm`` must match the key it leads to when we can compute that key
(:func:`key_confirmed`), and then its ops change the roster
(:func:`apply_ops`) and it yields the next epoch key, or a wait for a
re-key's fresh secret (:func:`epoch_key_after`).  Every other placement is
counted, and the ones that betray the relay are alerts (:func:`refusal`).

These functions keep no state of their own: they read and update the
collaborators they are given and return what the session must route.
"""

from __future__ import annotations

from dataclasses import dataclass

from e2ee.room import keys, succession
from e2ee.room.chain import Placement
from e2ee.room.chair import Chair
from e2ee.room.commit import Commit, key_confirmation
from e2ee.room.commit_effects import members_before
from e2ee.room.fresh import FreshSecrets
from e2ee.room.roster import Member, RosterState


@dataclass(frozen=True, slots=True)
class Refusal:
    """A commit not applied: the counter it bumps, or (for none) the alert it raises."""

    counter: str | None
    alert: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Before:
    """What a commit's ops changed from: the members they name, and the hand queue."""

    members: dict[bytes, Member | None]
    hands: list[bytes]


def refusal(
    place: Placement, commit: Commit, live: bool, current: int, chair: Chair
) -> Refusal | None:
    """None if ``commit`` is the next on our chain; else why it is not applied (§12.5, §16.3).

    A known commit seen again live below our epoch is a replay (rollback); a
    commit of ours that lost its link is counted once; a rival child of a head
    we hold lost a race in relay order; one off our chain is a split view.
    """
    if place is Placement.NEXT:
        return None
    if place is Placement.KNOWN:
        replayed = live and commit.epoch < current
        alert = ("rollback", f"replayed commit of epoch {commit.epoch}") if replayed else None
        return Refusal("duplicate_commit", alert)
    if chair.was_lost(commit.head):
        return Refusal("own_commit_lost")
    if place is Placement.RACE:
        return Refusal("stale_commit")
    if place is Placement.FORK:
        return Refusal(None, ("split_view", f"commit of epoch {commit.epoch} is not on our chain"))
    return Refusal("future_commit")


def authorize(roster: RosterState, commit: Commit) -> None:
    """Raise UNAUTHORIZED unless ``commit``'s signer moderates ``roster``, or is its
    deputy taking the chair (spec §12.3 step 4, §12.2)."""
    succession.authorize_commit(roster, commit)


def key_confirmed(
    commit: Commit, prev_key: bytes | None, chair: Chair, secrets: FreshSecrets
) -> bool:
    """Whether ``commit``'s ``key_confirm`` matches the key it leads to (spec §12.3 step 5).

    A re-key commit whose fresh secret has not come yet is checked when it
    comes (:class:`~e2ee.room.fresh.FreshSecrets`); without our previous key
    (catching up through a sync) there is nothing to check against.
    """
    if prev_key is None:
        return True
    fresh: bytes | None = b""
    if commit.rekey:
        fresh = chair.own_fresh(commit) or secrets.peek_early(commit.epoch, commit.head)
    return fresh is None or key_confirmation(prev_key, fresh) == commit.key_confirm


def apply_ops(roster: RosterState, commit: Commit) -> Before:
    """Apply ``commit``'s ops to ``roster``; return what they changed from (spec §12.2)."""
    before = Before(members_before(commit, roster), list(roster.hands))
    roster.apply_ops(list(commit.ops))
    return before


def epoch_key_after(
    commit: Commit,
    prev_key: bytes | None,
    own_fresh: bytes | None,
    secrets: FreshSecrets,
    now: float,
) -> tuple[bytes | None, bool]:
    """``K_e`` of ``commit``'s epoch, and whether it is a re-key (spec §15.1, §15.2).

    No key when we hold no previous one (a sync's key comes at its end) or
    when a re-key's fresh secret has not come: ``secrets`` then waits for it,
    checked against the commit's ``key_confirm``.  ``own_fresh`` is the secret
    of our own commit in flight.
    """
    if prev_key is None:
        secrets.cancel()
        return None, False
    if not commit.rekey:
        return keys.next_epoch_key(prev_key, commit.head), False
    fresh = own_fresh
    if fresh is None:
        fresh = secrets.take_early(commit.epoch, commit.head)
    if fresh is None:
        secrets.wait(commit.epoch, commit.head, prev_key, commit.key_confirm, commit.signer, now)
        return None, False
    return keys.next_epoch_key(prev_key, commit.head, fresh), True
