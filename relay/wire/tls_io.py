"""Reading a non-blocking TLS socket without yielding between records (spec §7.4, §17.3).

A non-blocking ``ssl.SSLSocket.recv`` returns at most one TLS record per call,
so a reader that yields after each record sees tiny batches and falls behind
(DESIGN §4).  Both ends of the relay link drain every record that is ready in
one go with :func:`drain_ready`.
"""

from __future__ import annotations

import ssl


def drain_ready(sock: ssl.SSLSocket, chunk_size: int) -> tuple[list[bytes], bool]:
    """Read every TLS record that is ready now; return ``(chunks, eof)``.

    ``eof`` is true when the peer closed the stream or the TLS layer failed;
    the chunks read before that are still returned.  Never blocks.
    """
    chunks: list[bytes] = []
    while True:
        try:
            data = sock.recv(chunk_size)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return chunks, False
        except (ssl.SSLError, OSError):
            return chunks, True
        if not data:
            return chunks, True
        chunks.append(data)
