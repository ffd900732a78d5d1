"""Independent checker for spec/vectors/envelope.json (spec §8, §21).

Written from the text of spec §8 alone: it imports nothing from e2ee/ or
relay/.  ``verify(path)`` returns the number of vectors checked and raises
AssertionError on the first mismatch.  Run: python spec/verify_envelope.py
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

HEADER = 26
TYPES = {
    0x01: "JOIN",
    0x02: "LEAVE",
    0x03: "SET_CLASS",
    0x10: "MEDIA",
    0x11: "CONTROL",
    0x12: "UNICAST",
    0x20: "PING",
    0x21: "DATAGRAM_OFFER",
    0x81: "WELCOME",
    0x82: "PEER_JOINED",
    0x83: "PEER_LEFT",
    0x84: "LOSS",
    0x85: "ERROR",
    0x86: "DATAGRAM_ACCEPT",
    0xA0: "PONG",
}


def parse(data: bytes, max_payload: int) -> tuple[int, bytes, int, bytes]:
    """Parse exactly one envelope; raise ValueError(name of the §8.3 error)."""
    if len(data) < HEADER:
        raise ValueError("TRUNCATED")
    version, etype = data[0], data[1]
    tag = data[2:18]
    slot = int.from_bytes(data[18:22], "big")
    length = int.from_bytes(data[22:26], "big")
    if version != 1:
        raise ValueError("UNSUPPORTED_VERSION")
    if etype not in TYPES:
        raise ValueError("UNKNOWN_TYPE")
    if length > max_payload:
        raise ValueError("TOO_LARGE")
    if len(data) < HEADER + length:
        raise ValueError("TRUNCATED")
    if len(data) > HEADER + length:
        raise ValueError("TRAILING")
    payload = data[HEADER:]
    name = TYPES[etype]
    ok = True
    if name in ("JOIN", "SET_CLASS"):
        ok = len(payload) == 1 and payload[0] in (0, 1)
    elif name in ("LEAVE", "WELCOME", "PEER_JOINED", "PEER_LEFT", "DATAGRAM_OFFER"):
        ok = not payload
    elif name == "DATAGRAM_ACCEPT":
        ok = len(payload) in (0, 42)
    elif name in ("PING", "PONG"):
        ok = len(payload) <= 64
    elif name == "LOSS":
        ok = len(payload) == 8
    elif name == "ERROR":
        ok = len(payload) >= 2
        if ok:
            try:
                payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                ok = False
    if not ok:
        raise ValueError("MALFORMED")
    return etype, tag, slot, payload


def verify(path: str | Path) -> int:
    """Check every vector in ``path``; return how many were checked."""
    doc = json.loads(Path(path).read_text())
    checked = 0
    for v in doc["valid"]:
        encoded = bytes.fromhex(v["encoded"])
        tag, payload = bytes.fromhex(v["room_tag"]), bytes.fromhex(v["payload"])
        expect = struct.pack(">BB16sII", 1, v["type"], tag, v["slot"], len(payload)) + payload
        assert encoded == expect, f"{v['name']}: encoding differs"
        etype, ptag, slot, ppayload = parse(encoded, 262144)
        assert (etype, ptag, slot, ppayload) == (v["type"], tag, v["slot"], payload), v["name"]
        assert TYPES[etype] == v["type_name"], v["name"]
        if v["type_name"] == "LOSS":
            frames, nbytes = struct.unpack(">II", payload)
            assert (frames, nbytes) == (12, 1512), v["name"]
        checked += 1
    for v in doc["invalid"]:
        try:
            parse(bytes.fromhex(v["encoded"]), v["max_payload"])
        except ValueError as exc:
            # A stream decoder sees the header first: a declared length that is too
            # large is TOO_LARGE even when the bytes are not all there yet.
            assert str(exc) == v["error"], f"{v['name']}: {exc} != {v['error']}"
        else:
            raise AssertionError(f"{v['name']}: accepted")
        checked += 1
    for v in doc["truncated"]:
        try:
            parse(bytes.fromhex(v["encoded"]), 262144)
        except ValueError as exc:
            assert str(exc) == "TRUNCATED", v["name"]
        else:
            raise AssertionError(f"{v['name']}: accepted")
        checked += 1
    return checked


verify_count = verify  # the interface spec/verify_vectors.py calls


if __name__ == "__main__":
    target = (
        sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("vectors") / "envelope.json"
    )
    n = verify(target)
    print(f"envelope vectors: {n} checked, all match")
