"""Frame padding to size buckets (spec §11.4).

``pad(data) = data || 0x80 || 0x00 * k`` where the total is the smallest
bucket >= len(data) + 1.  The length is recovered by stripping trailing zero
bytes and the 0x80 marker (ISO/IEC 7816-4 style).  With padding off the
plaintext is the frame itself (no marker byte).
"""

from __future__ import annotations

import bisect

from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

BUCKETS: tuple[int, ...] = (32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 4096)
MAX_PADDED_INPUT = BUCKETS[-1] - 1


def bucket_for(length: int) -> int:
    """The padded size for ``length`` bytes of data (spec §11.4)."""
    i = bisect.bisect_left(BUCKETS, length + 1)
    if i == len(BUCKETS):
        raise LocalProtocolError(f"frames are at most {MAX_PADDED_INPUT} bytes with padding on")
    return BUCKETS[i]


def pad(data: bytes) -> bytes:
    """Pad ``data`` to its bucket (spec §11.4)."""
    return data + b"\x80" + bytes(bucket_for(len(data)) - len(data) - 1)


def unpad(padded: bytes) -> bytes:
    """Remove padding (spec §11.4); RemoteProtocolError(MALFORMED) if the marker is missing."""
    stripped = padded.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80:
        raise RemoteProtocolError("bad frame padding", ErrorCode.MALFORMED)
    return stripped[:-1]
