"""A bare RESP connection to the engine for MEDIA (spec §24.4): no task hop per message.

coredis hands pub/sub messages over through two memory channels, each of
which yields to the event loop once per message: a node whose event loop
turns every 10-20 ms (thousands of links) then takes at most 50-100 MEDIA a
second off the channel, fewer than a room's speakers send, and the rest
queue without bound while the CPU idles.  MEDIA therefore has connections
of its own, spoken here in RESP2: :class:`RespParser` returns every reply
that one read brought, and the engine handles them all before it reads
again; publishes are written without waiting for their replies.

Everything read is bounded (bulk length, items per array, no nesting); an
error reply or anything outside those bounds raises :class:`RespError`,
which ends the engine session like any other loss of the engine (§24.6).
"""

from __future__ import annotations

import anyio
import anyio.abc
import coredis

from e2ee.errors import HushroomError

#: items in one reply array: a pub/sub message or (un)subscribe confirmation has 3
MAX_ITEMS = 8

Reply = bytes | int | list[bytes | int]


class RespError(HushroomError):
    """The engine sent an error reply, or bytes that are not a reply it sends."""


def command(*args: bytes | str | int) -> bytes:
    """One command in RESP2 (an array of bulk strings)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        value = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(value), value))
    return b"".join(parts)


class RespParser:
    """Incremental RESP2 replies: bulk and simple strings, integers, flat arrays, errors."""

    def __init__(self, max_bulk: int) -> None:
        self._max_bulk = max_bulk
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> list[Reply]:
        """Every complete reply in what was fed so far; raises :class:`RespError`."""
        self._buf += data
        replies: list[Reply] = []
        while True:
            start = self._pos
            try:
                reply = self._one(top=True)
            except IndexError:  # incomplete: wait for more
                self._pos = start
                break
            replies.append(reply)
        del self._buf[: self._pos]
        self._pos = 0
        if len(self._buf) > self._max_bulk + MAX_ITEMS * 32:
            raise RespError("a reply longer than the engine sends")
        return replies

    def _line(self) -> bytes:
        end = self._buf.find(b"\r\n", self._pos)
        if end < 0:
            if len(self._buf) - self._pos > 32:
                raise RespError("a reply header longer than the engine sends")
            raise IndexError
        line = bytes(self._buf[self._pos : end])
        self._pos = end + 2
        return line

    def _int(self, text: bytes) -> int:
        if not text or len(text) > 20 or not text.lstrip(b"-").isdigit():
            raise RespError("a malformed number from the engine")
        return int(text)

    def _one(self, top: bool) -> Reply:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RespError("the engine answered with an error")
        if kind == b":":
            return self._int(rest)
        if kind == b"$":
            n = self._int(rest)
            if not 0 <= n <= self._max_bulk:
                raise RespError("a bulk string longer than the engine sends")
            end = self._pos + n
            if len(self._buf) < end + 2:
                raise IndexError
            if self._buf[end : end + 2] != b"\r\n":
                raise RespError("a malformed bulk string from the engine")
            value = bytes(self._buf[self._pos : end])
            self._pos = end + 2
            return value
        if kind == b"*" and top:
            n = self._int(rest)
            if not 0 <= n <= MAX_ITEMS:
                raise RespError("an array longer than the engine sends")
            items: list[bytes | int] = []
            for _ in range(n):
                item = self._one(top=False)
                assert not isinstance(item, list)
                items.append(item)
            return items
        raise RespError("a reply type the engine does not send here")


async def connect(url: str, timeout: float = 5.0) -> anyio.abc.ByteStream:
    """A stream to the engine at ``url``, TLS and password as coredis reads them from it."""
    pool = coredis.ConnectionPool.from_url(url)
    location = pool.location
    options = pool.connection_kwargs
    if not isinstance(location, coredis.connection.TCPLocation):
        raise RespError("the engine is reached over TCP")
    host, port = location.host, location.port
    context = options.get("ssl_context")
    with anyio.fail_after(timeout):
        if context is not None:
            stream: anyio.abc.ByteStream = await anyio.connect_tcp(
                host, port, tls=True, ssl_context=context, tls_standard_compatible=False
            )
        else:
            stream = await anyio.connect_tcp(host, port)
        password = options.get("password")
        if password:
            user = options.get("username")
            args = ("AUTH", user, password) if user else ("AUTH", password)
            await stream.send(command(*args))
            parser = RespParser(64)
            replies: list[Reply] = []
            while not replies:
                try:
                    replies = parser.feed(await stream.receive())
                except RespError:
                    await stream.aclose()
                    raise RespError("the engine refused this node's password") from None
    return stream
