"""Noticing that members are gone, and the deputy taking the chair (spec §12.2, §16.4).

The rules live in :mod:`e2ee.room.succession`; this module applies them to
what this member observes: the slots it knows (:class:`~e2ee.room.slots.Slots`)
and the absence timers it runs (:class:`~e2ee.room.absence.AbsenceTimers`).
A moderator "may be here" while its slot is known or its absence timer still
runs.  The chair, and the deputy for moderators, start a timer when the relay
says a link is gone; a timer that runs out is a removal the chair queues.
When no moderator may be here (or the last one said it leaves), the deputy
replaces its queued ops with its take-over commit; after that commit applies,
the moderators it cannot reach get a timer too, so they are removed unless
they answer.  Everything goes to the chair's op queue: sending a commit is
the caller's (:mod:`e2ee.room.commit_flush`).
"""

from __future__ import annotations

from e2ee.room import succession
from e2ee.room.absence import AbsenceTimers
from e2ee.room.chair import Chair
from e2ee.room.commit import Commit
from e2ee.room.roster import RemoveReason, RosterState, op_remove
from e2ee.room.slots import Slots


class TakeOver:
    """Absence timers started and ended, and the deputy's take-over queued (spec §12.2)."""

    __slots__ = ("_absence", "_chair", "_me", "_slots")

    def __init__(self, me: bytes, chair: Chair, slots: Slots, absence: AbsenceTimers) -> None:
        self._me = me
        self._chair = chair
        self._slots = slots
        self._absence = absence

    def may_be_here(self, member: bytes) -> bool:
        """Its slot is known, or its absence timer still runs (spec §16.4)."""
        return member in self._slots or member in self._absence

    def link_gone(self, owner: bytes, roster: RosterState, chairing: bool, now: float) -> bool:
        """The relay says ``owner``'s link is gone: True if we start its absence timer and
        should probe its old slot (the chair for anyone, the deputy for a moderator)."""
        deputy = roster.deputy == self._me and roster.is_moderator(owner)  # spec §12.2
        if owner in roster.members and (deputy or chairing):
            self._absence.start(owner, now)
            return True
        return False

    def remove_absent(self, member: bytes, roster: RosterState, chairing: bool) -> None:
        """``member``'s absence timer ran out: the chair removes it, reason LEFT (§16.4)."""
        if chairing and member in roster.members:
            self._chair.queue_op(op_remove(member, RemoveReason.LEFT))

    def queue_if_gone(self, roster: RosterState, leaving: bytes | None = None) -> bool:
        """Deputy: no moderator may be here (``leaving`` said it leaves), so queue the
        take-over in place of any queued ops; True if it did (spec §12.2)."""
        if not succession.may_take_over(roster, self._me, self.may_be_here, leaving):
            return False
        self._chair.queue[:] = succession.take_over_ops(self._me)
        return True

    def applied(self, commit: Commit, roster: RosterState, now: float) -> None:
        """After our own take-over applied, the moderators we cannot reach get a timer:
        removed unless they answer (spec §12.2)."""
        if commit.signer == self._me and succession.is_take_over(commit):
            for mid in succession.gone_moderators(roster, self._me, self._slots.__contains__):
                self._absence.start(mid, now)
