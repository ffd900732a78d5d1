"""Whole :class:`RoomClient` objects on the real sans-IO relay router, on trio's MockClock.

:class:`MemoryRelay` runs :class:`relay.router.Router` (spec §17: slots,
delivery classes, PEER_JOINED/PEER_LEFT, rate limits) behind in-memory links
that implement the client session's ``Link`` protocol, so a test drives real
clients through the real router with no sockets and no real time.  A test
can *stall* a link: the relay closes it (as it does when a connection dies),
while the client, like one suspended or behind a dead network path, neither
hears anything nor notices until the stall ends.
"""

from __future__ import annotations

import math
import secrets

import trio

from client.relay_connect import new_invite
from client.session import Connect, LinkFailed
from e2ee.envelope import Envelope, EnvelopeDecoder, RelayErrorCode, decode_envelope
from e2ee.identity import IdentityKey
from relay import router as relay_router
from relay.config import RelayConfig
from relay.stats import RelayStats
from relay.wire.pin import encode_pin
from tests.room.harness import _Outbox as harness_outbox


class MemoryLink:
    """One client connection: bytes to the router, envelopes back through a channel."""

    def __init__(self, relay: MemoryRelay) -> None:
        self.relay = relay
        self.conn = relay.router.open_link(trio.current_time())
        self.conn.transport = self
        self._to_client, self._inbox = trio.open_memory_channel[Envelope](math.inf)
        self._decoder = EnvelopeDecoder()
        self.closed = False
        self.stalled = False
        self.uplink_dropped = False
        """Everything the client sends is lost (the link stays up)."""
        self._unstalled = trio.Event()

    def deliver(self, data: bytes) -> None:
        if not self.closed and not self.stalled:
            self._to_client.send_nowait(decode_envelope(data, self.relay.config.max_payload))

    async def send(self, data: bytes) -> None:
        await trio.lowlevel.checkpoint()
        if self.closed and not self.stalled:
            raise LinkFailed("link closed")
        if self.stalled or self.uplink_dropped:
            return  # into a dead network path
        envelopes = list(self._decoder.feed(data))
        self.relay.router.receive(self.conn, envelopes, trio.current_time())

    async def receive(self) -> list[Envelope]:
        if self.stalled:
            await self._unstalled.wait()
            raise LinkFailed("connection timed out")
        try:
            out = [await self._inbox.receive()]
        except trio.EndOfChannel:
            if self.stalled:
                await self._unstalled.wait()
            raise LinkFailed("closed by the relay") from None
        while True:
            try:
                out.append(self._inbox.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return out

    def close_at_relay(self) -> None:
        if not self.closed:
            self.closed = True
            self.relay.router.close_link(self.conn)
            self._to_client.close()

    def stall(self) -> None:
        """The relay drops this connection; the client notices nothing until :meth:`unstall`."""
        self.stalled = True
        self.close_at_relay()

    def unstall(self) -> None:
        self._unstalled.set()

    async def aclose(self) -> None:
        self.close_at_relay()


class _Outbox(harness_outbox):
    """The room harness's outbox, delivering to in-memory trio links instead."""

    def __init__(self, relay: MemoryRelay) -> None:
        self.memory = relay

    def _to(self, conn: relay_router.Link, data: bytes) -> None:
        link = conn.transport
        assert isinstance(link, MemoryLink)
        link.deliver(data)

    def close(self, link: relay_router.Link, code: RelayErrorCode, reason: str) -> None:
        transport = link.transport
        assert isinstance(transport, MemoryLink)
        transport.close_at_relay()


class MemoryRelay:
    """The real router with in-memory links; ``links`` lists every link ever opened."""

    def __init__(self, config: RelayConfig | None = None) -> None:
        self.config = config or RelayConfig()
        self.router = relay_router.Router(self.config, _Outbox(self), RelayStats())
        self.links: list[MemoryLink] = []
        self.pin = encode_pin(secrets.token_bytes(32))

    def connector(self, opened: list[MemoryLink] | None = None) -> Connect:
        """A ``connect()`` for one client; ``opened`` collects that client's links."""

        async def connect() -> MemoryLink:
            await trio.lowlevel.checkpoint()
            link = MemoryLink(self)
            self.links.append(link)
            if opened is not None:
                opened.append(link)
            return link

        return connect

    def invite(self, founder: IdentityKey) -> str:
        """An invite to a new room on this relay (host and port are never dialled)."""
        return new_invite("127.0.0.1", 7448, self.pin, founder)
