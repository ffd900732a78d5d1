"""Redundancy on a datagram hop (spec §23.3 MEDIA_RED, §23.6): copies, their dedup, the ask."""

from __future__ import annotations

import hashlib
import random

import pytest

from e2ee import datagram as dg
from e2ee import datagram_red as red
from e2ee.datagram import DatagramChannel, Direction, Kind
from e2ee.datagram_red import CopyRing, LossWatch
from e2ee.envelope import EnvelopeType, decode_envelope, encode_envelope
from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

KEY = hashlib.sha256(b"datagram red test key").digest()
TOKEN = bytes.fromhex("1112131415161718")
TAG = bytes(range(16))


def _frame(i: int) -> bytes:
    return encode_envelope(EnvelopeType.MEDIA, TAG, 0, i.to_bytes(2, "big") * 40)


def _pair() -> tuple[DatagramChannel, DatagramChannel]:
    return (
        DatagramChannel(KEY, TOKEN, Direction.CLIENT_TO_RELAY),
        DatagramChannel(KEY, TOKEN, Direction.RELAY_TO_CLIENT),
    )


def _send(sender: DatagramChannel, ring: CopyRing, frames: range) -> list[bytes]:
    out = []
    for i in frames:
        kind, body = ring.wrap(sender.next_counter, _frame(i), redundant=True)
        out.append(sender.seal(kind, body, dg.FLAG_REDUNDANT))
    return out


def _delivered(receiver: DatagramChannel, datagrams: list[bytes]) -> list[bytes]:
    got: list[bytes] = []
    for data in datagrams:
        got += receiver.open(data).media
    return got


def test_a_burst_of_two_comes_back_from_the_copies_two_datagrams_later() -> None:
    client, relay = _pair()
    assert red.DISTANCE == 2
    sent = _send(client, CopyRing(), range(6))
    assert [relay.open(d).kind for d in sent[:2]] == [Kind.MEDIA] * 2  # nothing to copy yet
    got = _delivered(relay, sent[4:])  # 2 and 3 were lost
    assert got == [_frame(2), _frame(4), _frame(3), _frame(5)]


def test_a_lost_frame_comes_back_once_from_the_copy_three_datagrams_later() -> None:
    client, relay = _pair()
    sent = _send(client, CopyRing(3), range(10))
    assert [relay.open(d).kind for d in sent[:3]] == [Kind.MEDIA] * 3  # nothing to copy yet
    # datagram 5 is lost: datagram 8 carries its copy, which is delivered just before it
    got = _delivered(relay, sent[3:5] + sent[6:])
    assert got == [_frame(3), _frame(4), _frame(6), _frame(7), _frame(5), _frame(8), _frame(9)]


def test_the_copy_of_a_frame_that_arrived_is_dropped_and_a_late_original_is_a_replay() -> None:
    client, relay = _pair()
    sent = _send(client, CopyRing(3), range(8))
    assert _delivered(relay, sent[:5]) == [_frame(i) for i in range(5)]
    opened = relay.open(sent[5])  # carries frame 2's copy; frame 2 arrived
    assert opened.copy is None and opened.media == (_frame(5),)
    assert _delivered(relay, [sent[7]]) == [_frame(7)]  # frame 4's copy: 4 arrived
    # datagram 6 was not seen yet and nothing copied it: it still opens, once
    assert relay.open(sent[6]).media == (_frame(6),)
    with pytest.raises(RemoteProtocolError) as exc:
        relay.open(sent[6])
    assert exc.value.code is ErrorCode.REPLAY


def test_an_original_arriving_after_its_copy_is_dropped_as_a_replay() -> None:
    client, relay = _pair()
    sent = _send(client, CopyRing(3), range(6))
    _delivered(relay, sent[:2] + sent[3:6])  # datagram 5 brought frame 2's copy
    with pytest.raises(RemoteProtocolError) as exc:
        relay.open(sent[2])
    assert exc.value.code is ErrorCode.REPLAY


def test_with_copies_random_loss_of_ten_percent_leaves_about_one_percent() -> None:
    client, relay = _pair()
    sent = _send(client, CopyRing(), range(2000))
    rnd = random.Random(12)
    kept = [d for d in sent if rnd.random() >= 0.10]
    got = _delivered(relay, kept)
    assert len(got) == len(set(got))  # never a frame twice
    missing = 2000 - len(got)
    assert len(sent) - len(kept) > 150  # about 10 % was lost on the hop
    assert missing < 40  # about 1 % (a frame and its copy both lost) remains


def test_the_ring_sends_media_when_not_asked_too_far_back_or_too_large() -> None:
    ring = CopyRing(3)
    for c in range(3):
        assert ring.wrap(c, _frame(c), redundant=True)[0] is Kind.MEDIA
    assert ring.wrap(3, _frame(3), redundant=False) == (Kind.MEDIA, _frame(3))
    kind, body = ring.wrap(4, _frame(4), redundant=True)
    assert kind is Kind.MEDIA_RED and dg.split_red(body) == (3, _frame(4), _frame(1))
    # a copy may lie at most MAX_BACK counters back (probes in between use counters too)
    ring.wrap(4 + dg.MAX_BACK - 2, _frame(5), redundant=False)
    ring.wrap(4 + dg.MAX_BACK - 1, _frame(6), redundant=False)
    assert ring.wrap(4 + dg.MAX_BACK, _frame(7), redundant=True)[0] is Kind.MEDIA_RED
    assert ring.wrap(5 + 2 * dg.MAX_BACK, _frame(8), redundant=True)[0] is Kind.MEDIA
    with pytest.raises(LocalProtocolError):
        CopyRing(0)
    with pytest.raises(LocalProtocolError):
        CopyRing(dg.MAX_BACK + 1)
    large = CopyRing()
    big = bytes(dg.MAX_PLAINTEXT // 2)
    for c in range(4):
        kind, _ = large.wrap(c, big, redundant=True)
    assert kind is Kind.MEDIA  # two of them do not fit one datagram


def test_red_bodies_are_bounded() -> None:
    with pytest.raises(LocalProtocolError):
        dg.red_body(0, b"a", b"b")
    with pytest.raises(LocalProtocolError):
        dg.red_body(dg.MAX_BACK + 1, b"a", b"b")
    assert dg.split_red(dg.red_body(dg.MAX_BACK, b"a", b"b")) == (dg.MAX_BACK, b"a", b"b")
    for bad in (b"", b"\x01\x00", b"\x00\x00\x01ab", b"\x01\x00\x01a", b"\x01\x00\x05abc"):
        with pytest.raises(RemoteProtocolError):
            dg.split_red(bad)


def test_a_copy_from_before_the_first_counter_is_malformed() -> None:
    client, relay = _pair()
    data = client.seal(Kind.MEDIA_RED, dg.red_body(1, _frame(0), _frame(1)))
    with pytest.raises(RemoteProtocolError) as exc:
        relay.open(data)
    assert exc.value.code is ErrorCode.MALFORMED


def test_the_relay_may_ask_for_copies_but_not_say_receiving() -> None:
    client, relay = _pair()
    opened = client.open(relay.seal(Kind.PROBE_ACK, dg.probe_body(0), dg.FLAG_REDUNDANT))
    assert opened.flags == dg.FLAG_REDUNDANT
    with pytest.raises(LocalProtocolError):
        relay.seal(Kind.MEDIA_RED, dg.red_body(1, b"a", b"b"), dg.FLAG_RECEIVING)


def _watch(lost: set[int], upto: int) -> LossWatch:
    watch = LossWatch()
    for c in range(upto):
        if c not in lost:
            watch.heard(c)
    return watch


def test_loss_watch_asks_from_one_lost_in_a_window_and_not_at_zero() -> None:
    assert not _watch(set(), 1000).wanted
    assert not _watch({50}, red.WINDOW).wanted  # the window is not closed yet
    assert _watch({50}, red.WINDOW + 1).wanted


def test_loss_watch_stops_asking_after_quiet_windows_only() -> None:
    quiet = red.OFF_WINDOWS * red.WINDOW
    assert _watch({5}, red.WINDOW + quiet).wanted  # one window short
    assert not _watch({5}, red.WINDOW + quiet + 1).wanted


def test_loss_watch_counts_a_jump_as_loss_in_bounded_time() -> None:
    watch = LossWatch()
    watch.heard(0)
    watch.heard(dg.MAX_JUMP)  # one step, whatever the jump
    assert watch.wanted
    watch.heard(3)  # from a closed window: ignored
    assert watch.wanted


def _residual_permille(loss: float, redundant: bool, frames: int = 1000) -> int:
    """A listener's loss report (client.loss_report) after one lossy hop, copies or not."""
    from client.loss_report import LossMeter

    client, relay = _pair()
    ring, meter, rnd = CopyRing(), LossMeter(), random.Random(3)
    for i in range(frames):
        kind, body = ring.wrap(client.next_counter, _frame(i), redundant)
        data = client.seal(kind, body)
        if rnd.random() < loss:
            continue
        for envelope in relay.open(data).media:
            meter.frame(b"speaker", int.from_bytes(decode_envelope(envelope).payload[:2], "big"))
    [(_, permille)] = meter.take()
    return permille


def test_fec_follows_the_loss_left_after_the_copies() -> None:
    from client.fec_policy import FecPolicy

    plain, copied = _residual_permille(0.05, False), _residual_permille(0.05, True)
    assert plain >= 40 and copied <= 5  # 5 % on the hop; about 0.25 % once copied
    with_copies, without = FecPolicy(), FecPolicy()
    assert without.report(b"listener", plain, 0.0) > 0  # FEC on
    assert with_copies.report(b"listener", copied, 0.0) == 0  # the residual needs none
