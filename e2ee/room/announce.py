"""Telling members where we are, and a moderator telling where the stage is (spec §16.4).

The relay gives each link a slot, so a member announces its (new) slot with
a signed ``ANNOUNCE [slot, ask]`` control message: a stage member to the
whole room, a listener to each moderator whose slot it knows (only they need
to reach a listener, with re-key secrets and syncs).  ``ask`` true asks the
receiver to answer with its own slot: a moderator asks so when a link joins
or it probes a link the relay says is gone, a new moderator when it takes
the stage.  A moderator answers a member that announced with ``SLOTS``: the
slots of the stage.  Nothing is sent before we are a member with a slot
(:mod:`e2ee.room.control_send`).
"""

from __future__ import annotations

from e2ee.room.control import ControlType
from e2ee.room.control_send import ControlSender
from e2ee.room.roster import RosterState
from e2ee.room.slots import Slots
from e2ee.room.state import SessionState


class Announcements:
    """Our ANNOUNCE and SLOTS control messages (spec §16.4); owns no state."""

    __slots__ = ("_me", "_sender", "_slots")

    def __init__(self, me: bytes, sender: ControlSender, slots: Slots) -> None:
        self._me = me
        self._sender = sender
        self._slots = slots

    def ours(self, state: SessionState, slot: int, roster: RosterState) -> None:
        """Our (new) slot: to the room if on stage, else to each moderator we can reach."""
        role = roster.role_of(self._me)
        if role is not None and role.on_stage:
            self._sender.send(ControlType.ANNOUNCE, [slot, True], state, slot)
            return
        for mid in roster.moderators():
            to = self._slots.get(mid)
            if to is not None and mid != self._me:
                self._sender.send(ControlType.ANNOUNCE, [slot, True], state, slot, to)

    def to_room(self, state: SessionState, slot: int | None, ask: bool) -> None:
        """Broadcast our slot, asking everyone for theirs if ``ask``."""
        if slot is not None:
            self._sender.send(ControlType.ANNOUNCE, [slot, ask], state, slot)

    def to_slot(self, to: int, state: SessionState, slot: int | None, ask: bool) -> None:
        """Our slot to slot ``to``, asking for its owner's if ``ask``."""
        if slot is not None:
            self._sender.send(ControlType.ANNOUNCE, [slot, ask], state, slot, to)

    def stage(
        self, to: int | None, state: SessionState, slot: int | None, roster: RosterState
    ) -> None:
        """Moderator: the stage's slots, to slot ``to`` or (None) the room."""
        entries = self._slots.entries(roster.stage())
        self._sender.send(ControlType.SLOTS, [entries], state, slot, to)
