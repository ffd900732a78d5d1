"""The datagram channel codec (spec §23.2–23.4): sealing, opening, replay, wrap, grants."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from e2ee import datagram as dg
from e2ee.datagram import DatagramChannel, DatagramGrant, Direction, Kind
from e2ee.envelope import ZERO_TAG, EnvelopeType, decode_envelope, encode_envelope
from e2ee.errors import (
    DecryptionFailed,
    ErrorCode,
    HushroomError,
    LocalProtocolError,
    RemoteProtocolError,
)

KEY = hashlib.sha256(b"datagram test key").digest()
TOKEN = bytes.fromhex("0102030405060708")
TAG = bytes(range(16))


def _pair(next_counter: int = 0) -> tuple[DatagramChannel, DatagramChannel]:
    client = DatagramChannel(KEY, TOKEN, Direction.CLIENT_TO_RELAY, next_counter)
    relay = DatagramChannel(KEY, TOKEN, Direction.RELAY_TO_CLIENT)
    return client, relay


def _media(payload: bytes = b"opus frame" * 8) -> bytes:
    return encode_envelope(EnvelopeType.MEDIA, TAG, 0, payload)


def test_media_round_trip_carries_one_whole_envelope() -> None:
    client, relay = _pair()
    body = _media()
    opened = relay.open(client.seal(Kind.MEDIA, body, dg.FLAG_RECEIVING))
    assert (opened.counter, opened.kind, opened.flags) == (0, Kind.MEDIA, dg.FLAG_RECEIVING)
    assert decode_envelope(opened.body).payload == b"opus frame" * 8
    back = client.open(relay.seal(Kind.MEDIA, body))
    assert back.body == body and back.flags == 0


def test_directions_use_different_keys() -> None:
    client, _ = _pair()
    mirror = DatagramChannel(KEY, TOKEN, Direction.CLIENT_TO_RELAY)
    # A datagram reflected back to its sender does not open: the keys differ per direction.
    with pytest.raises(DecryptionFailed):
        mirror.open(client.seal(Kind.PROBE, dg.probe_body(1)))
    assert dg.direction_key(KEY, Direction.CLIENT_TO_RELAY) != dg.direction_key(
        KEY, Direction.RELAY_TO_CLIENT
    )


def test_nothing_in_clear_but_token_and_counter() -> None:
    client, _ = _pair()
    body = _media(b"\xaa" * 40)
    data = client.seal(Kind.MEDIA, body)
    assert data[:8] == TOKEN and data[8:16] == (0).to_bytes(8, "big")
    assert TAG not in data and body not in data


def test_probe_is_padded_to_the_size_of_media() -> None:
    client, relay = _pair()
    media = client.seal(Kind.MEDIA, _media(b"x" * 90))
    probe = client.seal(Kind.PROBE, dg.probe_body(7), floor=len(media) - 32)
    assert len(probe) == len(media)
    assert dg.probe_id(relay.open(media) and relay.open(probe).body) == 7


def test_replay_and_reorder_within_the_window() -> None:
    client, relay = _pair()
    sealed = [client.seal(Kind.PROBE, dg.probe_body(i)) for i in range(5)]
    for i in (4, 0, 2, 1, 3):  # reordered: every one opens once
        assert relay.open(sealed[i]).counter == i
    for data in sealed:
        with pytest.raises(RemoteProtocolError) as exc:
            relay.open(data)
        assert exc.value.code == ErrorCode.REPLAY


@pytest.mark.parametrize("highest", [dg.REPLAY_WINDOW - 1, dg.REPLAY_WINDOW])
def test_the_window_edge(highest: int) -> None:
    """Counter 0 still opens after counter REPLAY_WINDOW - 1, and is too old after REPLAY_WINDOW."""
    client, relay = _pair()
    first = client.seal(Kind.PROBE, dg.probe_body(0))
    for _ in range(highest - 1):
        client.seal(Kind.PROBE, dg.probe_body(0))
    assert relay.open(client.seal(Kind.PROBE, dg.probe_body(0))).counter == highest
    if highest < dg.REPLAY_WINDOW:
        assert relay.open(first).counter == 0
        return
    with pytest.raises(RemoteProtocolError) as exc:
        relay.open(first)
    assert exc.value.code == ErrorCode.REPLAY


def test_a_jump_beyond_the_bound_is_refused_before_decryption() -> None:
    client, relay = _pair()
    relay.open(client.seal(Kind.PROBE, dg.probe_body(0)))
    far = DatagramChannel(KEY, TOKEN, Direction.CLIENT_TO_RELAY, dg.MAX_JUMP + 1)
    with pytest.raises(RemoteProtocolError) as exc:
        relay.open(far.seal(Kind.PROBE, dg.probe_body(0)))
    assert exc.value.code == ErrorCode.TOO_FAR
    near = DatagramChannel(KEY, TOKEN, Direction.CLIENT_TO_RELAY, dg.MAX_JUMP)
    assert relay.open(near.seal(Kind.PROBE, dg.probe_body(0))).counter == dg.MAX_JUMP


def test_a_failed_datagram_does_not_burn_its_counter() -> None:
    client, relay = _pair()
    good = client.seal(Kind.PROBE, dg.probe_body(0))
    forged = good[:16] + bytes(len(good) - 16)
    with pytest.raises(DecryptionFailed):
        relay.open(forged)
    assert relay.open(good).counter == 0


@pytest.mark.parametrize("where", [0, 7, 15, 16, 40, -1])
def test_any_flipped_bit_is_the_one_opaque_error(where: int) -> None:
    client, relay = _pair()
    data = bytearray(client.seal(Kind.MEDIA, _media()))
    data[where] ^= 0x01
    with pytest.raises(DecryptionFailed):
        relay.open(bytes(data))


def test_a_counter_moved_far_ahead_is_refused_before_decryption() -> None:
    client, relay = _pair()
    data = bytearray(client.seal(Kind.MEDIA, _media()))
    data[8] ^= 0x80
    with pytest.raises(RemoteProtocolError) as exc:
        relay.open(bytes(data))
    assert exc.value.code == ErrorCode.TOO_FAR


def test_another_links_key_or_token_is_opaque() -> None:
    client, _ = _pair()
    other_key = DatagramChannel(bytes(32), TOKEN, Direction.RELAY_TO_CLIENT)
    other_token = DatagramChannel(KEY, b"\x09" * 8, Direction.RELAY_TO_CLIENT)
    data = client.seal(Kind.PROBE, dg.probe_body(0))
    for end in (other_key, other_token):
        with pytest.raises(DecryptionFailed):
            end.open(data)


def test_counter_wrap_raises_before_any_nonce_repeats() -> None:
    client, _ = _pair(next_counter=dg.MAX_COUNTER)
    top = client.seal(Kind.PROBE, dg.probe_body(0))
    assert top[8:16] == b"\xff" * 8
    with pytest.raises(LocalProtocolError):
        client.seal(Kind.PROBE, dg.probe_body(0))
    with pytest.raises(LocalProtocolError):
        client.seal(Kind.MEDIA, _media())
    assert client.next_counter == dg.MAX_COUNTER + 1


def test_each_end_sends_only_its_kinds_and_flags() -> None:
    client, relay = _pair()
    with pytest.raises(LocalProtocolError):
        client.seal(Kind.PROBE_ACK, dg.probe_body(0))
    with pytest.raises(LocalProtocolError):
        relay.seal(Kind.PROBE, dg.probe_body(0))
    with pytest.raises(LocalProtocolError):
        relay.seal(Kind.MEDIA, _media(), flags=dg.FLAG_RECEIVING)
    with pytest.raises(LocalProtocolError):
        client.seal(Kind.MEDIA, _media(), flags=0x04)


def test_a_probe_with_a_wrong_body_length_is_malformed() -> None:
    relay_end = DatagramChannel(KEY, TOKEN, Direction.RELAY_TO_CLIENT)
    client = DatagramChannel(KEY, TOKEN, Direction.CLIENT_TO_RELAY)
    with pytest.raises(RemoteProtocolError) as exc:
        relay_end.open(client.seal(Kind.PROBE, b"\x00" * 9))
    assert exc.value.code == ErrorCode.MALFORMED


def test_largest_datagram_and_one_byte_more() -> None:
    client, relay = _pair()
    largest = dg.MAX_PLAINTEXT - 3  # kind, flags and the padding marker
    assert dg.fits(largest) and not dg.fits(largest + 1)
    data = client.seal(Kind.MEDIA, b"m" * largest)
    assert len(data) == dg.MAX_DATAGRAM == 1056
    assert relay.open(data).body == b"m" * largest
    with pytest.raises(LocalProtocolError):
        client.seal(Kind.MEDIA, b"m" * (largest + 1))


@pytest.mark.parametrize("length", [0, dg.MIN_DATAGRAM - 1, dg.MAX_DATAGRAM + 1])
def test_datagram_lengths_out_of_bounds_are_malformed(length: int) -> None:
    _, relay = _pair()
    with pytest.raises(RemoteProtocolError) as exc:
        relay.open(TOKEN + bytes(max(0, length - 8)) if length else b"")
    assert exc.value.code == ErrorCode.MALFORMED
    with pytest.raises(RemoteProtocolError):
        dg.token_of(bytes(length))


@given(st.binary(max_size=1200))
def test_random_bytes_raise_only_the_projects_errors(data: bytes) -> None:
    _, relay = _pair()
    with pytest.raises(HushroomError):
        relay.open(TOKEN + data)


def test_grant_round_trip_and_bounds() -> None:
    grant = DatagramGrant(4433, TOKEN, KEY)
    payload = grant.encode()
    assert len(payload) == 42 and DatagramGrant.decode(payload) == grant
    for bad in (payload[:-1], payload + b"\x00", b"\x00\x00" + payload[2:]):
        with pytest.raises(RemoteProtocolError):
            DatagramGrant.decode(bad)
    with pytest.raises(LocalProtocolError):
        DatagramGrant(0, TOKEN, KEY).encode()


def test_offer_and_accept_envelopes() -> None:
    offer = encode_envelope(EnvelopeType.DATAGRAM_OFFER, ZERO_TAG, 0)
    assert decode_envelope(offer).type is EnvelopeType.DATAGRAM_OFFER
    refused = decode_envelope(encode_envelope(EnvelopeType.DATAGRAM_ACCEPT, ZERO_TAG, 0))
    assert refused.payload == b""
    grant = DatagramGrant(9, TOKEN, KEY).encode()
    accept = decode_envelope(encode_envelope(EnvelopeType.DATAGRAM_ACCEPT, ZERO_TAG, 0, grant))
    assert DatagramGrant.decode(accept.payload).port == 9
    for etype, payload in (
        (EnvelopeType.DATAGRAM_OFFER, b"\x00"),
        (EnvelopeType.DATAGRAM_ACCEPT, grant[:-1]),
    ):
        with pytest.raises(RemoteProtocolError) as exc:
            decode_envelope(encode_envelope(etype, ZERO_TAG, 0, payload))
        assert exc.value.code == ErrorCode.MALFORMED


# -- vectors (spec §21): regeneration, the independent checker, and a KAT --------------

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "spec" / "vectors" / "datagram.json"


def test_generator_reproduces_the_committed_datagram_vectors(tmp_path: Path) -> None:
    script = ROOT / "spec" / "gen_datagram_vectors.py"
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], check=True)
    assert (tmp_path / "datagram.json").read_bytes() == VECTORS.read_bytes()


def _checker() -> Any:
    path = ROOT / "spec" / "verify_datagram.py"
    spec = importlib.util.spec_from_file_location("verify_datagram", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_independent_checker_passes_and_catches_a_wrong_byte(tmp_path: Path) -> None:
    checker = _checker()
    assert checker.verify_count(VECTORS) > 40
    doc = json.loads(VECTORS.read_text())
    wire = doc["cases"][1]["datagram"]
    doc["cases"][1]["datagram"] = wire[:-2] + ("00" if wire[-2:] != "00" else "01")
    bad = tmp_path / "datagram.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(AssertionError):
        checker.verify_count(bad)


def test_checker_imports_nothing_from_the_implementation() -> None:
    tree = ast.parse((ROOT / "spec" / "verify_datagram.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            assert not any(str(n).split(".")[0] in ("e2ee", "relay", "client") for n in names)


def test_the_vectors_open_with_the_implementation() -> None:
    doc = json.loads(VECTORS.read_text())
    key, token = bytes.fromhex(doc["link_key"]), bytes.fromhex(doc["token"])
    assert DatagramGrant.decode(bytes.fromhex(doc["accept_payload"])) == DatagramGrant(
        doc["port"], token, key
    )
    for case in doc["cases"]:
        if case["counter"] > dg.MAX_JUMP:
            continue
        end = DatagramChannel(key, token, Direction(1 - case["direction"]))
        opened = end.open(bytes.fromhex(case["datagram"]))
        body = bytes.fromhex(case["body"])
        if case["kind"] == Kind.MEDIA_RED:  # a fresh end: the copy's original never came
            _, primary, copy = dg.split_red(body)
            assert opened.media == (copy, primary)
            body = primary
        assert (opened.kind, opened.flags, opened.body) == (case["kind"], case["flags"], body)
    relay = DatagramChannel(key, token, Direction.RELAY_TO_CLIENT)
    for step in doc["red_sequence"]["steps"]:
        try:
            got = ("ok", [m.hex() for m in relay.open(bytes.fromhex(step["datagram"])).media])
        except RemoteProtocolError as exc:
            got = (exc.code.name, [])
        assert got == (step["result"], step["handed_on"])


def test_the_datagram_codec_touches_no_end_to_end_key() -> None:
    """The relay imports this codec (spec §23): it must not reach frame, sender or room keys."""
    tree = ast.parse((ROOT / "e2ee" / "datagram.py").read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    e2ee = {str(name) for name in imported if str(name).startswith("e2ee")}
    assert e2ee == {"e2ee", "e2ee.errors", "e2ee.padding", "e2ee.replay", "e2ee.xchacha"}
