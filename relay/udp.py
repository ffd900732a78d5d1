"""The relay's UDP endpoint for the datagram channel (spec §23), under trio.

One non-blocking UDP socket beside the TLS listener.  The reader takes at
most :data:`DATAGRAMS_PER_TURN` datagrams per turn of the event loop, hands
each to the sans-IO :class:`~relay.datagram_table.DatagramTable`, sends the
PROBE_ACK it asks for and routes the MEDIA envelope it returns into the
router exactly as if it had come over the link (spec §23.4).  Sending is one
non-blocking ``sendto`` per datagram; a datagram the socket cannot take is
dropped and counted, never queued (spec §23.6).
"""

from __future__ import annotations

import os
import socket

import trio

from relay.config import RelayConfig
from relay.datagram_table import Address, DatagramTable
from relay.router import Link, Router

#: datagrams read between two yields of the reader, and the deliveries they may
#: cause before it yields early (spec §23.8)
DATAGRAMS_PER_TURN = 256
DELIVERIES_PER_TURN = 4096
_RECV_SIZE = 2048
_RECV_BUFFER = 1 << 20


class UdpEndpoint:
    """The datagram socket, its table and its reader task (spec §23)."""

    def __init__(self, sock: socket.socket, router: Router, config: RelayConfig) -> None:
        self.sock = sock
        self.router = router
        self.table = DatagramTable(config, os.urandom, sock.getsockname()[1])
        self.table.counts = router.stats.datagrams  # rendered by --metrics (relay.metrics)
        router.datagrams = self.table

    @classmethod
    def bind(cls, host: str, router: Router, config: RelayConfig) -> UdpEndpoint:
        """Bind the datagram socket on ``host:config.datagram_port`` (0: any free port)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((host, config.datagram_port or 0))
            sock.setblocking(False)
            # room for a burst between two turns (the kernel caps it at rmem_max)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECV_BUFFER)
        except OSError:
            sock.close()
            raise
        return cls(sock, router, config)

    @property
    def port(self) -> int:
        """The bound UDP port, as DATAGRAM_ACCEPT announces it (spec §23.2)."""
        return self.table.port

    def close(self) -> None:
        """Stop offering channels and close the socket."""
        if self.router.datagrams is self.table:
            self.router.datagrams = None
        self.sock.close()

    async def run(self) -> None:
        """Read, open and route datagrams until cancelled (spec §23.4)."""
        sock = self.sock
        table = self.table
        router = self.router
        stats = router.stats
        while True:
            await trio.lowlevel.wait_readable(sock)
            # as the link's reader: yield after a turn's worth of deliveries (spec §17.5)
            budget = stats.frames_forwarded + DELIVERIES_PER_TURN
            for _ in range(DATAGRAMS_PER_TURN):
                if stats.frames_forwarded > budget:
                    break
                try:
                    data, address = sock.recvfrom(_RECV_SIZE)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:  # e.g. ICMP port unreachable reported on the socket
                    continue
                now = trio.current_time()
                got = table.receive(data, address, now)
                if got is None:
                    continue
                if got.reply is not None:
                    self._send(got.reply, got.address)
                if got.envelopes and not got.link.closing:
                    router.receive(got.link, got.envelopes, now, by_datagram=True)
            await trio.lowlevel.checkpoint()

    def send_media(self, link: Link, data: bytes) -> bool:
        """Send one MEDIA envelope by datagram if §23.6 allows; False: use the link."""
        sealed = self.table.seal_media(link, data, trio.current_time())
        if sealed is None:
            return False
        self._send(*sealed)
        return True

    def _send(self, datagram: bytes, address: Address) -> None:
        try:
            self.sock.sendto(datagram, address)
        except OSError:  # would block, or the network is gone: audio, drop it
            self.table.counts["send_dropped"] += 1
            return
        self.table.counts["sent"] += 1
        self.table.counts["sent_bytes"] += len(datagram)
