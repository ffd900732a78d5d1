"""The trio relay server (spec §7, §17): TLS links on raw non-blocking sockets.

Hot path (spec §17.3): stage members get each audio envelope at once with a
synchronous non-blocking ``SSLSocket.send`` (encryption happens in C inside
that call); audience members get adaptive batches — envelopes append to one
shared blob per room, a single flusher task yields once and then writes that
same blob to every audience member.  Anything that cannot be written at once
goes to the connection's bounded :class:`~relay.sendqueue.SendQueue` and a
writer task waits for the socket to become writable.

Reading drains the available TLS records before yielding (a non-blocking
``recv`` returns one record at a time), at most ``read_bytes_per_turn`` bytes
per link per turn of the event loop: the reader routes them, yields, and
continues (spec §17.5).  Each link has one writer task for its whole life,
started with the link and woken by an event: nothing ever starts a task on
another link's behalf, so no path can start one in a nursery that is closing
(spec §17.6).  TLS handshakes run under a capacity limiter so a reconnect
storm cannot hold the event loop for long.
"""

from __future__ import annotations

import logging
import socket
import ssl
from dataclasses import dataclass, field

import trio

from e2ee.envelope import (
    ZERO_TAG,
    EnvelopeDecoder,
    RelayErrorCode,
    encode_error,
)
from e2ee.errors import ErrorCode, RemoteProtocolError
from relay.admission import Admission, address_key
from relay.config import RelayConfig
from relay.router import Link, Room, Router
from relay.sendqueue import SendQueue
from relay.stats import RelayStats
from relay.udp import UdpEndpoint
from relay.wire.tls_io import drain_ready

log = logging.getLogger("hushroom.relay")

_DECODE_ERRORS = {
    ErrorCode.MALFORMED: RelayErrorCode.MALFORMED,
    ErrorCode.UNSUPPORTED_VERSION: RelayErrorCode.UNSUPPORTED_VERSION,
    ErrorCode.UNKNOWN_TYPE: RelayErrorCode.UNKNOWN_TYPE,
    ErrorCode.TOO_LARGE: RelayErrorCode.TOO_LARGE,
}
_RECV_SIZE = 65_536
#: audience members written between two yields of the flusher
_YIELD_EVERY = 256
#: deliveries one link's envelopes may cause between two yields of its reader
_DELIVERIES_PER_TURN = 4096


def server_ssl_context(cert_path: str, key_path: str) -> ssl.SSLContext:
    """TLS 1.3 only, no session tickets, the relay's pinned certificate (spec §7.1)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert_path, key_path)
    ctx.num_tickets = 0  # no resumption: nothing that links two connections
    return ctx


@dataclass(eq=False, slots=True)
class _AudienceBatch:
    parts: list[bytes] = field(default_factory=list)
    dirty: bool = False
    first_at: float = 0.0


class Conn:
    """I/O state of one accepted link."""

    __slots__ = (
        "address",
        "closed",
        "decoder",
        "final",
        "last_rx",
        "link",
        "queue",
        "scope",
        "sock",
        "wake",
    )

    def __init__(self, sock: ssl.SSLSocket, link: Link, address: str, cfg: RelayConfig) -> None:
        self.sock = sock
        self.link = link
        self.address = address
        self.queue = SendQueue(cfg.media_queue_bytes, cfg.reliable_queue_bytes)
        self.decoder = EnvelopeDecoder(cfg.max_payload)
        #: set when the queue has bytes for the link's writer task
        self.wake = trio.Event()
        self.closed = False
        self.final: bytes | None = None
        self.last_rx = trio.current_time()
        #: cancels the link's reader and writer; None once they have stopped
        self.scope: trio.CancelScope | None = None


class RelayServer:
    """One relay process: accept loop, per-link tasks, audience flusher, idle reaper."""

    def __init__(
        self,
        config: RelayConfig,
        ssl_context: ssl.SSLContext,
        stats: RelayStats | None = None,
        debug: bool = False,
    ) -> None:
        self.config = config
        self.ssl_context = ssl_context
        self.stats = stats if stats is not None else RelayStats()
        self.debug = debug
        self.router = Router(config, self, self.stats)
        self.conns: set[Conn] = set()
        self.admission = Admission(config)
        self._dirty: list[Room] = []
        self._wake = trio.Event()
        self._handshakes = trio.CapacityLimiter(config.handshake_concurrency)
        self._shutting_down = False
        self._nursery: trio.Nursery | None = None
        #: the datagram channel's endpoint while serving, if configured (spec §23)
        self.udp: UdpEndpoint | None = None

    # -- public ------------------------------------------------------------------

    async def serve(
        self,
        host: str,
        port: int,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on host:port and serve until cancelled; ``started`` gets the bound port."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        lsock = socket.socket(family, socket.SOCK_STREAM)
        try:
            lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lsock.bind((host, port))
            lsock.listen(4096)
            lsock.setblocking(False)
            bound = lsock.getsockname()[1]
            if self.config.datagram_port is not None:
                self.udp = UdpEndpoint.bind(host, self.router, self.config)
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if self.udp is not None:
                    nursery.start_soon(self.udp.run)
                nursery.start_soon(self._flusher)
                nursery.start_soon(self._reaper)
                nursery.start_soon(self._acceptor, lsock)
                task_status.started(bound)
        finally:
            lsock.close()
            if self.udp is not None:
                self.udp.close()
                self.udp = None

    async def shutdown(self, grace: float | None = None) -> None:
        """Graceful stop (spec §17.6): SHUTTING_DOWN to every link, wait for them to close."""
        self._shutting_down = True
        for conn in list(self.conns):
            self.close(conn.link, RelayErrorCode.SHUTTING_DOWN, "relay is shutting down")
        with trio.move_on_after(grace if grace is not None else self.config.close_grace + 1):
            while self.conns:
                await trio.sleep(0.01)

    # -- Outbox (called by the router) ----------------------------------------------

    def send_media(self, link: Link, data: bytes, tag: bytes, by_datagram: bool) -> None:
        """Stage delivery: one envelope, written now if the socket takes it (spec §17.3)."""
        conn: Conn = link.transport  # type: ignore[assignment]
        if conn.closed:
            return
        stats = self.stats
        stats.frames_forwarded += 1
        stats.bytes_forwarded += len(data)
        if by_datagram and self.udp is not None and self.udp.send_media(link, data):
            return  # one datagram (spec §23.6): what came over a link stays on links
        queue = conn.queue
        if not queue:
            if self._write_now(conn, data, True, tag, 1):
                return
        else:
            frames, nbytes = queue.push_media(data, tag, 1)
            if frames:
                stats.frames_dropped += frames
                stats.bytes_dropped += nbytes
        self._ensure_writer(conn)

    def send_reliable(self, link: Link, data: bytes, tag: bytes) -> None:
        """Reliable delivery: queued without bound up to the reliable limit (spec §17.4)."""
        conn: Conn = link.transport  # type: ignore[assignment]
        if conn.closed or link.closing:
            return
        queue = conn.queue
        if not queue:
            if self._write_now(conn, data, False, tag, 0):
                return
        elif not queue.push_reliable(data, tag):
            self.router.refuse(
                link, RelayErrorCode.SLOW_CONSUMER, "link cannot keep up with reliable traffic"
            )
            return
        self._ensure_writer(conn)

    def audience_batch(self, room: Room, data: bytes) -> None:
        """Append to the room's shared audience blob and wake the flusher (spec §17.3)."""
        batch: _AudienceBatch | None = room.transport  # type: ignore[assignment]
        if batch is None:
            batch = _AudienceBatch()
            room.transport = batch
        batch.parts.append(data)
        if not batch.dirty:
            batch.dirty = True
            batch.first_at = trio.current_time()
            self._dirty.append(room)
            self._wake.set()

    def close(self, link: Link, code: RelayErrorCode, reason: str) -> None:
        """Send ERROR(code) as the last envelope and close the link (spec §17.6)."""
        conn: Conn = link.transport  # type: ignore[assignment]
        link.closing = True
        if conn.closed or conn.final is not None:
            return
        conn.final = encode_error(ZERO_TAG, code, reason)
        if conn.scope is not None:
            conn.scope.cancel()

    # -- writing -------------------------------------------------------------------

    def _write_now(self, conn: Conn, data: bytes, media: bool, tag: bytes, frames: int) -> bool:
        """Try one non-blocking write of ``data`` to an idle link; queue what is left."""
        try:
            n = conn.sock.send(data)
        except ssl.SSLWantWriteError:
            n = -1
        except (ssl.SSLWantReadError, BlockingIOError):
            n = -1
        except (ssl.SSLError, OSError):
            self._broken(conn)
            return True
        if n == len(data):
            return True
        queue = conn.queue
        if media:
            queue.push_media(data, tag, frames)
        else:
            queue.push_reliable(data, tag)
        queue.in_flight = True  # OpenSSL wants the same bytes on retry
        if n > 0:
            queue.wrote(n)
        return False

    def _broken(self, conn: Conn) -> None:
        """The peer is gone: stop the link without a final message."""
        conn.link.closing = True
        conn.final = None
        conn.closed = True
        if conn.scope is not None:
            conn.scope.cancel()

    @staticmethod
    def _ensure_writer(conn: Conn) -> None:
        """Wake the link's writer task; never starts a task (spec §17.6)."""
        if conn.queue:
            conn.wake.set()

    def _flush(self, conn: Conn) -> bool:
        """Write queued chunks until the socket would block; True when the queue is empty."""
        queue = conn.queue
        sock = conn.sock
        while queue:
            chunk = queue.next_chunk()
            try:
                n = sock.send(chunk)
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                return False
            except (ssl.SSLError, OSError):
                self._broken(conn)
                return True
            queue.wrote(n)
        return True

    async def _writer(self, conn: Conn) -> None:
        """The link's one writer: sleeps until woken, writes while the socket takes it."""
        while True:
            await conn.wake.wait()
            conn.wake = trio.Event()
            while conn.queue and not conn.closed:
                await trio.lowlevel.wait_writable(conn.sock)
                self._flush(conn)

    async def _flusher(self) -> None:
        """Audience batching (spec §17.3): yield once, then one blob to every member."""
        min_interval = self.config.audience_min_interval
        stats = self.stats
        last = trio.current_time()
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            if min_interval > 0:
                await trio.sleep_until(last + min_interval)
            else:
                await trio.lowlevel.checkpoint()
            last = trio.current_time()
            rooms, self._dirty = self._dirty, []
            for room in rooms:
                batch: _AudienceBatch = room.transport  # type: ignore[assignment]
                parts = batch.parts
                first_at = batch.first_at
                batch.parts = []
                batch.dirty = False
                if not parts:
                    continue
                blob = b"".join(parts)
                frames = len(parts)
                size = len(blob)
                tag = room.tag
                delivered = 0
                stats.audience_batches += 1
                members = list(room.audience.values())
                for index, member in enumerate(members):
                    if index and not index % _YIELD_EVERY:
                        # Let stage traffic and readers run inside a long pass (spec §17.3).
                        await trio.lowlevel.checkpoint()
                    conn: Conn = member.link.transport  # type: ignore[assignment]
                    if conn.closed:
                        continue
                    delivered += 1
                    queue = conn.queue
                    if not queue:
                        try:
                            n = conn.sock.send(blob)
                        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                            n = -1
                        except (ssl.SSLError, OSError):
                            self._broken(conn)
                            continue
                        if n == size:
                            continue
                        queue.push_media(blob, tag, frames)
                        queue.in_flight = True
                        if n > 0:
                            queue.wrote(n)
                    else:
                        lost, nbytes = queue.push_media(blob, tag, frames)
                        if lost:
                            stats.frames_dropped += lost
                            stats.bytes_dropped += nbytes
                    self._ensure_writer(conn)
                stats.frames_forwarded += frames * delivered
                stats.bytes_forwarded += size * delivered
                stats.observe_batch_delay(trio.current_time() - first_at)

    # -- reading -------------------------------------------------------------------

    async def _reader(self, conn: Conn) -> None:
        """Read at most ``read_bytes_per_turn`` per turn, route it, yield (spec §17.5)."""
        sock = conn.sock
        link = conn.link
        decoder = conn.decoder
        router = self.router
        stats = self.stats
        cap = self.config.read_bytes_per_turn
        more = False
        while True:
            if more:
                await trio.lowlevel.checkpoint()
            else:
                await trio.lowlevel.wait_readable(sock)
            chunks, eof = drain_ready(sock, _RECV_SIZE, cap)
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            more = len(data) >= cap
            if data:
                now = trio.current_time()
                conn.last_rx = now
                try:
                    envelopes = decoder.feed(data)
                except RemoteProtocolError as exc:
                    router.refuse(
                        link, _DECODE_ERRORS.get(exc.code, RelayErrorCode.MALFORMED), str(exc)
                    )
                    return
                del data, chunks
                # Route envelope by envelope; yield whenever one turn's deliveries
                # pass the budget so that a link's fan-out cannot hold other rooms.
                budget = stats.frames_forwarded + _DELIVERIES_PER_TURN
                for env in envelopes:
                    router.receive(link, (env,), now)
                    if link.closing:
                        return
                    if stats.frames_forwarded > budget:
                        await trio.lowlevel.checkpoint()
                        budget = stats.frames_forwarded + _DELIVERIES_PER_TURN
                        now = trio.current_time()
            if eof:
                if decoder.buffered:
                    router.refuse(link, RelayErrorCode.TRUNCATED, "stream ended inside an envelope")
                return

    # -- connections ---------------------------------------------------------------

    async def _acceptor(self, lsock: socket.socket) -> None:
        assert self._nursery is not None
        while True:
            await trio.lowlevel.wait_readable(lsock)
            while True:
                try:
                    sock, addr = lsock.accept()
                except BlockingIOError:
                    break
                except OSError as exc:  # EMFILE and friends: back off briefly
                    log.warning("accept failed: %s", exc.strerror)
                    await trio.sleep(0.1)
                    break
                address = str(addr[0])
                key = address_key(address)
                # Every connection limit applies here, before any TLS work (spec §17.5).
                if self._shutting_down or not self.admission.admit(key):
                    self.stats.errors[RelayErrorCode.TOO_MANY_CONNECTIONS.name] += 1
                    sock.close()
                    continue
                self._nursery.start_soon(self._handle, sock, address, key)

    async def _handshake(self, sock: socket.socket) -> ssl.SSLSocket | None:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ssock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with trio.move_on_after(self.config.handshake_timeout):
            while True:
                # Only the CPU step holds a token, never the wait for the peer: at
                # most ``handshake_concurrency`` steps run per scheduler pass, and a
                # peer that never answers cannot hold a token (spec §17.5).
                async with self._handshakes:
                    await trio.lowlevel.checkpoint()
                    try:
                        ssock.do_handshake()
                        return ssock
                    except ssl.SSLWantReadError:
                        want_read = True
                    except ssl.SSLWantWriteError:
                        want_read = False
                    except (ssl.SSLError, OSError):
                        self.stats.handshakes_failed += 1
                        ssock.close()
                        return None
                if want_read:
                    await trio.lowlevel.wait_readable(ssock)
                else:
                    await trio.lowlevel.wait_writable(ssock)
        self.stats.handshakes_failed += 1
        self.stats.errors[RelayErrorCode.HANDSHAKE_TIMEOUT.name] += 1
        ssock.close()
        return None

    async def _handle(self, raw: socket.socket, address: str, key: str) -> None:
        try:
            sock = await self._handshake(raw)
        except BaseException:
            raw.close()
            self.admission.failed(key)
            raise
        if sock is None:
            self.admission.failed(key)
            return
        self.admission.established(key)
        link = self.router.open_link(trio.current_time())
        conn = Conn(sock, link, address, self.config)
        link.transport = conn
        self.conns.add(conn)
        stats = self.stats
        stats.connections_open += 1
        stats.connections_total += 1
        if self.debug:
            log.debug("link #%d open from %s", link.id, address)
        try:
            if self._shutting_down:
                self.close(link, RelayErrorCode.SHUTTING_DOWN, "relay is shutting down")
            else:
                async with trio.open_nursery() as nursery:
                    conn.scope = nursery.cancel_scope
                    nursery.start_soon(self._writer, conn)
                    await self._reader(conn)
                    nursery.cancel_scope.cancel()
        finally:
            conn.scope = None
            self.router.close_link(link)
            final = conn.final
            if final is not None and not conn.closed:
                conn.queue.discard_for_close()
                conn.queue.push_reliable(final)
                with trio.CancelScope(shield=True), trio.move_on_after(self.config.close_grace):
                    while not self._flush(conn) and not conn.closed:
                        await trio.lowlevel.wait_writable(sock)
            conn.closed = True
            self.conns.discard(conn)
            self.admission.closed(key)
            stats.connections_open -= 1
            if self.debug:
                log.debug("link #%d closed", link.id)
            try:
                sock.close()
            except OSError:
                pass

    async def _reaper(self) -> None:
        """Close links that sent nothing for ``idle_timeout`` seconds (spec §17.5)."""
        idle = self.config.idle_timeout
        while True:
            await trio.sleep(max(0.05, min(idle / 4, 5.0)))
            cutoff = trio.current_time() - idle
            for conn in list(self.conns):
                if conn.last_rx < cutoff and not conn.link.closing:
                    self.router.refuse(conn.link, RelayErrorCode.IDLE_TIMEOUT, "idle for too long")
