"""Independent checker for spec/vectors/datagram.json (spec §23, §21).

Written from the text of spec §23 alone: it imports nothing from e2ee/ or
relay/, computes XChaCha20-Poly1305 with libsodium and HKDF with the
standard library.  ``verify_count(path)`` returns the number of checks and
raises AssertionError on the first mismatch.  Run: python spec/verify_datagram.py
"""

from __future__ import annotations

import hmac
import json
import sys
from pathlib import Path
from typing import Any

import nacl.bindings
import nacl.exceptions

KEY_LABEL = b"hushroom v1 datagram key"
AAD_LABEL = b"hushroom v1 datagram aad"
BUCKETS = (32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
MIN_DATAGRAM, MAX_DATAGRAM = 16 + 32 + 16, 16 + 1024 + 16
KINDS = {0: {1, 3, 4}, 1: {2, 3, 4}}  # direction -> kinds it may send
FLAGS = {0: 0x03, 1: 0x02}  # direction -> flags it may set (RECEIVING 1, REDUNDANT 2)
MEDIA, MEDIA_RED = 3, 4


def labelled(label: bytes, data: bytes) -> bytes:
    return bytes((len(label),)) + label + data


def hkdf(label: bytes, ikm: bytes, length: int, ctx: bytes) -> bytes:
    prk = hmac.digest(bytes(32), ikm, "sha256")
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.digest(prk, block + labelled(label, ctx) + bytes((i,)), "sha256")
        out += block
        i += 1
    return out[:length]


def plaintext_size(inner_len: int, floor: int) -> int:
    return min(b for b in BUCKETS if b >= inner_len + 1 and b >= floor)


class Receiver:
    """One end's receive side, per spec §23.4: token, replay window, open, parse."""

    def __init__(self, link_key: bytes, token: bytes, sender_direction: int, window: int):
        self.key = hkdf(KEY_LABEL, link_key, 32, bytes((sender_direction,)))
        self.token = token
        self.direction = sender_direction
        self.window = window
        self.highest = -1
        self.seen: set[int] = set()

    def passes(self, counter: int) -> bool:
        """The replay window's check (spec §23.4 step 4), without the TOO_FAR case."""
        if counter > self.highest:
            return counter - self.highest <= 1 << 20
        return self.highest - counter < self.window and counter not in self.seen

    def open(self, data: bytes) -> tuple[int, int, bytes, list[bytes]]:
        """(kind, flags, body, the MEDIA envelopes handed on, oldest first)."""
        if not MIN_DATAGRAM <= len(data) <= MAX_DATAGRAM:
            raise ValueError("MALFORMED")
        if data[:8] != self.token:
            raise ValueError("AUTHENTICATION")
        counter = int.from_bytes(data[8:16], "big")
        if counter > self.highest:
            if counter - self.highest > 1 << 20:
                raise ValueError("TOO_FAR")
        elif self.highest - counter >= self.window or counter in self.seen:
            raise ValueError("REPLAY")
        aad = labelled(AAD_LABEL, self.token + counter.to_bytes(8, "big"))
        nonce = bytes(16) + counter.to_bytes(8, "big")
        try:
            pt = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                data[16:], aad, nonce, self.key
            )
        except nacl.exceptions.CryptoError:
            raise ValueError("AUTHENTICATION") from None
        self.seen.add(counter)
        self.highest = max(self.highest, counter)
        inner = pt.rstrip(b"\x00")
        if not inner.endswith(b"\x80") or len(inner) < 3:
            raise ValueError("MALFORMED")
        inner = inner[:-1]
        kind, flags = inner[0], inner[1]
        if kind not in KINDS[self.direction] or flags & ~FLAGS[self.direction]:
            raise ValueError("UNKNOWN_TYPE")
        body = inner[2:]
        if kind == MEDIA:
            return kind, flags, body, [body]
        if kind != MEDIA_RED:
            if len(body) != 8:
                raise ValueError("MALFORMED")
            return kind, flags, body, []
        # MEDIA_RED: u8(back) || u16(len(primary)) || primary || copy (spec §23.3)
        if len(body) < 3:
            raise ValueError("MALFORMED")
        back, length = body[0], int.from_bytes(body[1:3], "big")
        primary, copy = body[3 : 3 + length], body[3 + length :]
        if back == 0 or back > counter or length == 0 or len(primary) != length or not copy:
            raise ValueError("MALFORMED")
        original = counter - back
        if not self.passes(original):
            return kind, flags, body, [primary]
        self.seen.add(original)
        return kind, flags, body, [copy, primary]


def verify_count(path: Path) -> int:
    v: dict[str, Any] = json.loads(Path(path).read_text())
    checks = 0

    def eq(where: str, got: object, want: object) -> None:
        nonlocal checks
        checks += 1
        assert got == want, f"{where}: {got!r} != {want!r}"

    link_key = bytes.fromhex(v["link_key"])
    token = bytes.fromhex(v["token"])
    grant = v["port"].to_bytes(2, "big") + token + link_key
    eq("accept payload", v["accept_payload"], grant.hex())
    # envelope: version 1, type, 16-byte zero tag, slot 0, length, payload (spec §8.1)
    header = bytes((1, 0x86)) + bytes(16) + bytes(4) + len(grant).to_bytes(4, "big")
    eq("accept envelope", v["accept_envelope"], (header + grant).hex())
    offer = bytes((1, 0x21)) + bytes(16) + bytes(4) + bytes(4)
    eq("offer envelope", v["offer_envelope"], offer.hex())
    names = {"CLIENT_TO_RELAY": 0, "RELAY_TO_CLIENT": 1}
    for name, direction in names.items():
        key = hkdf(KEY_LABEL, link_key, 32, bytes((direction,)))
        eq(f"direction key {name}", v["direction_keys"][name], key.hex())
    for c in v["cases"]:
        where = c["name"]
        body = bytes.fromhex(c["body"])
        inner = bytes((c["kind"], c["flags"])) + body
        size = plaintext_size(len(inner), c["floor"])
        plaintext = inner + b"\x80" + bytes(size - len(inner) - 1)
        eq(f"{where} plaintext", c["plaintext"], plaintext.hex())
        counter = c["counter"].to_bytes(8, "big")
        nonce = bytes(16) + counter
        eq(f"{where} nonce", c["nonce"], nonce.hex())
        aad = labelled(AAD_LABEL, token + counter)
        eq(f"{where} aad", c["aad"], aad.hex())
        key = hkdf(KEY_LABEL, link_key, 32, bytes((c["direction"],)))
        ct = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, nonce, key)
        eq(f"{where} datagram", c["datagram"], (token + counter + ct).hex())
        end = Receiver(link_key, token, c["direction"], v["replay_window"])
        try:
            opened: object = end.open(bytes.fromhex(c["datagram"]))
        except ValueError as exc:  # a fresh receiver refuses a jump beyond 2^20
            opened = str(exc)
        want = (c["kind"], c["flags"], body) if c["counter"] <= 1 << 20 else "TOO_FAR"
        eq(f"{where} opens", opened[:3] if isinstance(opened, tuple) else opened, want)
    for c in v["invalid"]:
        end = Receiver(link_key, token, 0, v["replay_window"])
        for earlier in c["seen"]:
            end.open(bytes.fromhex(earlier))
        try:
            end.open(bytes.fromhex(c["datagram"]))
        except ValueError as exc:
            eq(f"invalid {c['name']}", str(exc), c["error"])
        else:
            raise AssertionError(f"invalid {c['name']} opened")
    end = Receiver(link_key, token, 0, v["replay_window"])
    for i, step in enumerate(v["red_sequence"]["steps"]):
        try:
            handed = [m.hex() for m in end.open(bytes.fromhex(step["datagram"]))[3]]
            result = "ok"
        except ValueError as exc:
            handed, result = [], str(exc)
        eq(f"red sequence step {i}", (result, handed), (step["result"], step["handed_on"]))
    return checks


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "vectors"
    print(f"{verify_count(target / 'datagram.json')} datagram checks passed")
