"""The relay's datagram endpoint over real loopback UDP and TLS (spec §23)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
import trio.testing
from test_relay_link import TAG, Running, identity, receive_until, running_relay
from test_relay_router import TAG as ROUTER_TAG
from test_relay_router import RecordingOutbox, join, setup

from client.link import RelayLink
from e2ee import datagram as dg
from e2ee.datagram import DatagramChannel, DatagramGrant, Direction, Kind
from e2ee.envelope import EnvelopeType, decode_envelope, encode_envelope, parse_error
from relay.config import RelayConfig
from relay.router import Link, Router
from relay.state import RelayIdentity
from relay.stats import RelayStats
from relay.udp import UdpEndpoint

T = EnvelopeType
UDP = RelayConfig(datagram_port=0)


@pytest.fixture
def ident(tmp_path_factory: pytest.TempPathFactory) -> RelayIdentity:
    return identity(Path(tmp_path_factory.getbasetemp()))


@pytest.fixture
def mock_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.02)


@dataclass
class Member:
    """A stage member with a TLS link and, once offered, a datagram channel."""

    link: RelayLink
    slot: int
    channel: DatagramChannel
    sock: trio.socket.SocketType

    async def send(self, kind: Kind, body: bytes, flags: int = dg.FLAG_RECEIVING) -> None:
        await self.sock.send(self.channel.seal(kind, body, flags))

    async def probe(self) -> None:
        await self.send(Kind.PROBE, dg.probe_body(0))
        with trio.fail_after(2):
            ack = self.channel.open(await self.sock.recv(2048))
        assert ack.kind is Kind.PROBE_ACK

    async def datagram(self) -> dg.Datagram:
        with trio.fail_after(2):
            return self.channel.open(await self.sock.recv(2048))


@asynccontextmanager
async def member(relay: Running, cls: int = 0) -> AsyncIterator[Member]:
    link, slot = await relay.member(cls)
    await link.send_envelope(T.DATAGRAM_OFFER, bytes(16), 0)
    [accept] = [
        e for e in await receive_until(link, T.DATAGRAM_ACCEPT) if e.type is T.DATAGRAM_ACCEPT
    ]
    grant = DatagramGrant.decode(accept.payload)
    assert relay.server.udp is not None and grant.port == relay.server.udp.port
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.connect(("127.0.0.1", grant.port))
    channel = DatagramChannel(grant.link_key, grant.token, Direction.CLIENT_TO_RELAY)
    try:
        yield Member(link, slot, channel, sock)
    finally:
        sock.close()
        await link.aclose()


def media(payload: bytes) -> bytes:
    return encode_envelope(T.MEDIA, TAG, 0, payload)


async def test_stage_members_exchange_frames_one_per_datagram(ident: RelayIdentity) -> None:
    async with running_relay(ident, UDP) as relay, member(relay) as a, member(relay) as b:
        await a.probe()
        await b.probe()
        for i in range(5):
            await a.send(Kind.MEDIA, media(b"frame %d" % i))
        got = [await b.datagram() for _ in range(5)]
        envelopes = [decode_envelope(d.body) for d in got]
        assert [e.payload for e in envelopes] == [b"frame %d" % i for i in range(5)]
        assert {(d.kind, e.type, e.slot) for d, e in zip(got, envelopes, strict=True)} == {
            (Kind.MEDIA, T.MEDIA, a.slot)
        }


async def test_media_that_came_over_the_link_leaves_over_links_only(ident: RelayIdentity) -> None:
    """spec §23.6: the sender chooses per frame what must arrive (a speaker proof goes over
    its link); the relay keeps that choice even for a receiver whose datagram path is up."""
    async with running_relay(ident, UDP) as relay, member(relay) as a, member(relay) as b:
        await a.probe()
        await b.probe()
        await a.link.send_envelope(T.MEDIA, TAG, 0, b"a proof, over the link")
        with trio.fail_after(2):
            got = await receive_until(b.link, T.MEDIA)
        assert [e.payload for e in got if e.type is T.MEDIA] == [b"a proof, over the link"]
        await a.send(Kind.MEDIA, media(b"a frame, by datagram"))
        assert decode_envelope((await b.datagram()).body).payload == b"a frame, by datagram"


async def test_audience_gets_datagram_media_over_the_link(ident: RelayIdentity) -> None:
    async with running_relay(ident, UDP) as relay, member(relay) as a:
        listener, _ = await relay.member(1)
        await a.probe()
        await a.send(Kind.MEDIA, media(b"to the audience"))
        with trio.fail_after(2):
            got = await receive_until(listener, T.MEDIA)
        assert [e.payload for e in got if e.type is T.MEDIA] == [b"to the audience"]
        await listener.aclose()


async def test_relay_falls_back_to_the_link_when_the_client_stops_receiving(
    ident: RelayIdentity, mock_clock: trio.testing.MockClock
) -> None:
    async with running_relay(ident, UDP) as relay, member(relay) as a, member(relay) as b:
        await b.probe()
        await a.send(Kind.MEDIA, media(b"by datagram"))
        assert decode_envelope((await b.datagram()).body).payload == b"by datagram"
        await trio.sleep(UDP.datagram_path_timeout + 0.05)  # b sent nothing since
        await a.send(Kind.MEDIA, media(b"by the link"))
        with trio.fail_after(2):
            got = await receive_until(b.link, T.MEDIA)
        assert [e.payload for e in got if e.type is T.MEDIA] == [b"by the link"]
        await b.send(Kind.PROBE, dg.probe_body(1), flags=0)  # "I do not hear you"
        await b.datagram()  # its ack
        await a.send(Kind.MEDIA, media(b"still the link"))
        with trio.fail_after(2):
            got = await receive_until(b.link, T.MEDIA)
        assert [e.payload for e in got if e.type is T.MEDIA] == [b"still the link"]
        await b.probe()  # receiving again: back to datagrams
        await a.send(Kind.MEDIA, media(b"datagram again"))
        assert decode_envelope((await b.datagram()).body).payload == b"datagram again"


async def test_datagram_media_obeys_the_links_rules(ident: RelayIdentity) -> None:
    async with running_relay(ident, UDP) as relay, member(relay) as a:
        other_tag = bytes(range(1, 17))
        await a.send(Kind.MEDIA, encode_envelope(T.MEDIA, other_tag, 0, b"x"))
        with trio.fail_after(2):
            got = await receive_until(a.link, T.ERROR)
        [error] = [e for e in got if e.type is T.ERROR]
        assert parse_error(error)[0] == 0x101 and error.room_tag == other_tag  # NOT_JOINED


async def test_junk_and_replays_cost_nothing_and_the_link_survives(
    ident: RelayIdentity,
) -> None:
    async with running_relay(ident, UDP) as relay, member(relay) as a, member(relay) as b:
        await b.probe()
        sealed = a.channel.seal(Kind.MEDIA, media(b"once"), dg.FLAG_RECEIVING)
        for data in (sealed, sealed, b"\x00" * 100, b"GET / HTTP/1.1\r\n\r\n", sealed):
            await a.sock.send(data)
        assert decode_envelope((await b.datagram()).body).payload == b"once"
        await a.send(Kind.MEDIA, media(b"next"))
        assert decode_envelope((await b.datagram()).body).payload == b"next"  # no duplicate
        assert relay.server.udp is not None
        counts = relay.server.udp.table.counts
        assert counts["replay"] == 2 and counts["malformed"] == 1
        assert counts["unknown_token"] == 1
        await a.link.send_envelope(T.PING, bytes(16), 0, b"ok")
        with trio.fail_after(2):
            assert (await receive_until(a.link, T.PONG))[-1].payload == b"ok"


async def test_a_closed_link_loses_its_channel(ident: RelayIdentity) -> None:
    async with running_relay(ident, UDP) as relay:
        assert relay.server.udp is not None
        table = relay.server.udp.table
        async with member(relay) as a:
            await a.probe()
            assert len(table) == 1
        with trio.fail_after(2):
            while len(table):
                await trio.sleep(0.01)


async def test_relay_without_a_datagram_port_refuses_the_offer(ident: RelayIdentity) -> None:
    async with running_relay(ident, RelayConfig()) as relay:
        assert relay.server.udp is None
        link = await relay.link()
        await link.send_envelope(T.DATAGRAM_OFFER, bytes(16), 0)
        with trio.fail_after(2):
            got = await receive_until(link, T.DATAGRAM_ACCEPT)
        assert got[-1].payload == b""
        await link.aclose()


async def test_the_reader_yields_after_256_datagrams() -> None:
    """spec §23.8: at most 256 datagrams are read per turn of the event loop."""
    router, _ = setup()
    endpoint = UdpEndpoint.bind("127.0.0.1", router, RelayConfig(datagram_port=0))
    link = router.open_link(0.0)
    grant = DatagramGrant.decode(endpoint.table.offer(link, trio.current_time()))
    channel = DatagramChannel(grant.link_key, grant.token, Direction.CLIENT_TO_RELAY)
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.connect(("127.0.0.1", endpoint.port))
    for i in range(300):
        await sock.send(channel.seal(Kind.PROBE, dg.probe_body(i)))
    seen: list[int] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(endpoint.run)
        with trio.fail_after(5):
            while not seen or seen[-1] < 300:
                await trio.lowlevel.checkpoint()
                seen.append(endpoint.table.counts["sent"])
        nursery.cancel_scope.cancel()
    assert set(seen) - {0} == {256, 300}
    endpoint.close()
    sock.close()


class CountingOutbox(RecordingOutbox):
    """Counts stage deliveries in the router's stats, as the server's outbox does."""

    def __init__(self) -> None:
        super().__init__()
        self.stats: RelayStats | None = None

    def send_media(self, link: Link, data: bytes, tag: bytes, by_datagram: bool) -> None:
        assert self.stats is not None
        self.stats.frames_forwarded += 1


async def test_the_reader_yields_after_about_4096_deliveries() -> None:
    """spec §23.8: datagrams whose fan-out passed 4,096 deliveries end the reader's turn."""
    outbox = CountingOutbox()
    config = RelayConfig(datagram_port=0, media_rate=1000.0, media_burst=1000.0)
    router = Router(config, outbox)  # type: ignore[arg-type]
    outbox.stats = router.stats
    endpoint = UdpEndpoint.bind("127.0.0.1", router, config)
    members = [join(router, outbox, 0)[0] for _ in range(20)]  # 19 deliveries per frame
    grant = DatagramGrant.decode(endpoint.table.offer(members[0], trio.current_time()))
    channel = DatagramChannel(grant.link_key, grant.token, Direction.CLIENT_TO_RELAY)
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.connect(("127.0.0.1", endpoint.port))
    frame = encode_envelope(T.MEDIA, ROUTER_TAG, 0, b"frame")
    for _ in range(250):
        await sock.send(channel.seal(Kind.MEDIA, frame))
    seen: list[int] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(endpoint.run)
        with trio.fail_after(5):
            while not seen or seen[-1] < 250 * 19:
                await trio.lowlevel.checkpoint()
                seen.append(router.stats.frames_forwarded)
        nursery.cancel_scope.cancel()
    first_turn = min(n for n in seen if n)
    assert 4096 < first_turn <= 4096 + 19  # the datagram that crossed the budget, then a yield
    endpoint.close()
    sock.close()


async def _scrape(port: int) -> str:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    body = b""
    while chunk := await stream.receive_some(65536):
        body += chunk
    return body.decode()


async def test_datagram_counters_appear_in_the_metrics_without_identifiers(
    ident: RelayIdentity,
) -> None:
    from relay.metrics import DATAGRAM_COUNTERS, serve_metrics

    async with (
        running_relay(ident, UDP) as relay,
        member(relay) as a,
        member(relay) as b,
        trio.open_nursery() as nursery,
    ):
        await a.probe()
        await b.probe()
        sealed = a.channel.seal(Kind.MEDIA, media(b"once"), dg.FLAG_RECEIVING)
        forged = a.channel.seal(Kind.MEDIA, media(b"forged"), dg.FLAG_RECEIVING)
        forged = forged[:-1] + bytes([forged[-1] ^ 1])
        for data in (sealed, sealed, forged, b"\x00" * 100, b"\x01" * 10):
            await a.sock.send(data)
        assert decode_envelope((await b.datagram()).body).payload == b"once"
        port = await nursery.start(serve_metrics, relay.server.stats, "127.0.0.1", 0)
        text = await _scrape(port)
        values = {
            line.split()[0].removeprefix("hushroom_relay_datagrams_").removesuffix("_total"): int(
                line.split()[1]
            )
            for line in text.splitlines()
            if line.startswith("hushroom_relay_datagrams_")
        }
        assert set(values) == set(DATAGRAM_COUNTERS)
        # in: two probes, the frame twice, the forgery, junk with no channel, a runt
        assert (values["received"], values["accepted"]) == (7, 3)
        assert (values["replay"], values["authentication"]) == (1, 1)
        assert (values["unknown_token"], values["malformed"]) == (1, 1)
        # out: two PROBE_ACKs and the frame to b
        assert values["sent"] == 3 and values["sent_bytes"] >= 3 * dg.MIN_DATAGRAM
        assert values["received_bytes"] == 2 * 64 + 2 * len(sealed) + len(forged) + 110
        for secret in (a.channel.token, b.channel.token, TAG):
            assert secret.hex() not in text
        assert "127.0.0.1" not in text
        nursery.cancel_scope.cancel()


async def test_a_member_moved_to_the_audience_gets_media_in_batches_over_its_link(
    ident: RelayIdentity,
) -> None:
    """spec §23.6 rule 1: the audience gets batches on the link, whatever its channel says."""
    async with running_relay(ident, UDP) as relay, member(relay) as a, member(relay) as b:
        await a.probe()
        await b.probe()
        await a.send(Kind.MEDIA, media(b"on stage"))
        assert decode_envelope((await b.datagram()).body).payload == b"on stage"
        await b.link.send_envelope(T.SET_CLASS, TAG, 0, b"\x01")  # moved to the audience
        await b.probe()  # its channel lives on and still says RECEIVING
        await a.send(Kind.MEDIA, media(b"in the audience"))
        with trio.fail_after(2):
            got = await receive_until(b.link, T.MEDIA)
        assert [e.payload for e in got if e.type is T.MEDIA] == [b"in the audience"]
        await b.probe()  # the next datagram b gets is an answer, not the frame
