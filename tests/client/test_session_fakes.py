"""ClientSession against a fake room and fake links, on trio's MockClock.

These pin the session's own behaviour (I/O plumbing, timers, pacing,
reconnect with back-off) independently of the real room and relay, which the
integration tests in test_client_rooms.py exercise over TLS.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import trio
import trio.testing

from client.backoff import Backoff
from client.session import ClientSession, LinkFailed, Status
from e2ee.errors import RemoteProtocolError


class FakeRoom:
    """Records every call; envelopes are plain bytes echoed as events."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, float]] = []
        self.resets: list[float] = []
        self.audio: list[tuple[bytes, float]] = []
        self.timer: float | None = None
        self.timer_fired: list[float] = []
        self.out = bytearray(b"hello;")
        self.events: list[Any] = []

    def envelope_received(self, envelope: Any, now: float) -> None:
        if envelope == b"evil":
            raise RemoteProtocolError("a peer sent garbage")
        self.received.append((envelope, now))
        self.events.append(("got", envelope))

    def data_to_send(self) -> bytes:
        data, self.out = bytes(self.out), bytearray()
        return data

    def next_event(self) -> Any:
        return self.events.pop(0) if self.events else None

    def get_timer(self) -> float | None:
        return self.timer

    def handle_timer(self, now: float) -> None:
        self.timer_fired.append(now)
        self.timer = None
        self.out += b"tick;"

    def link_reset(self, now: float) -> None:
        self.resets.append(now)
        self.out += b"rejoin;"

    def send_audio(self, opus: bytes, now: float) -> None:
        self.audio.append((opus, now))
        self.out += b"A"


class FakeLink:
    def __init__(self) -> None:
        self.sent = bytearray()
        self.to_client_send, self.to_client_recv = trio.open_memory_channel[bytes](100)
        self.closed = False

    async def send(self, data: bytes) -> None:
        if self.closed:
            raise trio.BrokenResourceError("link closed")
        self.sent += data

    async def receive(self) -> list[bytes]:
        try:
            data = await self.to_client_recv.receive()
        except trio.EndOfChannel:
            raise LinkFailed("closed by the relay") from None
        return [part for part in data.split(b";") if part]

    async def aclose(self) -> None:
        self.closed = True

    def drop(self) -> None:
        self.to_client_send.close()


class FakeRelay:
    """Hands out links; can be 'down' for a number of attempts."""

    def __init__(self) -> None:
        self.links: list[FakeLink] = []
        self.down_for = 0
        self.attempt_times: list[float] = []
        self.new_link = trio.Event()

    async def connect(self) -> FakeLink:
        self.attempt_times.append(trio.current_time())
        if self.down_for:
            self.down_for -= 1
            raise LinkFailed("relay unavailable")
        link = FakeLink()
        self.links.append(link)
        self.new_link.set()
        self.new_link = trio.Event()
        return link


def make_session(room: FakeRoom, relay: FakeRelay, **kw: Any) -> ClientSession:
    return ClientSession(room, relay.connect, backoff=Backoff(uniform=lambda: 1.0), **kw)


async def test_feeds_envelopes_and_sends_room_output(autojump_clock: trio.abc.Clock) -> None:
    room, relay = FakeRoom(), FakeRelay()
    events: list[Any] = []
    session = make_session(room, relay, on_event=events.append)
    async with trio.open_nursery() as nursery:
        await nursery.start(session.run)
        link = relay.links[0]
        await link.to_client_send.send(b"one;evil;two;")
        await trio.sleep(0.01)
        assert [env for env, _ in room.received] == [b"one", b"two"]
        assert session.envelopes_refused == 1
        assert events == [("got", b"one"), ("got", b"two")]
        assert bytes(link.sent) == b"hello;"
        session.close()


async def test_runs_room_timer_on_trio_clock(autojump_clock: trio.abc.Clock) -> None:
    room, relay = FakeRoom(), FakeRelay()
    session = make_session(room, relay)
    async with trio.open_nursery() as nursery:
        await nursery.start(session.run)
        start = trio.current_time()
        room.timer = start + 2.5
        session.pump()  # a room call re-arms the timer
        await trio.sleep(2.0)
        assert room.timer_fired == []
        await trio.sleep(1.0)
        assert room.timer_fired == [pytest.approx(start + 2.5)]
        assert bytes(relay.links[0].sent).endswith(b"tick;")
        session.close()


async def test_audio_is_paced_at_20ms_and_only_when_allowed(
    autojump_clock: trio.abc.Clock,
) -> None:
    room, relay = FakeRoom(), FakeRelay()
    session = make_session(room, relay)
    allowed = False
    session.may_speak = lambda: allowed
    session.feed = lambda: b"opus"
    async with trio.open_nursery() as nursery:
        await nursery.start(session.run)
        await trio.sleep(0.5)
        assert room.audio == []
        allowed = True
        await trio.sleep(1.0)
        times = [t for _, t in room.audio]
        assert 49 <= len(times) <= 51
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(g == pytest.approx(0.020, abs=1e-6) for g in gaps)
        session.close()


async def test_reconnects_with_backoff_and_resets_the_room(
    autojump_clock: trio.abc.Clock,
) -> None:
    room, relay = FakeRoom(), FakeRelay()
    statuses: list[Status] = []
    session = make_session(room, relay, on_status=statuses.append)
    async with trio.open_nursery() as nursery:
        await nursery.start(session.run)
        assert room.resets == []
        relay.down_for = 3
        dropped_at = trio.current_time()
        relay.links[0].drop()
        await relay.new_link.wait()
        await trio.sleep(0.001)
        assert len(relay.links) == 2
        # back-off with uniform()=1.0: 0.1, 0.2, 0.4, 0.8 between attempts
        attempts = relay.attempt_times[1:]
        gaps = [b - a for a, b in zip([dropped_at, *attempts], attempts, strict=False)]
        assert gaps == pytest.approx([0.1, 0.2, 0.4, 0.8])
        assert len(room.resets) == 1
        assert bytes(relay.links[1].sent) == b"rejoin;"
        assert session.reconnects == 1
        kinds = [s.kind for s in statuses]
        assert kinds[:2] == ["connecting", "connected"]
        assert "reconnecting" in kinds and kinds[-1] == "connected"
        session.close()
    assert statuses[-1].kind == "closed"


async def test_backoff_is_capped_and_jittered() -> None:
    values = iter([0.0, 1.0] * 10)
    backoff = Backoff(uniform=lambda: next(values), base=0.1, cap=2.0)
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [min(2.0, 0.1 * 2**i) for i in range(8)]
    for i, (d, c) in enumerate(zip(delays, ceilings, strict=True)):
        assert d == pytest.approx(c * (0.5 if i % 2 == 0 else 1.0))
    backoff.reset()
    assert backoff.next_delay() == pytest.approx(0.05)


async def test_first_connect_failure_is_raised(autojump_clock: trio.abc.Clock) -> None:
    room, relay = FakeRoom(), FakeRelay()
    relay.down_for = 10
    session = make_session(room, relay, first_attempts=3)
    with pytest.raises(LinkFailed):
        await session.run()
    assert len(relay.attempt_times) == 3


async def test_fatal_connect_error_is_not_retried(autojump_clock: trio.abc.Clock) -> None:
    room = FakeRoom()
    calls = 0

    async def connect() -> FakeLink:
        nonlocal calls
        calls += 1
        raise ValueError("pin mismatch")

    session = ClientSession(room, connect)
    with pytest.raises(ValueError, match="pin mismatch"):
        await session.run()
    assert calls == 1


async def test_reset_link_reconnects_and_resets_the_room(autojump_clock: trio.abc.Clock) -> None:
    room, relay = FakeRoom(), FakeRelay()
    statuses: list[Status] = []
    session = make_session(room, relay, on_status=statuses.append)
    async with trio.open_nursery() as nursery:
        await nursery.start(session.run)
        session.reset_link("re-synchronising")
        await relay.new_link.wait()
        await trio.sleep(0.001)
        assert len(relay.links) == 2 and len(room.resets) == 1
        assert any("re-synchronising" in s.message for s in statuses)
        session.close()
