"""The MEDIA connections to the engine (spec §24.4): no task hop, no turn per message.

coredis hands pub/sub messages over through two memory channels, each of
which yields to the event loop once per message: a node whose event loop
turns every 10-20 ms (thousands of links) then takes at most 50-100 MEDIA a
second off the channel, fewer than a room's speakers send, and the rest
queue without bound while the CPU idles.  MEDIA therefore has connections
of its own: an :class:`EngineSocket` is a non-blocking socket (TLS when the
URL says ``rediss``) speaking :mod:`relay.cluster.resp`.  A PUBLISH is
written from the turn in which its frame arrived, without waiting for the
replies of earlier ones; a read returns what is ready in the turn the
socket became readable, and the engine hands all of it on before it reads
again.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections import deque

import anyio
import coredis
import trio

from relay.cluster.resp import Reply, RespError, RespParser, command
from relay.wire.tls_io import drain_ready

#: bytes read from the engine per turn of the event loop at most (about: whole TLS records)
_READ_PER_TURN = 65_536


class EngineSocket:
    """One non-blocking socket (TLS or not) to the engine, for MEDIA (spec §24.4).

    :meth:`write` sends at once from the caller's turn when nothing is waiting
    (no task hop between a frame's arrival and its PUBLISH); what the socket
    does not take waits, at most ``max_queued`` writes (then the oldest waiting
    one is dropped), for :meth:`run_writer`.  :meth:`receive` returns what is
    ready in the same turn the socket became readable.
    """

    def __init__(self, sock: socket.socket, max_queued: int) -> None:
        self.sock = sock
        self._queue: deque[bytes] = deque(maxlen=max_queued)
        #: bytes the socket has not taken yet; after SSLWantWrite, the exact bytes to retry
        self._inflight: bytes | None = None
        self._wake = trio.Event()
        self._eof = False
        #: writes dropped because ``max_queued`` were waiting
        self.dropped = 0

    def write(self, data: bytes) -> None:
        """Send ``data`` now if the socket takes it, else queue it behind what waits."""
        if self._inflight is None and not self._queue:
            self._send(data)
            return
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(data)
        self._wake.set()

    def _send(self, data: bytes) -> None:
        try:
            n = self.sock.send(data)
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
            n = -1  # OpenSSL wants the same bytes again
        except OSError:
            self._inflight = data  # the writer's next send raises it in its task
            self._wake.set()
            return
        if n == len(data):
            self._inflight = None
            return
        self._inflight = data if n < 0 else data[n:]
        self._wake.set()

    async def run_writer(self, batch: int) -> None:
        """Write what waits, ``batch`` writes at a time, whenever the socket takes it."""
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            while self._inflight is not None or self._queue:
                if self._inflight is None:
                    n = min(len(self._queue), batch)
                    self._inflight = b"".join(self._queue.popleft() for _ in range(n))
                await trio.lowlevel.wait_writable(self.sock)
                data = self._inflight
                try:
                    sent = self.sock.send(data)
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    continue
                self._inflight = None if sent == len(data) else data[sent:]

    async def receive(self, max_bytes: int = _READ_PER_TURN) -> bytes:
        """The bytes ready once the socket is readable (at most about ``max_bytes``)."""
        if self._eof:
            raise RespError("the engine closed the connection")
        if not (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
            await trio.lowlevel.wait_readable(self.sock)
        else:
            await trio.lowlevel.checkpoint()
        chunks, self._eof = drain_ready(self.sock, 65_536, max_bytes)  # type: ignore[arg-type]
        if not chunks and self._eof:
            raise RespError("the engine closed the connection")
        return b"".join(chunks)

    def close(self) -> None:
        trio.lowlevel.notify_closing(self.sock)
        self.sock.close()


async def _connected(host: str, port: int, context: ssl.SSLContext | None) -> socket.socket:
    infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = sock.connect_ex(addr)
        if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            raise OSError(err, errno.errorcode.get(err, str(err)))
        await trio.lowlevel.wait_writable(sock)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, errno.errorcode.get(err, str(err)))
        if context is None:
            return sock
        ssock = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
        sock = ssock
        while True:
            try:
                ssock.do_handshake()
                return ssock
            except ssl.SSLWantReadError:
                await trio.lowlevel.wait_readable(ssock)
            except ssl.SSLWantWriteError:
                await trio.lowlevel.wait_writable(ssock)
    except BaseException:
        sock.close()
        raise


async def connect(url: str, max_queued: int, timeout: float = 5.0) -> EngineSocket:
    """A socket to the engine at ``url``, TLS and password as coredis reads them from it."""
    pool = coredis.ConnectionPool.from_url(url)
    location = pool.location
    options = pool.connection_kwargs
    if not isinstance(location, coredis.connection.TCPLocation):
        raise RespError("the engine is reached over TCP")
    with anyio.fail_after(timeout):
        sock = await _connected(location.host, location.port, options.get("ssl_context"))
        engine = EngineSocket(sock, max_queued)
        try:
            password = options.get("password")
            if password:
                user = options.get("username")
                engine.write(command("AUTH", user, password) if user else command("AUTH", password))
                parser = RespParser(64)
                replies: list[Reply] = []
                while not replies:
                    try:
                        replies = parser.feed(await engine.receive())
                    except RespError:
                        raise RespError("the engine refused this node's password") from None
        except BaseException:
            engine.close()
            raise
    return engine
