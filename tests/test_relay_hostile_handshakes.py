"""Connection limits apply at accept, before the TLS handshake (spec §17.5).

Peers that open TCP connections and never finish a handshake used to be
counted nowhere: three addresses held about 20,000 pending handshakes and
the relay ran out of file descriptors.  Each test fills one limit to its
bound with such peers and checks that the next connection is refused at once
while the one at the bound is still held.
"""

from __future__ import annotations

import pytest
import trio
from test_relay_hostile_links import wait_until_relay
from test_relay_link import Running, identity, running_relay

from client.link import RelayUnavailable
from relay.admission import Admission, address_key
from relay.config import RelayConfig
from relay.state import RelayIdentity

TOO_MANY = "TOO_MANY_CONNECTIONS"


@pytest.fixture
def ident(tmp_path_factory: pytest.TempPathFactory) -> RelayIdentity:
    return identity(tmp_path_factory.getbasetemp())


async def stall(
    relay: Running, count: int, source: str = "127.0.0.1"
) -> list[trio.socket.SocketType]:
    """``count`` TCP connections that never send a byte, all admitted by the relay."""
    socks = []
    start = relay.server.admission.pending
    for _ in range(count):
        sock = trio.socket.socket()
        await sock.bind((source, 0))
        await sock.connect(("127.0.0.1", relay.port))
        socks.append(sock)
    await wait_until_relay(relay.server, lambda: relay.server.admission.pending == start + count)
    return socks


async def connect_raw(relay: Running, source: str = "127.0.0.1") -> trio.socket.SocketType | None:
    """One TCP connection without TLS: the socket if admitted, None if refused at accept."""
    server = relay.server
    refusals, pending = server.stats.errors[TOO_MANY], server.admission.pending
    sock = trio.socket.socket()
    await sock.bind((source, 0))
    await sock.connect(("127.0.0.1", relay.port))
    await wait_until_relay(
        server,
        lambda: server.stats.errors[TOO_MANY] > refusals or server.admission.pending > pending,
    )
    if server.stats.errors[TOO_MANY] > refusals:
        assert await sock.recv(1) == b""  # closed without a word: no TLS yet
        sock.close()
        return None
    return sock


def close_all(socks: list[trio.socket.SocketType]) -> None:
    for sock in socks:
        sock.close()


async def test_pending_handshakes_count_in_max_connections(ident: RelayIdentity) -> None:
    async with running_relay(ident, RelayConfig(max_connections=4)) as relay:
        link, _ = await relay.member(1)
        held = await stall(relay, 3)  # 1 link + 3 pending = the bound
        assert await connect_raw(relay) is None
        with pytest.raises(RelayUnavailable):
            await relay.link()
        close_all(held[:1])  # one pending peer gives up: room for one more
        await wait_until_relay(relay.server, lambda: relay.server.admission.pending == 2)
        again = await relay.link()
        await again.aclose()
        await link.aclose()
        close_all(held[1:])


async def test_per_address_limit_counts_pending_and_established(ident: RelayIdentity) -> None:
    async with running_relay(ident, RelayConfig(max_connections_per_address=3)) as relay:
        link, _ = await relay.member(1)
        held = await stall(relay, 2)
        assert await connect_raw(relay) is None
        other = await connect_raw(relay, source="127.0.0.2")  # another address is admitted
        assert other is not None
        other.close()
        await link.aclose()
        close_all(held)


async def test_pending_handshakes_are_capped_in_total(ident: RelayIdentity) -> None:
    config = RelayConfig(max_pending_handshakes=3, max_pending_per_address=3)
    async with running_relay(ident, config) as relay:
        held = await stall(relay, 2, source="127.0.0.1")
        held += await stall(relay, 1, source="127.0.0.2")
        assert await connect_raw(relay, source="127.0.0.3") is None
        close_all(held[:1])
        await wait_until_relay(relay.server, lambda: relay.server.admission.pending == 2)
        link = await relay.link()  # established links are not pending
        await wait_until_relay(relay.server, lambda: relay.server.stats.connections_open == 1)
        late = await connect_raw(relay, source="127.0.0.3")
        assert late is not None
        assert await connect_raw(relay, source="127.0.0.4") is None
        await link.aclose()
        close_all([*held[1:], late])


async def test_pending_handshakes_are_capped_per_address(ident: RelayIdentity) -> None:
    config = RelayConfig(max_pending_per_address=2)
    async with running_relay(ident, config) as relay:
        held = await stall(relay, 2)
        assert await connect_raw(relay) is None
        other = await connect_raw(relay, source="127.0.0.2")
        assert other is not None
        held.append(other)
        close_all(held)


def test_admission_counts_and_releases_every_state() -> None:
    config = RelayConfig(
        max_connections=3, max_connections_per_address=2, max_pending_per_address=2
    )
    admission = Admission(config)
    a, b = address_key("192.0.2.1"), address_key("192.0.2.2")
    assert admission.admit(a) and admission.admit(a)
    assert not admission.admit(a)  # per address: pending + established
    admission.established(a)
    assert not admission.admit(a)
    assert admission.admit(b)
    assert not admission.admit(b)  # in total
    admission.failed(b)
    admission.closed(a)
    assert admission.admit(a)
    assert (admission.links, admission.pending) == (2, 2)


def test_ipv6_addresses_count_per_64_prefix() -> None:
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("::ffff:192.0.2.1") == address_key("192.0.2.1")
    assert address_key("192.0.2.1") != address_key("192.0.2.2")
