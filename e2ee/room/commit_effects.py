"""What applying a commit means to one member, op by op (spec §12.2, §14.4, §16.1).

:func:`commit_effects` compares the roster before and after a commit and
lists, in op order, the events the driver hands out and the few things this
member must do about them (forget a member who left, answer its own role
change, pair with a new moderator, end or leave its session).  It is a pure
function of the commit and the two rosters.
"""

from __future__ import annotations

from dataclasses import dataclass

from e2ee.room.commit import Commit
from e2ee.room.events import (
    ChairTaken,
    Event,
    HandQueueChanged,
    InvitedToSpeak,
    MemberJoined,
    MemberLeft,
    Removed,
    RoleChanged,
    RoomEnded,
    RosterChanged,
    SafetyCodeChanged,
)
from e2ee.room.roster import REASON_OF, Member, OpCode, Role, RosterState
from e2ee.room.safety import change_reason
from e2ee.room.state import SessionState


@dataclass(frozen=True, slots=True)
class Joined:
    """``member`` is in the roster now: known to this room, its old knock and replay state gone."""

    member: bytes


@dataclass(frozen=True, slots=True)
class Gone:
    """``member`` left the roster: forget what was kept of it."""

    member: bytes


@dataclass(frozen=True, slots=True)
class MyRole:
    """Our own role is now ``role``."""

    role: Role


@dataclass(frozen=True, slots=True)
class Promoted:
    """``member`` became a moderator (it may be us)."""

    member: bytes


Effect = Event | Joined | Gone | MyRole | Promoted | SessionState


def members_before(commit: Commit, roster: RosterState) -> dict[bytes, Member | None]:
    """The roster entries of the members ``commit``'s ops name, before it applies."""
    before: dict[bytes, Member | None] = {}
    for op in commit.ops:
        if len(op) > 1 and isinstance(op[1], bytes):
            before[op[1]] = roster.members.get(op[1])
    return before


def commit_effects(
    commit: Commit,
    before: dict[bytes, Member | None],
    hands_before: list[bytes],
    roster: RosterState,
    me: bytes,
) -> list[Effect]:
    """The effects of ``commit`` on member ``me``, in op order; ``roster`` is the roster after."""
    out: list[Effect] = []
    still_member = True
    for op in commit.ops:
        code = op[0]
        if code == OpCode.END:
            out += [SessionState.ENDED, RoomEnded()]
            still_member = False
            continue
        if code == OpCode.POLICY:
            continue
        mid = op[1]
        assert isinstance(mid, bytes)
        if code == OpCode.ADD:
            m = roster.members.get(mid)
            if m is not None:
                out.append(Joined(mid))
                if mid != me:
                    out.append(MemberJoined(mid, m.name, m.role))
        elif code == OpCode.REMOVE:
            reason = REASON_OF[op[2]]
            out.append(Gone(mid))
            if mid == me:
                out += [SessionState.REMOVED, Removed(reason)]
                still_member = False
            else:
                out.append(MemberLeft(mid, reason))
        elif code == OpCode.ROLE:
            old, new = before.get(mid), roster.members.get(mid)
            if old is not None and new is not None:
                out.append(RoleChanged(mid, old.role, new.role))
                if mid == me:
                    out.append(MyRole(new.role))
                if new.role is Role.MODERATOR and old.role is not Role.MODERATOR:
                    out.append(Promoted(mid))
                    if commit.signer == mid:  # only a deputy's take-over (spec §12.2)
                        out.append(ChairTaken(mid))
        elif code == OpCode.INVITE and mid == me and op[2]:
            out.append(InvitedToSpeak())
    if roster.hands != hands_before:
        out.append(HandQueueChanged(tuple(roster.hands)))
    why = change_reason(before, roster)
    if why is not None and still_member:
        out.append(SafetyCodeChanged(commit.epoch, why))
    out.append(RosterChanged(commit.epoch, commit.head))
    return out
