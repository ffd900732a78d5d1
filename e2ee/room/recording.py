"""Recording marks: which members say that they record the room (spec §14.4 RECORDING).

A member's client that records announces it with a signed RECORDING control
message; every receiver keeps the mark for that member *session* (identity
key and session key), so a member who rejoins starts unmarked.  The mark is
advisory: an honest client announces, a dishonest one records in silence
(spec §19, §20); nothing here can enforce it.

Each RECORDING message prunes the marks of sessions no longer in the
roster, so the table never holds more entries than the roster had at the
last one (the roster itself is bounded, spec §12.1).
"""

from __future__ import annotations

from collections.abc import Iterable

from e2ee.room.roster import Member


class RecordingMarks:
    """Member sessions that announced they record; bounded by the roster."""

    def __init__(self) -> None:
        self._marks: set[tuple[bytes, bytes]] = set()

    def set(self, member: Member, on: bool, roster: Iterable[Member]) -> bool:
        """Mark or unmark ``member``'s session; whether its mark changed.

        Marks of sessions no longer in ``roster`` are dropped at the same time.
        """
        present = {(m.id, m.session_key) for m in roster}
        self._marks &= present
        key = (member.id, member.session_key)
        before = key in self._marks
        if on and key in present:
            self._marks.add(key)
        else:
            self._marks.discard(key)
        return before != (key in self._marks)

    def marked(self, member: Member) -> bool:
        """Whether ``member``'s current session announced that it records."""
        return (member.id, member.session_key) in self._marks
