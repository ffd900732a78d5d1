"""Reading a non-blocking TLS socket without yielding between records (spec §7.4, §17.3).

A non-blocking ``ssl.SSLSocket.recv`` returns at most one TLS record per call,
so a reader that yields after each record sees tiny batches and falls behind
(DESIGN §4).  Both ends of the relay link drain the records that are ready in
one go with :func:`drain_ready`; the relay caps the bytes of one drain
(spec §17.5, ``read_bytes_per_turn``) so that one link cannot hold the event
loop or the relay's memory with everything its peer managed to send.
"""

from __future__ import annotations

import ssl


def drain_ready(
    sock: ssl.SSLSocket, chunk_size: int, max_bytes: int | None = None
) -> tuple[list[bytes], bool]:
    """Read the TLS records that are ready now; return ``(chunks, eof)``.

    Stops once at least ``max_bytes`` were read (``None``: no cap); the rest
    stays in the socket for the next call.  ``eof`` is true when the peer
    closed the stream or the TLS layer failed; the chunks read before that
    are still returned.  Never blocks.
    """
    chunks: list[bytes] = []
    total = 0
    while max_bytes is None or total < max_bytes:
        try:
            data = sock.recv(chunk_size)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return chunks, False
        except (ssl.SSLError, OSError):
            return chunks, True
        if not data:
            return chunks, True
        chunks.append(data)
        total += len(data)
    return chunks, False
