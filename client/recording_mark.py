"""This client says that it records the room (spec §14.4 RECORDING, advisory).

A client started with ``--record`` announces it when it is admitted and
again after each member joins (newcomers cannot read earlier control
messages), so every member's view shows the recording mark next to its
name.  Nothing enforces this: it is what an honest client does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from e2ee.errors import LocalProtocolError
from e2ee.room.events import Admitted, Event, MemberJoined
from e2ee.room.session import RoomSession

Act = Callable[..., Any]
"""Calls a room action and flushes its effects (:meth:`client.session.ClientSession.act`)."""


class RecordingAnnouncer:
    """A room-event hook: re-announces "I record" whenever someone new could not know it."""

    def __init__(self, room: RoomSession, act: Act) -> None:
        self.room = room
        self.act = act
        self.on = True

    def __call__(self, event: Event) -> None:
        if self.on and isinstance(event, Admitted | MemberJoined):
            self.announce(True)

    def announce(self, on: bool) -> None:
        """Send the mark now (``on=False``: this client stopped recording)."""
        self.on = on
        try:
            self.act(self.room.announce_recording, on)
        except LocalProtocolError:
            pass  # not (or no longer) a member: nobody to tell
