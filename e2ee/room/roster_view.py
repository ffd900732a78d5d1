"""What the driver is shown of the roster: member views, safety code, digest (spec §16.1, §16.2).

A :class:`~e2ee.room.config.MemberView` per member, in roster order, with
whether its hand is raised and whether its session says it records the
room (advisory, spec §14.4).  The room safety code (spec §16.1) is computed
once per ``(epoch, head)``: it changes only with the chain.  The roster
digest is the ``state_digest`` of our snapshot of the current epoch (spec
§16.2), for comparing out of band.
"""

from __future__ import annotations

from e2ee.room.commit import snapshot_body, state_digest
from e2ee.room.config import MemberView
from e2ee.room.recording import RecordingMarks
from e2ee.room.roster import RosterState
from e2ee.room.safety import room_safety_code


def member_views(roster: RosterState | None, recording: RecordingMarks) -> dict[bytes, MemberView]:
    """The roster as the driver sees it, in roster order (empty before admission)."""
    if roster is None:
        return {}
    hands = set(roster.hands)
    return {
        m.id: MemberView(m.id, m.name, m.role, m.id in hands, recording.marked(m))
        for m in roster.members.values()
    }


def roster_digest(room_id: bytes, roster: RosterState, epoch: int, head: bytes) -> bytes:
    """``state_digest`` of the roster at ``(epoch, head)`` (spec §16.2)."""
    return state_digest(snapshot_body(room_id, epoch, head, roster))


class SafetyCodes:
    """The safety code of our current head, kept until the head moves (spec §16.1)."""

    __slots__ = ("_at", "_code", "_room_id")

    def __init__(self, room_id: bytes) -> None:
        self._room_id = room_id
        self._at: tuple[int, bytes] | None = None
        self._code = ""

    def code(self, roster: RosterState, epoch: int, head: bytes) -> str:
        """Six groups of five digits of who is in the room and in which role (spec §16.1)."""
        if self._at != (epoch, head):
            self._at, self._code = (epoch, head), room_safety_code(self._room_id, roster)
        return self._code
