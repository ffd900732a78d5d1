"""A member's life in a room as a state machine (spec §12.2, §13.3, §13.5, §14.4).

A session starts JOINING; it becomes a MEMBER when a welcome that verifies
back to the invite's founder admits it (or at once, for the founder), or ends
DENIED.  A member's life ends REMOVED (a commit removes it), ENDED (a commit
ends the room) or LEFT (it left).  The whole machine is :data:`TRANSITIONS`:
:func:`transition` looks a move up and raises :class:`LocalProtocolError` for
any move the table does not list.

One move out of a final state is listed: REMOVED -> ENDED.  A single commit
may remove this member and then end the room (END is always a commit's last
op, spec §12.2); the room has then ended for everyone, this member included.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from e2ee.errors import LocalProtocolError


class SessionState(StrEnum):
    """Where a session is in its life (spec §13.3, §13.5).  Compares equal to its name."""

    JOINING = "joining"
    MEMBER = "member"
    REMOVED = "removed"
    ENDED = "ended"
    LEFT = "left"
    DENIED = "denied"

    @property
    def active(self) -> bool:
        """Joining or a member: the session still takes part in the room."""
        return self is SessionState.JOINING or self is SessionState.MEMBER


TRANSITIONS: Final[frozenset[tuple[SessionState, SessionState]]] = frozenset(
    {
        (SessionState.JOINING, SessionState.MEMBER),  # welcomed, or founded the room
        (SessionState.JOINING, SessionState.DENIED),  # a denial that verifies
        (SessionState.MEMBER, SessionState.REMOVED),  # a commit removes us
        (SessionState.MEMBER, SessionState.ENDED),  # a commit ends the room
        (SessionState.MEMBER, SessionState.LEFT),  # leave()
        (SessionState.REMOVED, SessionState.ENDED),  # the same commit then ends the room
    }
)


def transition(current: SessionState, target: SessionState) -> SessionState:
    """``target`` if the table allows moving there from ``current``; else raise."""
    if (current, target) not in TRANSITIONS:
        raise LocalProtocolError(f"a session cannot go from {current} to {target}")
    return target
