"""Waiting at the door: commands typed before admission, and how long to wait for an answer.

A joiner knocks and waits (spec §13.3).  Commands that need membership
(``hand``, ``chat``, ...) typed meanwhile wait here, at most
:data:`MAX_QUEUED` of them, and are carried out in order once admitted.  A
moderator's answer (a unicast to this link) means someone is deciding, so
the wait goes on for as long as it takes; no answer at all within the wait
means nobody who can admit is in the room.
"""

from __future__ import annotations

from collections import deque

import trio

from client.actions import Action

MAX_QUEUED = 16


class Door:
    """The door state of one joining client."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self._queued: deque[Action] = deque()
        self._answered = trio.Event()

    def answered(self) -> None:
        """A moderator answered the knock (or we are in): keep waiting, however long."""
        self._answered.set()

    def admitted(self) -> None:
        self._answered.set()

    def queue(self, action: Action) -> str:
        """Keep ``action`` until admitted; the line to show the user."""
        if len(self._queued) >= MAX_QUEUED:
            return (
                f"not admitted yet and {MAX_QUEUED} commands are already waiting: "
                f"'{action.kind}' dropped"
            )
        self._queued.append(action)
        return f"not admitted yet: '{action.kind}' will be carried out once you are in"

    def take_queued(self) -> list[Action]:
        """The waiting commands, oldest first (the queue is then empty)."""
        actions = list(self._queued)
        self._queued.clear()
        return actions

    async def wait_for_answer(self) -> bool:
        """True once a moderator answered; False if none did within ``wait`` seconds."""
        with trio.move_on_after(self.wait):
            await self._answered.wait()
            return True
        return False
