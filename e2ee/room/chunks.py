"""Reassembly of SEALED_CHUNK pieces into one SEALED payload (spec §13.1, §16.7).

The chunk header (transfer id, index, count) travels in clear, so anyone who
holds the room tag can send pieces: :class:`ChunkAssembler` treats every piece
as hostile.  It keeps at most :data:`MAX_TRANSFERS` transfers and
:data:`MAX_BYTES` bytes in total, accepts a piece only if it agrees with the
count its transfer started with, requires every piece but the last to be
exactly :data:`CHUNK_DATA` bytes (so a transfer never holds more than
``count * CHUNK_DATA`` bytes), and forgets a transfer :data:`TRANSFER_TIMEOUT`
seconds after its first piece.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from e2ee.errors import ErrorCode, RemoteProtocolError
from e2ee.room.seal import CHUNK_DATA, parse_chunk

MAX_CHUNKS = 64  # the bound parse_chunk puts on count (spec §13.1)
MAX_TRANSFERS = 8
MAX_BYTES = 4 * 1024 * 1024  # > MAX_CHUNKS * CHUNK_DATA: one whole transfer always fits
TRANSFER_TIMEOUT = 30.0


@dataclass
class _Transfer:
    count: int
    expires: float
    parts: dict[int, bytes] = field(default_factory=dict)
    size: int = 0


class ChunkAssembler:
    """Bounded reassembly state of one session (spec §16.7): feed pieces, get payloads."""

    def __init__(self) -> None:
        self._transfers: dict[bytes, _Transfer] = {}
        self._bytes = 0

    @property
    def buffered_bytes(self) -> int:
        """Bytes of chunk data currently held (at most :data:`MAX_BYTES`)."""
        return self._bytes

    @property
    def transfers(self) -> int:
        """Transfers currently held (at most :data:`MAX_TRANSFERS`)."""
        return len(self._transfers)

    def next_expiry(self) -> float | None:
        """When the oldest transfer expires, or None."""
        return min((t.expires for t in self._transfers.values()), default=None)

    def expire(self, now: float) -> int:
        """Forget transfers whose time is up; return how many."""
        gone = [tid for tid, t in self._transfers.items() if now >= t.expires]
        for tid in gone:
            self._drop(tid)
        return len(gone)

    def clear(self) -> None:
        """Forget every transfer (a new relay link)."""
        self._transfers.clear()
        self._bytes = 0

    def add(self, payload: bytes, now: float) -> bytes | None:
        """Take one SEALED_CHUNK piece; return the whole SEALED payload once complete.

        Raises ``RemoteProtocolError`` (MALFORMED) for a piece that cannot
        belong to a valid transfer; a transfer that was contradicted is dropped.
        """
        self.expire(now)
        tid, index, count, data = parse_chunk(payload)
        if len(data) > CHUNK_DATA or (index < count - 1 and len(data) != CHUNK_DATA):
            raise RemoteProtocolError("chunk length", ErrorCode.MALFORMED)
        transfer = self._transfers.get(tid)
        if transfer is not None and transfer.count != count:
            self._drop(tid)
            raise RemoteProtocolError("chunk count differs within a transfer", ErrorCode.MALFORMED)
        if transfer is None:
            while len(self._transfers) >= MAX_TRANSFERS:
                self._drop(next(iter(self._transfers)))
            transfer = _Transfer(count, now + TRANSFER_TIMEOUT)
            self._transfers[tid] = transfer
        old = transfer.parts.get(index)
        if old is not None:
            transfer.size -= len(old)
            self._bytes -= len(old)
        while self._bytes + len(data) > MAX_BYTES:
            oldest = next(iter(self._transfers))
            self._drop(oldest)
            if oldest == tid:
                return None  # this transfer alone would exceed the bound
        transfer.parts[index] = data
        transfer.size += len(data)
        self._bytes += len(data)
        if len(transfer.parts) < count:
            return None
        self._drop(tid)
        return b"".join(transfer.parts[i] for i in range(count))

    def _drop(self, tid: bytes) -> None:
        transfer = self._transfers.pop(tid)
        self._bytes -= transfer.size
