"""The per-member tables a member keeps, told when the roster changes (spec §12.2, §16.7).

Every table keyed by member id is bounded by the roster.  A member that
joins is known to this room from then on (re-admitted at once, spec §13.4),
and its old knock and control sequence go: its new session counts from
scratch (spec §14.3).  A member that leaves the roster is dropped from every
table: its slot, its batched leave and sync pacing, its audio state, its
control sequence and its absence timer.
"""

from __future__ import annotations

from e2ee.room.absence import AbsenceTimers
from e2ee.room.admitting import Admissions
from e2ee.room.chair import Chair
from e2ee.room.control_in import ControlIn
from e2ee.room.media import Media
from e2ee.room.slots import Slots


class MemberTables:
    """Tells every per-member table of a join or a leave (spec §16.7); owns no state."""

    __slots__ = ("_absence", "_admissions", "_chair", "_control_in", "_media", "_slots")

    def __init__(
        self,
        admissions: Admissions,
        control_in: ControlIn,
        slots: Slots,
        chair: Chair,
        media: Media,
        absence: AbsenceTimers,
    ) -> None:
        self._admissions = admissions
        self._control_in = control_in
        self._slots = slots
        self._chair = chair
        self._media = media
        self._absence = absence

    def joined(self, member: bytes) -> None:
        """``member`` is in the roster now: known, its old knock and replay state gone."""
        self._admissions.known.add(member)
        self._admissions.requests.pop(member, None)
        self._control_in.forget(member)

    def gone(self, member: bytes) -> None:
        """``member`` left the roster: every table drops what it kept of it."""
        self._slots.forget(member)
        self._chair.forget(member)
        self._media.forget_member(member)
        self._control_in.forget(member)
        self._absence.cancel(member)
