"""A deterministic reader over a fuzz input, so targets need no atheris at replay time.

Structured targets (a stream fed in splits, a sequence of frames, a sequence of
envelopes) read their choices from the input bytes with :class:`Cursor`; the
same bytes always give the same choices, which is what lets every stored input
replay as a plain pytest test.
"""

from __future__ import annotations


class ContractViolation(AssertionError):
    """A target saw an output that breaks the decoder contract (size, round trip)."""


def require(ok: bool, what: str) -> None:
    """Raise :class:`ContractViolation` unless ``ok`` (not ``assert``: it survives ``-O``)."""
    if not ok:
        raise ContractViolation(what)


class Cursor:
    """Reads bytes, integers and length-prefixed chunks; past the end it yields zeros / b""."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def left(self) -> int:
        """Bytes not yet consumed."""
        return len(self._data) - self._pos

    def byte(self) -> int:
        """One byte, or 0 at the end."""
        if self._pos >= len(self._data):
            return 0
        self._pos += 1
        return self._data[self._pos - 1]

    def uint(self, nbytes: int) -> int:
        """A big-endian unsigned integer of ``nbytes`` bytes (zero-filled at the end)."""
        return int.from_bytes(self.take(nbytes).ljust(nbytes, b"\0"), "big")

    def take(self, n: int) -> bytes:
        """Up to ``n`` bytes."""
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out

    def chunk(self) -> bytes:
        """A u16-length-prefixed chunk (shorter if the input ends)."""
        return self.take(self.uint(2))

    def rest(self) -> bytes:
        """Everything not yet consumed."""
        return self.take(self.left)


def chunks(data: bytes, limit: int = 64) -> list[bytes]:
    """Split ``data`` into at most ``limit`` u16-length-prefixed chunks."""
    cur = Cursor(data)
    out: list[bytes] = []
    while cur.left and len(out) < limit:
        out.append(cur.chunk())
    return out


def join_chunks(items: list[bytes]) -> bytes:
    """Inverse of :func:`chunks` (for building seeds)."""
    return b"".join(len(x).to_bytes(2, "big") + x for x in items)
