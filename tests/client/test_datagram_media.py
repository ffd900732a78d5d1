"""The client's datagram channel against the real relay over loopback (spec §23.5, §23.6).

Virtual time (trio's MockClock, jumping whenever every task waits: loopback
sockets deliver within the sending call): the path's timers are checked to
the stated values.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
import trio
import trio.testing

from client.datagram_path import DatagramMedia
from client.inproc_relay import RunningRelay, start_relay
from client.link import RelayLink, connect_relay
from e2ee import is_speaker_proof
from e2ee.datagram_path import PathState, PathTimers
from e2ee.envelope import Envelope, EnvelopeType, decode_envelope, encode_envelope
from e2ee.room import speaker_proof
from relay.config import RelayConfig
from relay.datagram_table import DatagramTable

T = EnvelopeType
TAG = bytes(range(16))
TIMERS = PathTimers()


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


class Blocker:
    """Makes the relay's endpoint drop every datagram while ``blocked`` (a network eating UDP)."""

    def __init__(self, table: DatagramTable) -> None:
        self.blocked = False
        inner = table.receive

        def receive(data: bytes, address: tuple[object, ...], now: float) -> object:
            return None if self.blocked else inner(data, address, now)

        table.receive = receive  # type: ignore[method-assign,assignment]


@dataclass
class Client:
    """A raw stage member: its TLS link and its datagram channel, media arriving in ``heard``."""

    link: RelayLink
    media: DatagramMedia
    heard: list[Envelope] = field(default_factory=list)
    over_link: list[Envelope] = field(default_factory=list)

    async def read_link(self) -> None:
        while True:
            for env in await self.link.receive():
                if not self.media.intercept(env) and env.type is T.MEDIA:
                    self.over_link.append(env)

    async def send_media(self, payload: bytes) -> None:
        rest = self.media.divert(encode_envelope(T.MEDIA, TAG, 0, payload))
        if rest:
            await self.link.send(rest)

    async def until(self, state: PathState) -> float:
        with trio.fail_after(60):
            while self.media.state is not state:
                await trio.sleep(0.005)
        return trio.current_time()

    async def until_receiving(self) -> None:
        """UP, and the relay has had a datagram saying so (the next probe, spec §23.5)."""
        await self.until(PathState.UP)
        await trio.sleep(2 * TIMERS.probe_interval)


@asynccontextmanager
async def relay_with_udp() -> AsyncIterator[tuple[RunningRelay, Blocker]]:
    async with trio.open_nursery() as nursery:
        relay = await start_relay(nursery, config=RelayConfig(datagram_port=0))
        assert relay.server is not None and relay.server.udp is not None
        yield relay, Blocker(relay.server.udp.table)
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def client(relay: RunningRelay) -> AsyncIterator[Client]:
    link = await connect_relay(relay.host, relay.port, relay.identity.pin)
    await link.send_envelope(T.JOIN, TAG, 0, b"\x00")
    c = Client(link, DatagramMedia(relay.host, lambda env: c.heard.append(env)))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(c.read_link)
        nursery.start_soon(c.media.run)
        await link.send(c.media.offer())
        yield c
        nursery.cancel_scope.cancel()
    await link.aclose()


async def wait_for(predicate: Callable[[], bool]) -> None:
    with trio.fail_after(10):
        while not predicate():
            await trio.sleep(0.005)


async def test_stage_audio_goes_by_datagram_when_the_path_is_up(
    mock_clock: trio.testing.MockClock,
) -> None:
    async with relay_with_udp() as (relay, _), client(relay) as a, client(relay) as b:
        await a.until(PathState.UP)
        await b.until_receiving()
        await a.send_media(b"by datagram")
        await wait_for(lambda: bool(b.heard))
        assert [e.payload for e in b.heard] == [b"by datagram"] and not b.over_link
        assert a.media.counts["sent_media"] == 1


async def test_a_speaker_proof_goes_by_two_datagrams_and_over_the_link(
    mock_clock: trio.testing.MockClock,
) -> None:
    """spec §23.6: a lost proof would cost every frame it covers, so it also takes the link.

    It goes by two datagrams as well (the stage verifies on time), and the link's copy
    arrives whatever the datagrams lose; receivers drop the copies (§15.6)."""
    proof = bytes([speaker_proof.MARKER]) + bytes(40)
    assert is_speaker_proof(proof)
    async with relay_with_udp() as (relay, _), client(relay) as a, client(relay) as b:
        await a.until(PathState.UP)
        await b.until_receiving()
        await a.send_media(proof)
        await a.send_media(b"a frame")
        await wait_for(lambda: bool(b.heard) and bool(b.over_link))
        assert [e.payload for e in b.over_link] == [proof]
        assert [e.payload for e in b.heard] == [proof, proof, b"a frame"]
        assert a.media.counts["sent_media"] + a.media.counts["sent_media_red"] == 3


async def test_udp_blocked_from_the_start_is_dead_at_the_probe_timeout_and_the_link_works(
    mock_clock: trio.testing.MockClock,
) -> None:
    async with relay_with_udp() as (relay, blocker), client(relay) as a, client(relay) as b:
        blocker.blocked = True
        await a.until(PathState.PROBING)
        start = trio.current_time()
        dead = await a.until(PathState.DEAD)
        assert dead - start == pytest.approx(TIMERS.probe_timeout, abs=0.05)
        await b.until(PathState.DEAD)
        await a.send_media(b"by the link")
        await wait_for(lambda: bool(b.over_link))
        assert [e.payload for e in b.over_link] == [b"by the link"] and not b.heard


async def test_without_a_relay_endpoint_everything_stays_on_the_link(
    mock_clock: trio.testing.MockClock,
) -> None:
    async with trio.open_nursery() as nursery:
        relay = await start_relay(nursery)  # no datagram port
        async with client(relay) as a, client(relay) as b:
            await trio.sleep(1.0)
            assert a.media.state is None and b.media.state is None
            await a.send_media(b"link only")
            await wait_for(lambda: bool(b.over_link))
            assert (
                decode_envelope(encode_envelope(T.MEDIA, TAG, 0, b.over_link[0].payload)).payload
                == b"link only"
            )
        nursery.cancel_scope.cancel()


async def test_fallback_within_the_stated_times_and_return_after_the_back_off(
    mock_clock: trio.testing.MockClock,
) -> None:
    async with relay_with_udp() as (relay, blocker), client(relay) as a, client(relay) as b:
        await a.until(PathState.UP)
        await b.until(PathState.UP)
        blocker.blocked = True
        cut = trio.current_time()
        suspect = await a.until(PathState.SUSPECT)
        # nothing heard since at most one probe interval before the cut
        assert suspect - cut <= TIMERS.suspect_after + 0.02
        assert suspect - cut >= TIMERS.suspect_after - TIMERS.probe_interval - 0.02
        await a.send_media(b"suspect: by the link")
        await wait_for(lambda: bool(b.over_link))
        dead = await a.until(PathState.DEAD)
        assert dead - suspect == pytest.approx(TIMERS.dead_after - TIMERS.suspect_after, abs=0.02)
        blocker.blocked = False
        up = await a.until(PathState.UP)
        assert dead + TIMERS.reprobe_first <= up <= dead + TIMERS.reprobe_first + 0.1
        await b.until_receiving()
        await a.send_media(b"back on datagrams")
        await wait_for(lambda: bool(b.heard))
        assert [e.payload for e in b.heard] == [b"back on datagrams"]
        assert [e.payload for e in b.over_link] == [b"suspect: by the link"]


async def test_the_relay_stops_sending_by_datagram_when_a_listener_goes_quiet(
    mock_clock: trio.testing.MockClock,
) -> None:
    """One direction dies (relay to b): b's probes say it does not hear, the relay uses the link."""
    async with relay_with_udp() as (relay, _), client(relay) as a, client(relay) as b:
        await a.until(PathState.UP)
        await b.until(PathState.UP)
        b_reader = b.media._received
        b.media._received = lambda *args: None  # type: ignore[method-assign]
        await b.until(PathState.SUSPECT)
        await trio.sleep(TIMERS.probe_interval * 2)  # b's next probe says "not receiving"
        await a.send_media(b"to a deaf path")
        await wait_for(lambda: bool(b.over_link))
        assert [e.payload for e in b.over_link] == [b"to a deaf path"]
        b.media._received = b_reader  # type: ignore[method-assign]
        await b.until(PathState.UP)


async def test_a_bad_or_empty_accept_leaves_everything_on_the_link() -> None:
    for payload in (b"", bytes(42)):  # no channel; port 0 is not a grant
        media = DatagramMedia("127.0.0.1", lambda env: None)
        assert not media.intercept(Envelope(T.PONG, bytes(16), 0, b""))
        assert media.intercept(Envelope(T.DATAGRAM_ACCEPT, bytes(16), 0, payload))
        with trio.fail_after(1):
            await media.run()  # returns at once: nothing to run
        frame = encode_envelope(T.MEDIA, TAG, 0, b"x")
        assert media.state is None and media.divert(frame) == frame
        assert media.counts["bad_accept"] == (1 if payload else 0)


async def test_hostile_datagrams_at_the_client_are_counted_not_raised(
    mock_clock: trio.testing.MockClock,
) -> None:
    async with relay_with_udp() as (relay, _), client(relay) as a:
        await a.until(PathState.UP)
        channel, path = a.media._channel, a.media.path
        assert channel is not None and path is not None
        for junk in (b"", bytes(100), channel.token + bytes(100)):
            a.media._received(channel, path, junk)
        assert a.media.counts["refused"] == 3 and not a.heard


class EveryNth:
    """Drops every ``n``-th call of ``inner`` (a lossy network, deterministic)."""

    def __init__(self, inner: Callable[..., object], n: int) -> None:
        self.inner, self.n, self.calls = inner, n, 0

    def __call__(self, *args: object) -> object:
        self.calls += 1
        return None if self.calls % self.n == 0 else self.inner(*args)


async def test_lossy_hops_ask_for_copies_and_the_copies_bring_the_frames_back(
    mock_clock: trio.testing.MockClock,
) -> None:
    """spec §23.6: each end measures its hop; the other sends MEDIA_RED; the frames come back."""
    async with relay_with_udp() as (relay, _), client(relay) as a, client(relay) as b:
        await a.until(PathState.UP)
        await b.until_receiving()
        assert relay.server is not None and relay.server.udp is not None
        table = relay.server.udp.table
        table.receive = EveryNth(table.receive, 10)  # type: ignore[method-assign]
        b.media._received = EveryNth(b.media._received, 10)  # type: ignore[method-assign]
        for i in range(400):
            await a.send_media(b"frame %d" % i)
            await trio.sleep(0.02)
        await trio.sleep(0.2)
        assert a.media.redundant and b.media.loss.wanted  # both hops asked for copies
        assert a.media.counts["sent_media_red"] > 200 and table.counts["recovered"] > 10
        assert b.media.counts["recovered"] > 10
        heard = [e.payload for e in b.heard]
        assert len(heard) == len(set(heard))  # never a frame twice
        # once copies flow, nothing is lost — but the last two frames' copies would ride
        # datagrams two frames later, which are never sent (spec §23.6: distance 2)
        late = {b"frame %d" % i for i in range(200, 398)}
        assert late - set(heard) == set()
        assert not b.over_link
