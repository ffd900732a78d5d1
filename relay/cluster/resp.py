"""RESP2, the engine's wire, as much as the MEDIA connections need (spec §24.4).

:func:`command` writes a command; :class:`RespParser` returns every complete
reply in what it was fed, so that one read of the socket is handled at once
(:mod:`relay.cluster.redis_media`).  Everything read is bounded (bulk length,
items per array, no nesting); an error reply or anything outside those
bounds raises :class:`RespError`, which ends the engine session like any
other loss of the engine (§24.6).  Sans-IO.
"""

from __future__ import annotations

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
