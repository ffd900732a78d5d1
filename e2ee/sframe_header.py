"""The SFrame header (RFC 9605 §4.3), used verbatim as Hushroom's frame header (spec §11.2).

::

     0 1 2 3 4 5 6 7
    +-+-+-+-+-+-+-+-+------------+------------+
    |X|  K  |Y|  C  |   KID...   |   CTR...   |
    +-+-+-+-+-+-+-+-+------------+------------+

A value 0..7 sits in K (or C) with X (or Y) = 0; otherwise X (Y) = 1, K (C) is
the byte length minus one, and the value follows big-endian in the minimum
number of bytes, KID first.  Non-minimal encodings are rejected.
"""

from __future__ import annotations

from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError

MAX_VALUE = 2**64 - 1


def _field(value: int) -> tuple[int, bytes]:
    """(bits for the config byte nibble, trailing bytes) for one value."""
    if value < 8:
        return value, b""
    n = (value.bit_length() + 7) >> 3
    return 0x8 | (n - 1), value.to_bytes(n, "big")


def encode_header(kid: int, ctr: int) -> bytes:
    """Encode (KID, CTR) exactly as RFC 9605 §4.3 (spec §11.2)."""
    if not 0 <= kid <= MAX_VALUE or not 0 <= ctr <= MAX_VALUE:
        raise LocalProtocolError("KID and CTR are 64-bit unsigned integers")
    k, kid_bytes = _field(kid)
    c, ctr_bytes = _field(ctr)
    return bytes(((k << 4) | c,)) + kid_bytes + ctr_bytes


def decode_header(data: bytes) -> tuple[int, int, int]:
    """Parse a header at the start of ``data`` -> (kid, ctr, header_length) (spec §11.2).

    RemoteProtocolError(MALFORMED) if truncated, (NON_CANONICAL) if a value is
    not in its minimal form.
    """
    if not data:
        raise RemoteProtocolError("empty frame", ErrorCode.MALFORMED)
    config = data[0]
    pos = 1
    if config & 0x80:
        klen = ((config >> 4) & 0x7) + 1
        if len(data) < pos + klen:
            raise RemoteProtocolError("truncated SFrame header", ErrorCode.MALFORMED)
        kid = int.from_bytes(data[pos : pos + klen], "big")
        if kid < 8 or data[pos] == 0:
            raise RemoteProtocolError("non-minimal KID", ErrorCode.NON_CANONICAL)
        pos += klen
    else:
        kid = (config >> 4) & 0x7
    if config & 0x08:
        clen = (config & 0x7) + 1
        if len(data) < pos + clen:
            raise RemoteProtocolError("truncated SFrame header", ErrorCode.MALFORMED)
        ctr = int.from_bytes(data[pos : pos + clen], "big")
        if ctr < 8 or data[pos] == 0:
            raise RemoteProtocolError("non-minimal CTR", ErrorCode.NON_CANONICAL)
        pos += clen
    else:
        ctr = config & 0x7
    return kid, ctr, pos
