"""The client's datagram path state machine (spec §23.5) on a virtual clock."""

from __future__ import annotations

import itertools

import pytest

from client.datagram_path import PROOF_DATAGRAMS, route
from e2ee.datagram import FLAG_RECEIVING
from e2ee.datagram_path import TRANSITIONS, DatagramPath, PathEvent, PathState, PathTimers
from e2ee.datagram_red import WINDOW, LossWatch
from e2ee.envelope import EnvelopeType, encode_envelope
from e2ee.errors import LocalProtocolError

T = PathTimers()
STEP = 0.01


class Wire:
    """A relay that answers every PROBE after ``rtt`` while ``up``; records the probes."""

    def __init__(self, path: DatagramPath, rtt: float = 0.04) -> None:
        self.path = path
        self.rtt = rtt
        self.up = True
        self.now = 0.0
        self.probes: list[float] = []
        self._acks: list[float] = []
        self.states: list[tuple[float, PathState]] = []
        self.last_heard = 0.0

    def run(self, seconds: float) -> None:
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now = round(self.now + STEP, 6)
            for due in [a for a in self._acks if a <= self.now]:
                self._acks.remove(due)
                self.path.heard(self.now)
                self.last_heard = self.now
            if self.now >= self.path.get_timer():
                probe = self.path.handle_timer(self.now)
                if probe is not None:
                    self.probes.append(self.now)
                    if self.up:
                        self._acks.append(self.now + self.rtt)
            if not self.states or self.states[-1][1] is not self.path.state:
                self.states.append((self.now, self.path.state))

    def first(self, state: PathState, after: float = 0.0) -> float:
        return min(t for t, s in self.states if s is state and t >= after)


def test_probing_finds_a_working_path_within_one_round_trip() -> None:
    wire = Wire(DatagramPath(0.0))
    wire.run(0.2)
    assert wire.path.state is PathState.UP and wire.path.uses_datagrams
    assert wire.path.flags == FLAG_RECEIVING
    assert wire.first(PathState.UP) <= wire.rtt + 2 * STEP


def test_blocked_udp_is_declared_dead_at_the_probe_timeout() -> None:
    wire = Wire(DatagramPath(0.0))
    wire.up = False
    wire.run(3.0)
    assert wire.first(PathState.DEAD) == pytest.approx(T.probe_timeout, abs=STEP)
    assert not wire.path.uses_datagrams and wire.path.flags == 0
    # probing sends one probe per interval and stops when dead
    during = [t for t in wire.probes if t < T.probe_timeout]
    assert len(during) == pytest.approx(T.probe_timeout / T.probe_interval, abs=2)


def test_a_path_that_dies_is_suspect_then_dead_within_the_stated_times() -> None:
    wire = Wire(DatagramPath(0.0))
    wire.run(1.0)
    wire.up = False
    cut = wire.now
    wire.run(2.0)
    silent_since = wire.last_heard  # the last ack in flight at the cut
    assert cut <= silent_since <= cut + wire.rtt
    suspect = wire.first(PathState.SUSPECT, cut) - silent_since
    dead = wire.first(PathState.DEAD, cut) - silent_since
    assert suspect == pytest.approx(T.suspect_after, abs=1.5 * STEP)
    assert dead == pytest.approx(T.dead_after, abs=1.5 * STEP)
    assert not wire.path.uses_datagrams


def test_return_to_up_when_udp_works_again_with_back_off() -> None:
    wire = Wire(DatagramPath(0.0))
    wire.up = False
    wire.run(1.0 + T.reprobe_first + T.probe_timeout + 0.05)  # dead, one failed re-probe round
    assert wire.path.state is PathState.DEAD
    second_dead = wire.first(PathState.DEAD, T.probe_timeout + T.reprobe_first)
    wire.up = True
    wire.run(2 * T.reprobe_first + 0.2)
    back = wire.first(PathState.UP, second_dead)
    # the second back-off is twice the first
    assert back - second_dead == pytest.approx(2 * T.reprobe_first + wire.rtt, abs=2 * STEP)
    assert wire.path.uses_datagrams


def test_back_off_is_capped() -> None:
    path = DatagramPath(0.0, PathTimers(reprobe_first=2.0, reprobe_max=5.0))
    wire = Wire(path)
    wire.up = False
    wire.run(40.0)
    deads = [t for t, s in wire.states if s is PathState.DEAD]
    probings = [t for t, s in wire.states if s is PathState.PROBING][1:]
    gaps = [p - d for d, p in zip(deads, probings, strict=False)]
    assert gaps[:3] == pytest.approx([2.0, 4.0, 5.0], abs=STEP)
    assert all(g == pytest.approx(5.0, abs=STEP) for g in gaps[2:])


def test_a_late_datagram_while_dead_brings_the_path_back() -> None:
    path = DatagramPath(0.0)
    path.handle_timer(T.probe_timeout)
    assert path.state is PathState.DEAD
    path.heard(T.probe_timeout + 0.1)
    assert path.state is PathState.UP


def test_media_both_ways_needs_no_probes() -> None:
    path = DatagramPath(0.0)
    path.heard(0.0)
    now = 0.0
    probes = 0
    while now < 2.0:
        now = round(now + 0.02, 6)
        path.sent(now)
        path.heard(now)
        if now >= path.get_timer() and path.handle_timer(now) is not None:
            probes += 1
    assert probes == 0 and path.state is PathState.UP


def test_a_listener_that_sends_nothing_keeps_the_binding_alive() -> None:
    path = DatagramPath(0.0)
    path.heard(0.0)
    now = 0.0
    probes = []
    while now < 1.0:
        now = round(now + 0.01, 6)
        path.heard(now)  # media from the relay keeps arriving
        if now >= path.get_timer():
            probe = path.handle_timer(now)
            if probe is not None:
                probes.append(now)
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    assert probes and max(gaps) <= T.probe_interval + 0.011


def test_the_table_lists_every_way_back_to_up() -> None:
    assert {s for (s, e), n in TRANSITIONS.items() if e is PathEvent.HEARD} == set(PathState)
    assert all(n is PathState.UP for (s, e), n in TRANSITIONS.items() if e is PathEvent.HEARD)


def test_timers_out_of_order_are_refused() -> None:
    with pytest.raises(LocalProtocolError):
        PathTimers(suspect_after=2.0, dead_after=1.0)


# -- which way each envelope goes while UP (spec §23.6) ------------------------------------


def test_frames_go_by_one_datagram_proofs_by_two_and_the_link_the_rest_by_the_link() -> None:
    tag = bytes(16)
    frame = encode_envelope(EnvelopeType.MEDIA, tag, 0, b"\x01 an audio frame")
    proof = encode_envelope(EnvelopeType.MEDIA, tag, 0, b"\xff a speaker proof")
    control = encode_envelope(EnvelopeType.CONTROL, tag, 0, b"a commit")
    large = encode_envelope(EnvelopeType.MEDIA, tag, 0, b"\x01" * 1100)
    assert route(frame + proof + control + large) == [
        (frame, False, 1),
        (proof, True, PROOF_DATAGRAMS),
        (control, True, 0),
        (large, True, 0),
    ]
    assert PROOF_DATAGRAMS == 2


def test_a_loss_watch_has_measured_once_its_first_window_closed() -> None:
    watch = LossWatch()  # until then a client asks for, and sends, MEDIA_RED (spec §23.6)
    for c in range(WINDOW):
        watch.heard(c)
    assert not watch.measured
    watch.heard(WINDOW)
    assert watch.measured and not watch.wanted
