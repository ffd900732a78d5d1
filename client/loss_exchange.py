"""One client's receiver loss reports, both ways (spec §14.4 LOSS_REPORT).

As a listener on the stage it measures each speaker's loss
(:class:`~client.loss_report.LossMeter`) and every ``REPORT_INTERVAL`` sends
each speaker heard its share by unicast (``RoomSession.report_loss``).  As a
speaker on a client with a datagram channel it feeds the reports it receives
to a :class:`~client.fec_policy.FecPolicy` and sets its encoder's expected
loss from it; a TLS-only client (``follow=False``) keeps FEC off.

Only stage members report: the audience is served over the link (spec §23.6),
hears the same upstream losses as the stage, and a report from each of
thousands of listeners would cost every speaker a signature check apiece.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from client.audio.encoder import OpusFrameEncoder
from client.fec_policy import FecPolicy
from client.loss_report import REPORT_INTERVAL, LossMeter
from e2ee.room import events as ev
from e2ee.room.session import RoomSession


class LossExchange:
    """Measures and reports as a listener; follows reports as a speaker (module docstring)."""

    def __init__(
        self,
        room: Callable[[], RoomSession],
        act: Callable[..., Any],
        encoder: Callable[[], OpusFrameEncoder | None],
        *,
        follow: bool,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self._room = room
        self._clock = clock
        self._act = act
        self._encoder = encoder
        self._follow = follow
        self.meter = LossMeter()
        self.policy = FecPolicy()

    def __call__(self, event: ev.Event) -> None:
        """A room event (``RoomClient.on_room_event``)."""
        if isinstance(event, ev.AudioReceived):
            self.meter.frame(event.member, event.seq)
        elif isinstance(event, ev.LossReported) and self._follow:
            self._apply(self.policy.report(event.member, event.loss_permille, self._clock()))

    def _apply(self, expected_loss: int) -> None:
        encoder = self._encoder()
        if encoder is not None:
            encoder.set_expected_loss(expected_loss if self._follow else 0)

    def report(self) -> None:
        """Close the window: report to each speaker heard (stage members only)."""
        room = self._room()
        reports = self.meter.take()
        role = room.role
        if room.state == "member" and role is not None and role.on_stage:
            for speaker, permille in reports:
                self._act(room.report_loss, speaker, permille)
        self._apply(self.policy.update(self._clock()))

    async def run(self) -> None:
        """Report every ``REPORT_INTERVAL`` seconds (and let the policy expire old reports)."""
        while True:
            await trio.sleep(REPORT_INTERVAL)
            self.report()
