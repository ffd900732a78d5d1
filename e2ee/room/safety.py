"""The room safety code people compare out of band (spec §16.1).

It is derived from the security-relevant state only: who is a member (by
identity key) and who may moderate and speak.  Raised hands, invitations,
the admission policy, display names and session keys do not enter it, so it
changes only when one of those facts changes, and every change is reported
with its reason (:func:`change_reason`).  Split views and rollbacks of the
whole chain are detected by comparing heads (spec §16.2, §16.3), not by the
code.
"""

from __future__ import annotations

from collections.abc import Mapping

from e2ee import kdf
from e2ee.room import labels
from e2ee.room.roster import Member, RosterState

_GROUPS = 6


def safety_input(room_id: bytes, roster: RosterState) -> bytes:
    """``room_id || (identity || role)*``, members sorted by identity key (spec §16.1)."""
    return room_id + b"".join(roster.safety_entries())


def room_safety_code(room_id: bytes, roster: RosterState) -> str:
    """Six groups of five digits of ``labelled_hash(SAFETY_CODE, safety_input)`` (spec §16.1)."""
    digest = kdf.labelled_hash(labels.SAFETY_CODE, safety_input(room_id, roster))
    groups = [int.from_bytes(digest[5 * i : 5 * i + 5], "big") % 100_000 for i in range(_GROUPS)]
    return " ".join(f"{g:05d}" for g in groups)


def change_reason(before: Mapping[bytes, Member | None], roster: RosterState) -> str | None:
    """Why a commit changed the code, from the members its ops touched; None if it did not.

    ``before`` maps each member an op named to its entry before the commit.
    The reason counts members who joined, left and changed role; it names no one.
    """
    joined = left = moved = 0
    for mid, old in before.items():
        new = roster.members.get(mid)
        if old is None and new is not None:
            joined += 1
        elif old is not None and new is None:
            left += 1
        elif old is not None and new is not None and old.role is not new.role:
            moved += 1
    if not (joined or left or moved):
        return None
    parts = [
        f"{n} member{'s' if n > 1 else ''} {what}"
        for n, what in ((joined, "joined"), (left, "left"), (moved, "changed role"))
        if n
    ]
    return ", ".join(parts)
