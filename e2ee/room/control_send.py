"""Sending one control message: signed, sealed under the newest control key, queued (spec §14.2).

A member sends control messages only while it is a member and knows its own
relay slot (announcements carry it, spec §16.4); before that a message is
dropped, not queued.  :class:`~e2ee.room.control_out.ControlOut` numbers,
signs and seals it under ``C_e``; this module puts it on the outbox as a
CONTROL broadcast (echoed back to us, spec §17.3) or a UNICAST to one slot.
The session's state and slot are handed in on each call, so any collaborator
given this sender can send control messages without the session.
"""

from __future__ import annotations

from collections.abc import Callable

from e2ee.canonical import Value
from e2ee.envelope import EnvelopeType
from e2ee.room.chain import Chain
from e2ee.room.control import ControlType
from e2ee.room.control_out import ControlOut
from e2ee.room.epochs import EpochKeys
from e2ee.room.outbox import Outbox
from e2ee.room.state import SessionState


class ControlSender:
    """Our control messages onto the outbox (spec §14.2); owns no state of its own."""

    __slots__ = ("_chain", "_keys", "_numbered", "_outbox", "_rng")

    def __init__(
        self,
        numbered: ControlOut,
        keys: EpochKeys,
        chain: Chain,
        outbox: Outbox,
        rng: Callable[[int], bytes],
    ) -> None:
        self._numbered = numbered
        self._keys = keys
        self._chain = chain
        self._outbox = outbox
        self._rng = rng

    def send(
        self,
        ctype: ControlType,
        args: list[Value],
        state: SessionState,
        slot: int | None,
        to: int | None = None,
    ) -> None:
        """Broadcast (``to`` None) or unicast to slot ``to``; nothing unless a member with
        a slot holding a control key."""
        if state is not SessionState.MEMBER or slot is None:
            return
        payload = self._numbered.seal(ctype, args, self._keys, self._chain, self._rng)
        if payload is None:
            return
        if to is None:
            self._outbox.send(EnvelopeType.CONTROL, 0, payload)
        else:
            self._outbox.unicast(to, payload)
