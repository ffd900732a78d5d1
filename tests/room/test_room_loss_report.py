"""LOSS_REPORT control messages (spec §14.4): a listener's measured loss reaches the speaker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from client.audio.encoder import OpusFrameEncoder
from client.fec_policy import FEC_PERCENT, OFF_HOLD
from client.loss_exchange import LossExchange
from client.loss_report import REPORT_INTERVAL
from e2ee.canonical import Value
from e2ee.envelope import Envelope, EnvelopeType
from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from e2ee.room import events
from e2ee.room.control import ControlType, parse_control, sign_control
from e2ee.room.roster import Role

from .harness import Link, new_identity
from .test_room_session import promote, room


def reports(link: Link) -> list[tuple[bytes, int]]:
    return [(e.member, e.loss_permille) for e in link.events if isinstance(e, events.LossReported)]


def test_a_report_reaches_only_the_speaker_it_is_about() -> None:
    r, mod, (a, b) = room(2)
    promote(r, mod, a)
    promote(r, mod, b)
    start = len(r.log)
    b.session.report_loss(a.session.me, 42)
    r.pump()
    assert reports(a) == [(b.session.me, 42)]
    assert reports(mod) == [] and reports(b) == []
    # sent by unicast: one envelope, to the speaker's slot only
    assert [(slot, e.type) for slot, e in r.log[start:]] == [(a.slot, EnvelopeType.UNICAST)]


def test_a_report_the_relay_hands_to_another_member_is_dropped_and_counted() -> None:
    r, mod, (a, b) = room(2)
    promote(r, mod, a)
    promote(r, mod, b)
    redirected: list[Envelope] = []
    deliver = a.session.envelope_received

    def steal(env: Envelope, now: float) -> None:  # the relay passes a's unicasts to mod
        if env.type is EnvelopeType.UNICAST:
            redirected.append(env)
        deliver(env, now)

    a.session.envelope_received = steal  # type: ignore[method-assign]
    b.session.report_loss(a.session.me, 7)
    r.pump()
    assert len(redirected) == 1
    mod.session.envelope_received(redirected[0], r.now)
    r.pump()
    assert reports(mod) == []
    assert mod.session.counters["misdirected_loss_report"] == 1


def test_report_loss_checks_its_arguments_and_sends_nothing_to_a_non_speaker() -> None:
    r, mod, (a, b) = room(2)
    promote(r, mod, a)
    for bad in (-1, 1001, True):
        with pytest.raises(LocalProtocolError):
            mod.session.report_loss(a.session.me, bad)
    with pytest.raises(LocalProtocolError):
        mod.session.report_loss(b"\x01" * 31, 1)
    with pytest.raises(LocalProtocolError):
        b.session.report_loss(a.session.me, 1)  # the audience does not report
    before = len(r.log)
    a.session.report_loss(b"\x02" * 32, 1)  # nobody at a slot: nothing to send
    a.session.report_loss(a.session.me, 1)  # nor to oneself
    r.pump()
    assert len(r.log) == before


@pytest.mark.parametrize(
    "args",
    [
        [b"\x01" * 32],
        [b"\x01" * 32, 1, 2],
        [b"\x01" * 31, 5],
        [b"\x01" * 32, 1001],
        [b"\x01" * 32, -1],
        [b"\x01" * 32, True],
        ["x" * 32, 5],
    ],
)
def test_a_malformed_loss_report_is_refused(args: list) -> None:  # type: ignore[type-arg]
    author = new_identity(5)
    msg = sign_control(author, b"s" * 32, b"r" * 32, ControlType.LOSS_REPORT, 1, 0, b"h" * 32, args)
    with pytest.raises(RemoteProtocolError) as err:
        parse_control(msg)
    assert err.value.code is ErrorCode.MALFORMED


def test_the_bounds_of_a_loss_report_parse() -> None:
    author = new_identity(5)
    for permille in (0, 1000):
        args: list[Value] = [b"\x01" * 32, permille]
        msg = sign_control(
            author, b"s" * 32, b"r" * 32, ControlType.LOSS_REPORT, 1, 0, b"h" * 32, args
        )
        assert parse_control(msg).args == (b"\x01" * 32, permille)


PROOF_SIZE = 100
"""Speaker proofs (spec §15.6) are MEDIA too; these tests lose frames only."""


class Stage:
    """A speaker (the moderator) and a stage listener, each with its client's LossExchange."""

    def __init__(self) -> None:
        self.r, self.mod, (self.listener,) = room(1)
        promote(self.r, self.mod, self.listener)
        self.encoder = OpusFrameEncoder()
        self.speaker_side = self._exchange(self.mod, follow=True, encoder=self.encoder)
        self.listener_side = self._exchange(self.listener, follow=True, encoder=None)
        self.lose_every = 0
        self._frames = 0
        self._media = 0
        deliver = self.listener.session.envelope_received

        def lossy(env: Envelope, now: float) -> None:
            if env.type is EnvelopeType.MEDIA and len(env.payload) < PROOF_SIZE:
                self._media += 1
                if self.lose_every and self._media % self.lose_every == 0:
                    return  # lost on the way to the listener, before any FEC
            deliver(env, now)

        self.listener.session.envelope_received = lossy  # type: ignore[method-assign]

    def _exchange(
        self, link: Link, *, follow: bool, encoder: OpusFrameEncoder | None
    ) -> LossExchange:
        def act(call, *args):  # type: ignore[no-untyped-def]
            call(*args)
            self.r.pump()

        exchange = LossExchange(
            lambda: link.session, act, lambda: encoder, follow=follow, clock=lambda: self.r.now
        )
        return exchange

    def speak(self, seconds: float) -> None:
        """The speaker sends a frame every 20 ms; both clients report every 5 s."""
        for _ in range(round(seconds / 0.02)):
            self.mod.session.send_audio(b"frame %d" % self._frames, self.r.now)
            self._frames += 1
            self.r.advance(0.02)
            self._dispatch()
            if self._frames % round(REPORT_INTERVAL / 0.02) == 0:
                self.listener_side.report()
                self._dispatch()
                self.speaker_side.report()

    def _dispatch(self) -> None:
        for link, side in ((self.mod, self.speaker_side), (self.listener, self.listener_side)):
            for event in link.events:
                side(event)
            link.events.clear()


def test_a_listeners_reported_loss_turns_the_speakers_fec_on_and_then_off() -> None:
    stage = Stage()
    stage.speak(2 * REPORT_INTERVAL)  # lossless: FEC stays off
    assert stage.encoder.config.expected_loss_percent == 0 and not stage.encoder.config.fec
    stage.lose_every = 20  # 5 % of the frames to the listener are lost
    stage.speak(REPORT_INTERVAL)
    assert stage.encoder.config.fec and stage.encoder.config.expected_loss_percent == FEC_PERCENT
    loss = [p for _, p in stage.speaker_side.policy._reports.values()]
    assert loss and 40 <= loss[0] <= 60
    stage.lose_every = 0  # the path heals: FEC stays on for the hold time, then goes off
    stage.speak(OFF_HOLD - REPORT_INTERVAL)
    assert stage.encoder.config.fec
    stage.speak(2 * REPORT_INTERVAL)
    assert not stage.encoder.config.fec and stage.encoder.config.expected_loss_percent == 0


def test_a_tls_only_speaker_keeps_fec_off_whatever_is_reported() -> None:
    stage = Stage()
    stage.speaker_side = stage._exchange(stage.mod, follow=False, encoder=stage.encoder)
    stage.lose_every = 5  # 20 %
    stage.speak(2 * REPORT_INTERVAL)
    assert stage.speaker_side.policy.expected_loss == 0
    assert not stage.encoder.config.fec


def test_the_audience_sends_no_reports() -> None:
    r, mod, (a, b) = room(2)
    promote(r, mod, a)
    assert b.session.role is Role.LISTENER
    sent: list[tuple[bytes, int]] = []

    def act(call, *args):  # type: ignore[no-untyped-def]
        sent.append(args)

    side = LossExchange(lambda: b.session, act, lambda: None, follow=True, clock=lambda: r.now)
    for seq in range(100):
        side(events.AudioReceived(a.session.me, seq, b"x"))
    side.report()
    assert sent == []


def test_the_relay_sees_the_same_size_whatever_loss_is_reported() -> None:
    r, mod, (a, b) = room(2)
    promote(r, mod, a)
    promote(r, mod, b)
    sizes = set()
    for permille in (0, 23, 24, 255, 256, 1000):
        start = len(r.log)
        b.session.report_loss(a.session.me, permille)
        r.pump()
        sizes |= {len(e.payload) for _, e in r.log[start:]}
    assert len(sizes) == 1


def test_the_loss_report_vector_parses_to_its_arguments() -> None:
    path = Path(__file__).parents[2] / "spec" / "vectors" / "room_payloads.json"
    vector = json.loads(path.read_text())["control_loss_report"]
    msg = parse_control(bytes.fromhex(vector["message"]))
    assert msg.type is ControlType.LOSS_REPORT
    assert msg.args == (bytes.fromhex(vector["speaker_id"]), vector["loss_permille"])


def test_a_report_from_the_audience_is_unauthorized_and_not_applied() -> None:
    r, mod, (a, b) = room(2)
    promote(r, mod, a)
    slot = a.slot
    assert slot is not None and b.session.role is Role.LISTENER
    before = a.session.counters["unauthorized"]
    # a modified client in the audience sends one anyway
    b.session._send_control(ControlType.LOSS_REPORT, [a.session.me, 500], to=slot)
    r.pump()
    assert reports(a) == []
    assert a.session.counters["unauthorized"] == before + 1
