"""Leaving as the last moderator of an occupied room (spec §14.4, §12.5).

A room whose last moderator is gone has nobody who can admit, re-key or
commit, so :meth:`RoomSession.leave` refuses to let the last moderator of a
room that still has other members leave; it must hand over first
(``transfer_moderator``) or end the room.  This module holds that rule and
the member it suggests handing over to, for the session to answer and for
clients to ask (a client keeps no copy of either).
"""

from __future__ import annotations

from e2ee.room.roster import RosterState


def must_hand_over(roster: RosterState, me: bytes) -> bool:
    """True when ``me`` is the only moderator and other members remain."""
    return roster.is_moderator(me) and len(roster.members) > 1 and len(roster.moderators()) == 1


def suggested_successor(roster: RosterState, me: bytes) -> bytes | None:
    """Whom ``me`` should hand over to before leaving, or ``None`` if it may just leave.

    The suggestion is the first other member on stage in rank order, else the
    first other member in roster order.
    """
    if not must_hand_over(roster, me):
        return None
    on_stage = [mid for mid in roster.stage() if mid != me]
    if on_stage:
        return on_stage[0]
    return next(mid for mid in roster.members if mid != me)
