"""Receiver loss measurement (client.loss_report), the FEC policy (client.fec_policy), wiring."""

from __future__ import annotations

import secrets

from client.audio.sources import PcmSource
from client.audio.synth import tone
from client.fec_policy import (
    FEC_PERCENT,
    MAX_REPORTERS,
    OFF_HOLD,
    OFF_PERMILLE,
    ON_PERMILLE,
    REPORT_TTL,
    FecPolicy,
)
from client.loss_report import MAX_SPAN, MAX_SPEAKERS, MIN_EXPECTED, LossMeter
from client.room_client import ClientConfig, RoomClient
from e2ee.identity import IdentityKey
from e2ee.room import events as ev
from tests.client.router_relay import MemoryRelay

A, B = b"a" * 32, b"b" * 32


def feed(meter: LossMeter, speaker: bytes, seqs: range | list[int]) -> None:
    for seq in seqs:
        meter.frame(speaker, seq)


def test_loss_is_frames_expected_by_counter_but_not_received() -> None:
    meter = LossMeter()
    feed(meter, A, [s for s in range(100, 300) if s % 10 != 0])  # 20 of 200 lost
    feed(meter, B, range(1000, 1100))
    assert dict(meter.take()) == {A: 95, B: 0}  # 19 of 191 (100 was the first heard)


def test_duplicates_and_late_frames_are_not_counted_twice() -> None:
    meter = LossMeter()
    feed(meter, A, range(100))
    meter.take()
    # duplicates, and frames late from the last window
    feed(meter, A, [*range(100, 200), 150, 150, 99, 50])
    assert meter.take() == [(A, 0)]


def test_a_hole_at_the_end_of_a_window_counts_in_the_next() -> None:
    meter = LossMeter()
    feed(meter, A, range(100))
    assert meter.take() == [(A, 0)]
    feed(meter, A, range(110, 200))  # 100..109 never came
    assert meter.take() == [(A, 100)]


def test_a_pause_is_no_loss_and_a_short_window_is_carried_over() -> None:
    meter = LossMeter()
    feed(meter, A, range(MIN_EXPECTED - 1))
    assert meter.take() == []  # too few frames: carried over
    feed(meter, A, range(MIN_EXPECTED - 1, MIN_EXPECTED))
    assert meter.take() == [(A, 0)]
    assert meter.take() == []  # silence (DTX does not advance the counter): nothing to report


def test_a_restarted_stream_is_a_new_window_not_a_loss() -> None:
    meter = LossMeter()
    feed(meter, A, range(100))
    feed(meter, A, range(100 + MAX_SPAN, 200 + MAX_SPAN))
    assert meter.take() == [(A, 0)]
    feed(meter, A, range(0, 100))  # back to low counters
    assert meter.take() == [(A, 0)]
    feed(meter, A, range(100, 100 + MAX_SPAN - 1))  # just inside the bound: one window
    assert meter.take() == [(A, 0)]


def test_the_meter_tracks_at_most_max_speakers() -> None:
    meter = LossMeter()
    speakers = [i.to_bytes(32, "big") for i in range(MAX_SPEAKERS + 1)]
    for speaker in speakers:
        feed(meter, speaker, range(MIN_EXPECTED))
    reported = {s for s, _ in meter.take()}
    assert len(reported) == MAX_SPEAKERS and speakers[0] not in reported


def test_fec_goes_on_at_the_threshold_and_off_only_after_the_hold() -> None:
    policy = FecPolicy()
    assert policy.report(A, ON_PERMILLE - 1, 0.0) == 0
    assert policy.report(A, ON_PERMILLE, 5.0) == FEC_PERCENT
    assert policy.report(A, OFF_PERMILLE, 10.0) == FEC_PERCENT  # between the thresholds: stays
    assert policy.report(A, OFF_PERMILLE - 1, 15.0) == FEC_PERCENT
    assert policy.report(A, 0, 15.0 + OFF_HOLD - 1) == FEC_PERCENT
    assert policy.report(A, 0, 15.0 + OFF_HOLD) == 0


def test_a_report_above_the_off_threshold_restarts_the_hold() -> None:
    policy = FecPolicy()
    policy.report(A, 50, 0.0)
    policy.report(A, 0, 5.0)
    policy.report(A, OFF_PERMILLE, 10.0)  # not below: the quiet time starts again
    policy.report(A, 0, 15.0)
    assert policy.update(5.0 + OFF_HOLD) == FEC_PERCENT
    assert policy.update(15.0 + OFF_HOLD) == 0


def test_the_worst_current_report_counts_and_old_reports_expire() -> None:
    policy = FecPolicy()
    policy.report(A, 0, 0.0)
    assert policy.report(B, 100, 1.0) == FEC_PERCENT  # one bad listener is enough
    policy.report(A, 0, REPORT_TTL)
    # B stopped reporting: its report counts until REPORT_TTL after it came, then not
    assert policy.update(1.0 + REPORT_TTL) == FEC_PERCENT
    expired = 1.0 + REPORT_TTL + 0.1
    assert policy.update(expired) == FEC_PERCENT  # the quiet time starts with it
    assert policy.update(expired + OFF_HOLD) == 0


def test_a_reporter_that_sends_often_only_replaces_its_own_report() -> None:
    policy = FecPolicy()
    policy.report(A, 100, 0.0)
    for i in range(1000):
        policy.report(B, 0, i / 1000)
    assert len(policy._reports) == 2 and policy.expected_loss == FEC_PERCENT


def test_the_policy_remembers_at_most_max_reporters() -> None:
    policy = FecPolicy()
    policy.report(A, 100, 0.0)  # the oldest, forgotten when the table is full
    for i in range(MAX_REPORTERS):
        policy.report(i.to_bytes(32, "big"), 0, 0.0)
    assert len(policy._reports) == MAX_REPORTERS and A not in policy._reports


async def test_a_room_client_follows_reports_only_with_a_datagram_channel() -> None:
    relay = MemoryRelay()
    founder = IdentityKey.generate(secrets.token_bytes)
    for datagrams, expected in ((True, FEC_PERCENT), (False, 0)):
        client = RoomClient(
            ClientConfig(
                relay.invite(founder),
                founder,
                "Mod",
                create=True,
                source=PcmSource(tone(440.0, 1.0)),
                datagrams=datagrams,
            ),
            connect=relay.connector(),
        )
        client.event_received(ev.LossReported(A, 50))  # 5 % of our frames lost at A
        assert client.feed is not None
        assert client.feed.encoder.config.expected_loss_percent == expected
        assert client.feed.encoder.config.fec is bool(expected)
