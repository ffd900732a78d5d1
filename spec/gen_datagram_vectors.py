"""Generate spec/vectors/datagram.json (spec §23, §21) with this repository's e2ee/.

Fixed inputs (SHAKE-256 of fixed strings); the independent checker is
spec/verify_datagram.py.  Run: python spec/gen_datagram_vectors.py [--out DIR]
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from e2ee import datagram as dg
from e2ee.datagram import DatagramChannel, DatagramGrant, Direction, Kind
from e2ee.envelope import ZERO_TAG, EnvelopeType, encode_envelope
from e2ee.errors import RemoteProtocolError

OUT = Path(__file__).resolve().parent / "vectors"


def fixed(name: str, n: int) -> bytes:
    return hashlib.shake_256(b"hushroom datagram vectors/" + name.encode()).digest(n)


LINK_KEY = fixed("link key", 32)
TOKEN = fixed("token", 8)
ROOM_TAG = fixed("room tag", 16)
PORT = 4433


def case(
    name: str,
    direction: Direction,
    counter: int,
    kind: Kind,
    body: bytes,
    flags: int = 0,
    floor: int = 0,
) -> dict[str, object]:
    end = DatagramChannel(LINK_KEY, TOKEN, direction, counter)
    data = end.seal(kind, body, flags, floor)
    inner = bytes((kind, flags)) + body
    size = dg.padded_size(len(inner), floor)
    return {
        "name": name,
        "direction": int(direction),
        "counter": counter,
        "kind": int(kind),
        "flags": flags,
        "body": body.hex(),
        "floor": floor,
        "plaintext": (inner + b"\x80" + bytes(size - len(inner) - 1)).hex(),
        "nonce": (bytes(16) + counter.to_bytes(8, "big")).hex(),
        "aad": dg.datagram_aad(TOKEN, counter).hex(),
        "datagram": data.hex(),
    }


def error_of(seen: list[bytes], data: bytes) -> str:
    """Open ``seen`` in order at the relay's end, then ``data``: the error it raises."""
    relay = DatagramChannel(LINK_KEY, TOKEN, Direction.RELAY_TO_CLIENT)
    for earlier in seen:
        relay.open(earlier)
    try:
        relay.open(data)
    except RemoteProtocolError as exc:
        return exc.code.name
    raise AssertionError("the invalid vector opened")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[1]) if args[:1] == ["--out"] else OUT
    out.mkdir(parents=True, exist_ok=True)
    media_up = encode_envelope(EnvelopeType.MEDIA, ROOM_TAG, 0, fixed("frame up", 96))
    media_down = encode_envelope(EnvelopeType.MEDIA, ROOM_TAG, 3, fixed("frame down", 96))
    media_up2 = encode_envelope(EnvelopeType.MEDIA, ROOM_TAG, 0, fixed("frame up 2", 96))
    cases = [
        case(
            "client probe, receiving",
            Direction.CLIENT_TO_RELAY,
            0,
            Kind.PROBE,
            dg.probe_body(0),
            dg.FLAG_RECEIVING,
            dg.DEFAULT_PROBE_FLOOR,
        ),
        case("client media", Direction.CLIENT_TO_RELAY, 1, Kind.MEDIA, media_up, dg.FLAG_RECEIVING),
        case(
            "client probe, not receiving, padded like the media",
            Direction.CLIENT_TO_RELAY,
            2,
            Kind.PROBE,
            dg.probe_body(1),
            0,
            128,
        ),
        case(
            "relay probe ack",
            Direction.RELAY_TO_CLIENT,
            0,
            Kind.PROBE_ACK,
            dg.probe_body(0),
            0,
            dg.DEFAULT_PROBE_FLOOR,
        ),
        case("relay media from slot 3", Direction.RELAY_TO_CLIENT, 1, Kind.MEDIA, media_down),
        case(
            "relay media, last counter",
            Direction.RELAY_TO_CLIENT,
            dg.MAX_COUNTER,
            Kind.MEDIA,
            media_down,
        ),
        case(
            "client media with a copy of datagram 0, asking for copies",
            Direction.CLIENT_TO_RELAY,
            1,
            Kind.MEDIA_RED,
            dg.red_body(1, media_up, media_up2),
            dg.FLAG_RECEIVING | dg.FLAG_REDUNDANT,
        ),
        case(
            "relay probe ack asking for copies",
            Direction.RELAY_TO_CLIENT,
            2,
            Kind.PROBE_ACK,
            dg.probe_body(1),
            dg.FLAG_REDUNDANT,
            128,
        ),
        case(
            "relay media with a copy of datagram 1",
            Direction.RELAY_TO_CLIENT,
            3,
            Kind.MEDIA_RED,
            dg.red_body(2, media_down, media_down),
        ),
        case(
            "largest datagram",
            Direction.CLIENT_TO_RELAY,
            7,
            Kind.MEDIA,
            fixed("largest", dg.MAX_PLAINTEXT - 3),
        ),
    ]
    client = DatagramChannel(LINK_KEY, TOKEN, Direction.CLIENT_TO_RELAY)
    sent = [client.seal(Kind.PROBE, dg.probe_body(i)) for i in range(dg.REPLAY_WINDOW + 1)]
    flipped = bytearray(sent[0])
    flipped[-1] ^= 1
    other_token = bytes(8) + sent[0][8:]
    early = DatagramChannel(LINK_KEY, TOKEN, Direction.CLIENT_TO_RELAY, 2)
    too_far_back = early.seal(Kind.MEDIA_RED, dg.red_body(3, media_up, media_up2))
    no_copy = early.seal(Kind.MEDIA_RED, dg.red_body(1, media_up, media_up2)[: -len(media_up2)])
    invalid = [
        ("a copy from before counter 0", [], too_far_back),
        ("MEDIA_RED without a copy", [], no_copy),
        ("replayed", [sent[0]], sent[0]),
        ("too old: REPLAY_WINDOW below the highest", [sent[-1]], sent[0]),
        ("flipped tag bit", [], bytes(flipped)),
        ("another token", [], other_token),
        ("a header only", [], sent[0][:16]),
        ("one byte longer than the largest", [], sent[0][:16] + bytes(dg.MAX_DATAGRAM - 15)),
    ]
    grant = DatagramGrant(PORT, TOKEN, LINK_KEY).encode()
    frames = [
        encode_envelope(EnvelopeType.MEDIA, ROOM_TAG, 0, fixed(f"red {i}", 96)) for i in range(5)
    ]
    red_sender = DatagramChannel(LINK_KEY, TOKEN, Direction.CLIENT_TO_RELAY)
    red_sent = [red_sender.seal(Kind.MEDIA, frames[0])] + [
        red_sender.seal(Kind.MEDIA_RED, dg.red_body(1, frames[i], frames[i - 1]))
        for i in range(1, 5)
    ]
    # datagram 1 is lost; 3 arrives before 2; 2 arrives late; 4 comes twice
    arrival = [0, 3, 2, 4, 4]
    red_receiver = DatagramChannel(LINK_KEY, TOKEN, Direction.RELAY_TO_CLIENT)
    red_sequence = []
    for index in arrival:
        try:
            handed = [m.hex() for m in red_receiver.open(red_sent[index]).media]
            outcome = "ok"
        except RemoteProtocolError as exc:
            handed, outcome = [], exc.code.name
        red_sequence.append(
            {"datagram": red_sent[index].hex(), "result": outcome, "handed_on": handed}
        )
    doc = {
        "description": "The datagram channel of spec §23: the link key and token a "
        "DATAGRAM_ACCEPT carries, the two direction keys, datagrams of every kind in both "
        "directions with plaintext, nonce, AAD and wire bytes, invalid datagrams with the "
        "error the relay's end raises after opening the listed earlier datagrams in order, "
        "and a sequence of MEDIA_RED datagrams with what each hands on.",
        "link_key": LINK_KEY.hex(),
        "token": TOKEN.hex(),
        "port": PORT,
        "accept_payload": grant.hex(),
        "accept_envelope": encode_envelope(EnvelopeType.DATAGRAM_ACCEPT, ZERO_TAG, 0, grant).hex(),
        "offer_envelope": encode_envelope(EnvelopeType.DATAGRAM_OFFER, ZERO_TAG, 0).hex(),
        "direction_keys": {d.name: dg.direction_key(LINK_KEY, d).hex() for d in Direction},
        "replay_window": dg.REPLAY_WINDOW,
        "cases": cases,
        "red_sequence": {
            "description": "Client datagrams 0-4, each MEDIA_RED copying the one before, opened "
            "by a fresh relay end in this order (1 lost, 3 before 2, 4 twice): what each hands "
            "on, oldest first, or the error it raises (spec §23.4 step 7).",
            "steps": red_sequence,
        },
        "invalid": [
            {
                "name": name,
                "seen": [s.hex() for s in seen],
                "datagram": data.hex(),
                "error": error_of(seen, data),
            }
            for name, seen, data in invalid
        ],
    }
    (out / "datagram.json").write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
