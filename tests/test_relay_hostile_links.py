"""Hostile and unlucky links against the real relay over TLS on loopback (spec §17.5, §17.6).

Each test reproduces one way a link used to stall, bloat or kill the relay
and asserts the bound the spec states for it.
"""

from __future__ import annotations

import socket

import pytest
import trio
import trio.testing
from test_relay_link import TAG, identity, running_relay

from client.link import RelayLink
from e2ee.envelope import EnvelopeType
from relay.config import RelayConfig
from relay.server import RelayServer
from relay.state import RelayIdentity

T = EnvelopeType


@pytest.fixture
def ident(tmp_path_factory: pytest.TempPathFactory) -> RelayIdentity:
    return identity(tmp_path_factory.getbasetemp())


async def wait_until_relay(server: RelayServer, done: object) -> None:
    """Let the relay run until ``done()`` holds (no wall-clock sleeps)."""
    assert callable(done)
    with trio.fail_after(30):
        while not done():
            await trio.sleep(0)


def backlogged(server: RelayServer, links: int) -> bool:
    """True when at least ``links`` links have bytes waiting in their send queue."""
    return sum(1 for conn in server.conns if conn.queue) >= links


async def test_links_ending_together_with_backlogs_do_not_kill_the_relay(
    ident: RelayIdentity,
) -> None:
    """spec §17.6: a link's end notifies others; no path starts a task in a closed nursery.

    Stage members that stop reading hold queued bytes, so each has a writer
    waiting; when they all end at once, each one's PEER_LEFT reaches the others
    while their own tasks are finishing.  This used to raise "Nursery is closed
    to new arrivals" out of the relay's top nursery and stop every room.
    """
    config = RelayConfig(reliable_queue_bytes=64 * 1024 * 1024, byte_rate=1e9, byte_burst=1e9)
    async with running_relay(ident, config) as relay:
        sender, _ = await relay.member(1)
        stage: list[RelayLink] = []
        for _ in range(4):
            link, _ = await relay.member(0)
            link.ssl_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stage.append(link)
        for _ in range(100):
            await sender.send_envelope(T.CONTROL, TAG, 0, bytes(60_000))
        await wait_until_relay(relay.server, lambda: backlogged(relay.server, len(stage)))
        for link in stage:  # every FIN reaches the relay before it runs again
            socket.socket.shutdown(link.ssl_socket, socket.SHUT_WR)
        await wait_until_relay(relay.server, lambda: relay.server.stats.connections_open == 1)
        # The relay is alive and serves the remaining link and new ones.
        await sender.send_envelope(T.PING, TAG, 0, b"alive")
        got = []
        while not any(e.type == T.PONG for e in got):
            got += await sender.receive()
        assert got[-1].payload == b"alive"
        newcomer, _ = await relay.member(1)
        await newcomer.aclose()
        for link in stage:
            link.ssl_socket.close()


class DrainSpy:
    """Wraps the relay's real ``drain_ready`` and records the bytes of every call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import relay.server

        self.real = relay.server.drain_ready
        self.sizes: list[int] = []
        monkeypatch.setattr(relay.server, "drain_ready", self)

    def __call__(self, *args: object) -> tuple[list[bytes], bool]:
        chunks, eof = self.real(*args)  # type: ignore[arg-type]
        self.sizes.append(sum(map(len, chunks)))
        return chunks, eof

    @property
    def total(self) -> int:
        return sum(self.sizes)


async def test_flooding_link_is_read_in_capped_turns_and_other_rooms_keep_going(
    ident: RelayIdentity, monkeypatch: pytest.MonkeyPatch
) -> None:
    """spec §17.5: at most read_bytes_per_turn (+ one TLS record) per link per turn.

    One link writes CONTROL as fast as the socket takes it, with the rate
    limits out of the way; another room pings meanwhile.  The relay used to
    read everything the kernel held for the flooder before anything else.
    """
    cap = 128 * 1024
    config = RelayConfig(
        read_bytes_per_turn=cap,
        max_payload=65_536,
        envelope_rate=1e9,
        envelope_burst=1e9,
        byte_rate=1e12,
        byte_burst=1e12,
    )
    spy = DrainSpy(monkeypatch)
    async with running_relay(ident, config) as relay:
        flooder, _ = await relay.member(0)
        pinger, _ = await relay.member(0, tag=bytes(16))
        envelope = encode_control(60_000) * 64  # 3.8 MB per write: many turns
        flood_total = 20 * len(envelope)
        read_during_pings: list[int] = []

        async def flood() -> None:
            for _ in range(20):
                await flooder.send(envelope)

        async def read_echoes() -> None:  # the relay echoes every broadcast (spec §17.3)
            while True:
                await flooder.receive()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(flood)
            nursery.start_soon(read_echoes)
            await wait_until_relay(relay.server, lambda: spy.total > 4 * cap)
            for i in range(20):
                before = spy.total
                await pinger.send_envelope(T.PING, bytes(16), 0, bytes([i]))
                [pong] = await pinger.receive()
                assert pong.type == T.PONG
                read_during_pings.append(spy.total - before)
            await wait_until_relay(relay.server, lambda: spy.total >= flood_total)
            nursery.cancel_scope.cancel()
        record = 16 * 1024 + 256  # one TLS record's plaintext plus slack
        assert max(spy.sizes) <= cap + record
        # the ping waits for at most a few of the flooder's turns, never for the flood
        assert max(read_during_pings) <= 4 * (cap + record)
        assert relay.server.stats.errors == {}


def encode_control(size: int) -> bytes:
    from e2ee.envelope import encode_envelope

    return encode_envelope(T.CONTROL, TAG, 0, bytes(size))


async def test_one_reads_fan_out_is_split_into_turns(ident: RelayIdentity) -> None:
    """spec §17.5: the reader yields after about 4,096 deliveries caused by one link.

    2,000 small CONTROL envelopes to 50 members arrive in one read (100,000
    deliveries); another room's PING must be answered while they are routed,
    not after all of them.
    """
    members, count = 50, 2_000
    async with running_relay(ident, RelayConfig()) as relay:
        stats = relay.server.stats
        flooder, _ = await relay.member(1)
        room = [(await relay.member(1))[0] for _ in range(members)]
        pinger, _ = await relay.member(1, tag=bytes(16))
        start = stats.frames_forwarded
        await flooder.send(encode_control(100) * count)
        await wait_until_relay(relay.server, lambda: stats.frames_forwarded > start)
        await pinger.send_envelope(T.PING, bytes(16), 0, b"now")
        [pong] = await pinger.receive()
        assert pong.type == T.PONG
        deliveries = (members + 1) * count  # the others and the flooder's echo (spec §17.3)
        assert stats.frames_forwarded - start < deliveries
        await wait_until_relay(relay.server, lambda: stats.frames_forwarded - start == deliveries)
        for link in room:
            await link.aclose()
