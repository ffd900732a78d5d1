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
    config = RelayConfig(reliable_queue_bytes=64 * 1024 * 1024)
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
