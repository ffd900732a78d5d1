"""What a room session hands its driver: envelopes for the relay link and events (spec §8, §18).

The session and the pipelines it runs append here, in the order things
happen; the driver drains both after every call (``data_to_send``,
``next_event``).  The outbox holds only what the calls since the last drain
produced: one envelope in or one action out produces a bounded number of
envelopes (at most one per roster member and a welcome's chunks, spec §16.7),
and a driver that drains after each call keeps it at that bound.

A security alert (spec §16.3) is an event and a counter ``alert_<kind>`` at once.
"""

from __future__ import annotations

from collections import Counter, deque

from e2ee.envelope import EnvelopeType, encode_envelope
from e2ee.room.echoes import Echoes
from e2ee.room.events import Event, SecurityAlert


class Outbox:
    """Encoded envelopes for the relay link under ``room_tag``, and events (spec §8)."""

    __slots__ = ("_counters", "echoes", "envelopes", "events", "room_tag")

    def __init__(self, room_tag: bytes, counters: Counter[str]) -> None:
        self.room_tag = room_tag
        self._counters = counters
        self.envelopes: list[bytes] = []
        self.events: deque[Event] = deque()
        self.echoes = Echoes()  # our CONTROL broadcasts, until the relay echoes them (§17.3)

    def send(self, etype: EnvelopeType, slot: int, payload: bytes) -> None:
        """Queue one envelope under the current room tag (spec §8); a CONTROL is echoed to us."""
        if etype is EnvelopeType.CONTROL:
            self.echoes.sent(payload)  # the relay echoes it to us in its place (spec §17.3)
        self.envelopes.append(encode_envelope(etype, self.room_tag, slot, payload))

    def unicast(self, slot: int, payload: bytes) -> None:
        """Queue a UNICAST to ``slot`` (spec §8)."""
        self.send(EnvelopeType.UNICAST, slot, payload)

    def alert(self, kind: str, detail: str) -> None:
        """A :class:`SecurityAlert` event, counted as ``alert_<kind>`` (spec §16.3)."""
        self._counters[f"alert_{kind}"] += 1
        self.events.append(SecurityAlert(kind, detail))

    def drain(self) -> bytes:
        """The queued envelopes, encoded and in order; empties the queue."""
        out = b"".join(self.envelopes)
        self.envelopes.clear()
        return out

    def next_event(self) -> Event | None:
        """The oldest queued event, or None."""
        return self.events.popleft() if self.events else None
