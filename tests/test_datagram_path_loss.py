"""The datagram path on a lossy network (spec §23.5): partial loss stays, total loss falls back.

A virtual clock and a seeded loss model; the relay is a stand-in that answers
every PROBE that reaches it and sends a listener one MEDIA per 20 ms.
"""

from __future__ import annotations

import random

from e2ee.datagram_path import DatagramPath, PathState, PathTimers

T = PathTimers()
STEP = 0.005
FRAME = 0.02
ONE_WAY = 0.05


class LossyWire:
    """Each datagram, either way, is lost with probability ``loss``; the rest take 50 ms."""

    def __init__(self, loss: float, *, speaking: bool, listening: bool, seed: int = 7) -> None:
        self.path = DatagramPath(0.0)
        self.loss = loss
        self.speaking = speaking
        self.listening = listening
        self.rng = random.Random(seed)
        self.now = 0.0
        self.arrivals: list[float] = []
        self.time_in: dict[PathState, float] = dict.fromkeys(PathState, 0.0)
        self.moves = 0
        self.sent_by_datagram = 0
        self.frames = 0

    def _delivered(self) -> bool:
        return self.rng.random() >= self.loss

    def run(self, seconds: float) -> None:
        end = self.now + seconds
        next_frame = self.now
        while self.now < end - 1e-9:
            self.now = round(self.now + STEP, 6)
            was = self.path.state
            for due in [a for a in self.arrivals if a <= self.now]:
                self.arrivals.remove(due)
                self.path.heard(self.now)
            if self.now >= next_frame - 1e-9:
                next_frame += FRAME
                if self.listening and self._delivered():  # the relay's MEDIA to us
                    self.arrivals.append(self.now + ONE_WAY)
                if self.speaking:
                    self.frames += 1
                    if self.path.uses_datagrams:  # our MEDIA by datagram, else the link
                        self.path.sent(self.now)
                        self.sent_by_datagram += 1
            if self.now >= self.path.get_timer():
                probe = self.path.handle_timer(self.now)
                if probe is not None and self._delivered() and self._delivered():
                    self.arrivals.append(self.now + 2 * ONE_WAY)  # PROBE and PROBE_ACK
            self.moves += self.path.state is not was
            self.time_in[self.path.state] += STEP

    def share(self, state: PathState) -> float:
        return self.time_in[state] / sum(self.time_in.values())


def test_a_listener_on_a_path_losing_30_percent_stays_up() -> None:
    wire = LossyWire(0.30, speaking=False, listening=True)
    wire.run(60.0)
    # nothing heard for suspect_after (10 frames in a row lost: 0.3^10) never happens
    assert wire.share(PathState.UP) > 0.99 and wire.time_in[PathState.DEAD] == 0


def test_a_speaker_on_a_path_losing_30_percent_stays_on_datagrams_and_never_dies() -> None:
    wire = LossyWire(0.30, speaking=True, listening=False)
    wire.run(60.0)
    # A speaker that only sends hears only PROBE_ACKs: a probe and its answer
    # both arrive with probability 0.49, and about four unanswered probes in a
    # row (suspect_after) move its audio to the link until the next answer
    # (spec §23.5, "Partial loss").  It never dies, and most audio stays on UDP.
    assert wire.time_in[PathState.DEAD] == 0
    assert 0.8 < wire.share(PathState.UP) < 0.95
    assert wire.sent_by_datagram > 0.8 * wire.frames
    assert wire.moves < 60.0 / T.suspect_after  # at most one fall back per detection time


def test_a_stage_member_that_speaks_and_listens_at_30_percent_never_leaves_up() -> None:
    wire = LossyWire(0.30, speaking=True, listening=True)
    wire.run(60.0)
    assert wire.moves == 1 and wire.share(PathState.UP) > 0.99  # PROBING -> UP, then stays


def test_total_loss_falls_back_at_suspect_after_and_is_dead_at_dead_after() -> None:
    wire = LossyWire(0.0, speaking=True, listening=True)
    wire.run(2.0)
    assert wire.path.state is PathState.UP
    wire.loss = 1.0
    cut = wire.now
    last_heard = max(cut, max(wire.arrivals, default=cut))  # what was on the way still lands
    sent = wire.sent_by_datagram
    wire.run(T.suspect_after + 2 * ONE_WAY + 0.02)
    assert wire.path.state is PathState.SUSPECT  # audio is back on the link
    assert wire.sent_by_datagram - sent <= round((last_heard - cut + T.suspect_after) / FRAME) + 1
    wire.run(T.dead_after - T.suspect_after)
    assert wire.path.state is PathState.DEAD
    assert wire.now <= last_heard + T.dead_after + STEP + 2 * ONE_WAY
