"""Who holds the chair when the last moderator leaves or is gone (spec §12.2, §14.4).

Leaving on purpose: a room whose last moderator is gone has nobody who can
admit, re-key or commit, so :meth:`RoomSession.leave` refuses to let the last
moderator of a room that still has other members leave silently; it hands
over first (``transfer_moderator``), ends the room, or leaves it to the deputy
(:func:`must_hand_over`, :func:`suggested_successor`).

Vanishing: while a room has one moderator and other members, that moderator
names a deputy (``DEPUTY``, spec §12.2) in the commits it makes anyway
(:func:`deputy_op`).  When no moderator can be reached and every moderator's
absence timer has run out, or the last moderator said it leaves, the deputy
commits ``ROLE(self, 2)`` signed by itself (:func:`take_over_ops`); members
accept exactly that commit from exactly the roster's deputy
(:func:`authorize_commit`), a rule that depends on the roster only, never on
what each member observed, so the room cannot split over it.  Clients keep
no copy of any of this.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from e2ee.errors import ErrorCode, RemoteProtocolError
from e2ee.room.commit import Commit
from e2ee.room.roster import Op, OpCode, Role, RosterState, op_deputy, op_role

#: ops that can change who should be deputy
_SHAPING = frozenset({OpCode.ADD, OpCode.REMOVE, OpCode.ROLE})


def must_hand_over(roster: RosterState, me: bytes) -> bool:
    """True when ``me`` is the only moderator and other members remain."""
    return roster.is_moderator(me) and len(roster.members) > 1 and len(roster.moderators()) == 1


def suggested_successor(roster: RosterState, me: bytes) -> bytes | None:
    """Whom ``me`` should hand over to before leaving, or ``None`` if it may just leave.

    The suggestion is the first other member on stage in rank order, else the
    first other member in roster order (spec §12.2).
    """
    if not must_hand_over(roster, me):
        return None
    on_stage = [mid for mid in roster.stage() if mid != me]
    if on_stage:
        return on_stage[0]
    return next(mid for mid in roster.members if mid != me)


def wanted_deputy(roster: RosterState) -> bytes | None:
    """The deputy a room with exactly one moderator and other members has (spec §12.2)."""
    moderators = roster.moderators()
    return suggested_successor(roster, moderators[0]) if len(moderators) == 1 else None


def deputy_op(roster: RosterState, ops: Sequence[Op]) -> Op | None:
    """The ``DEPUTY`` op a moderator appends to a commit of ``ops`` on ``roster``, if any.

    ``ops`` are valid on ``roster`` (the chair checked them).  Only ops that
    change who is a member or on stage can change the deputy, so other
    commits cost nothing here.
    """
    if not any(op[0] in _SHAPING for op in ops):
        return None
    after = roster.copy()
    after.apply_ops(list(ops))
    wanted = wanted_deputy(after)
    return None if wanted is None or wanted == after.deputy else op_deputy(wanted)


def take_over_ops(me: bytes) -> list[Op]:
    """The deputy's take-over commit: ``ROLE(me, 2)`` and nothing else (spec §12.2)."""
    return [op_role(me, Role.MODERATOR)]


def taking_over(roster: RosterState | None, me: bytes, queued: Sequence[Op]) -> bool:
    """Whether ``queued`` is ``me``'s take-over and ``me`` is still the deputy: one that
    lost a race to a commit that named another deputy is not sent (spec §12.2)."""
    return roster is not None and roster.deputy == me and list(queued) == take_over_ops(me)


def is_take_over(commit: Commit) -> bool:
    """Whether ``commit`` is a take-over: its only op promotes its signer, no re-key."""
    return not commit.rekey and list(commit.ops) == take_over_ops(commit.signer)


def authorize_commit(roster: RosterState, commit: Commit) -> None:
    """Spec §12.3 step 4: the signer is a moderator at the parent epoch, or the
    parent roster's deputy and the commit is its take-over (spec §12.2)."""
    if roster.is_moderator(commit.signer):
        return
    if roster.deputy == commit.signer and is_take_over(commit):
        return
    raise RemoteProtocolError("commit signer is not a moderator", ErrorCode.UNAUTHORIZED)


def may_take_over(
    roster: RosterState,
    me: bytes,
    present: Callable[[bytes], bool],
    leaving: bytes | None = None,
) -> bool:
    """Whether ``me``, the deputy, takes the chair now (spec §12.2).

    ``present(m)`` is whether moderator ``m`` may still be there: its slot is
    known or its absence timer is still running.  ``leaving`` is a moderator
    that has just said it leaves.
    """
    if roster.deputy != me:
        return False
    return not any(present(m) for m in roster.moderators() if m != leaving)


def gone_moderators(
    roster: RosterState, me: bytes, reachable: Callable[[bytes], bool]
) -> list[bytes]:
    """The other moderators a new chair cannot reach after its take-over (spec §12.2)."""
    return [m for m in roster.moderators() if m != me and not reachable(m)]
