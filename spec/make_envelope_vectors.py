"""Regenerate spec/vectors/envelope.json from the reference codec (spec §8, §21).

Run: .venv/bin/python spec/make_envelope_vectors.py
The independent checker is spec/verify_envelope.py (it shares no code with e2ee/).
"""

from __future__ import annotations

import json
from pathlib import Path

from e2ee.envelope import (
    EnvelopeDecoder,
    EnvelopeType,
    RelayErrorCode,
    encode_envelope,
    encode_error,
    encode_loss,
)
from e2ee.errors import RemoteProtocolError

TAG = bytes.fromhex("8f3a1c5e0b7d2f4960a1b2c3d4e5f617")
ZERO = bytes(16)


def valid() -> list[dict[str, object]]:
    cases: list[tuple[str, EnvelopeType, bytes, int, bytes]] = [
        ("join as stage", EnvelopeType.JOIN, TAG, 0, b"\x00"),
        ("join as audience", EnvelopeType.JOIN, TAG, 0, b"\x01"),
        ("leave", EnvelopeType.LEAVE, TAG, 0, b""),
        ("set class to stage", EnvelopeType.SET_CLASS, TAG, 0, b"\x00"),
        ("media from client (slot 0)", EnvelopeType.MEDIA, TAG, 0, bytes(range(20))),
        ("control from client", EnvelopeType.CONTROL, TAG, 0, b"opaque control"),
        ("unicast to slot 7", EnvelopeType.UNICAST, TAG, 7, b"\xde\xad\xbe\xef"),
        ("ping with 8-byte token", EnvelopeType.PING, ZERO, 0, b"\x00\x01\x02\x03\x04\x05\x06\x07"),
        ("welcome, slot 3", EnvelopeType.WELCOME, TAG, 3, b""),
        ("peer joined, slot 4", EnvelopeType.PEER_JOINED, TAG, 4, b""),
        ("peer left, slot 4294967295", EnvelopeType.PEER_LEFT, TAG, 0xFFFFFFFF, b""),
        ("media forwarded from slot 2", EnvelopeType.MEDIA, TAG, 2, bytes(range(20))),
        ("unicast forwarded from slot 1", EnvelopeType.UNICAST, TAG, 1, b"\xde\xad\xbe\xef"),
        ("pong", EnvelopeType.PONG, ZERO, 0, b"\x00\x01\x02\x03\x04\x05\x06\x07"),
        ("datagram offer", EnvelopeType.DATAGRAM_OFFER, ZERO, 0, b""),
        ("datagram accept", EnvelopeType.DATAGRAM_ACCEPT, ZERO, 0, b"\x11\x51" + bytes(range(40))),
        ("datagram accept, no channel", EnvelopeType.DATAGRAM_ACCEPT, ZERO, 0, b""),
    ]
    out: list[dict[str, object]] = []
    for name, etype, tag, slot, payload in cases:
        out.append(
            _valid(name, etype, tag, slot, payload, encode_envelope(etype, tag, slot, payload))
        )
    loss = encode_loss(TAG, 12, 1512)
    out.append(_valid("loss: 12 frames, 1512 bytes", EnvelopeType.LOSS, TAG, 0, loss[26:], loss))
    err = encode_error(ZERO, RelayErrorCode.RATE_LIMITED, "envelope rate limit exceeded")
    out.append(_valid("error RATE_LIMITED", EnvelopeType.ERROR, ZERO, 0, err[26:], err))
    err = encode_error(TAG, RelayErrorCode.NO_SUCH_SLOT, "no member in that slot")
    out.append(_valid("error NO_SUCH_SLOT", EnvelopeType.ERROR, TAG, 0, err[26:], err))
    return out


def _valid(
    name: str, etype: EnvelopeType, tag: bytes, slot: int, payload: bytes, encoded: bytes
) -> dict[str, object]:
    return {
        "name": name,
        "type": int(etype),
        "type_name": etype.name,
        "room_tag": tag.hex(),
        "slot": slot,
        "payload": payload.hex(),
        "encoded": encoded.hex(),
    }


def invalid() -> list[dict[str, object]]:
    good = encode_envelope(EnvelopeType.MEDIA, TAG, 0, b"abc")
    cases: list[tuple[str, bytes, int]] = [
        ("version 2", b"\x02" + good[1:], 262144),
        ("version 0", b"\x00" + good[1:], 262144),
        ("ASCII garbage (an HTTP request)", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 262144),
        ("unknown type 0x13", good[:1] + b"\x13" + good[2:], 262144),
        ("unknown type 0x00", good[:1] + b"\x00" + good[2:], 262144),
        (
            "payload length above the limit",
            encode_envelope(EnvelopeType.MEDIA, TAG, 0, b"x" * 9),
            8,
        ),
        ("declared length 0xFFFFFFFF", good[:22] + b"\xff\xff\xff\xff", 262144),
        ("JOIN with class 2", encode_envelope(EnvelopeType.JOIN, TAG, 0, b"\x02"), 262144),
        ("JOIN with empty payload", encode_envelope(EnvelopeType.JOIN, TAG, 0), 262144),
        ("LEAVE with a payload", encode_envelope(EnvelopeType.LEAVE, TAG, 0, b"\x00"), 262144),
        ("PING payload of 65 bytes", encode_envelope(EnvelopeType.PING, TAG, 0, bytes(65)), 262144),
        ("LOSS payload of 7 bytes", encode_envelope(EnvelopeType.LOSS, TAG, 0, bytes(7)), 262144),
        ("ERROR payload of 1 byte", encode_envelope(EnvelopeType.ERROR, TAG, 0, b"\x00"), 262144),
        (
            "DATAGRAM_OFFER with a payload",
            encode_envelope(EnvelopeType.DATAGRAM_OFFER, ZERO, 0, b"\x00"),
            262144,
        ),
        (
            "DATAGRAM_ACCEPT payload of 41 bytes",
            encode_envelope(EnvelopeType.DATAGRAM_ACCEPT, ZERO, 0, bytes(41)),
            262144,
        ),
        (
            "ERROR reason not UTF-8",
            encode_envelope(EnvelopeType.ERROR, TAG, 0, b"\x00\x01\xff"),
            262144,
        ),
    ]
    out: list[dict[str, object]] = []
    for name, data, max_payload in cases:
        try:
            EnvelopeDecoder(max_payload).feed(data)
        except RemoteProtocolError as exc:
            out.append(
                {
                    "name": name,
                    "encoded": data.hex(),
                    "max_payload": max_payload,
                    "error": exc.code.name,
                }
            )
        else:
            raise AssertionError(f"{name} decoded")
    return out


def main() -> None:
    doc = {
        "description": "Relay envelopes, spec §8. Valid: fields and their encoding. Invalid: "
        "bytes a decoder with the given max_payload MUST reject, with the error name.",
        "header": "version u8 | type u8 | room_tag 16 | slot u32 | payload_length u32, big-endian",
        "valid": valid(),
        "invalid": invalid(),
        "truncated": [
            {
                "name": "header cut at 25 bytes",
                "encoded": encode_envelope(EnvelopeType.PING, ZERO, 0)[:25].hex(),
            },
            {
                "name": "payload cut short",
                "encoded": encode_envelope(EnvelopeType.MEDIA, TAG, 0, b"abcdef")[:30].hex(),
            },
        ],
    }
    path = Path(__file__).with_name("vectors") / "envelope.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
