"""Check every Hushroom test vector independently of the implementation (spec §21).

Uses only the Python standard library, ``cryptography`` and ``PyNaCl``; it
imports nothing from this repository.  Each structure is recomputed from the
inputs in the vector file following spec/protocol.md.  Prints a summary and
exits 1 on any mismatch.

    python spec/verify_vectors.py [--vectors DIR]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.bindings
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LABELS = {
    "ROOM_TAG": "hushroom v1 room tag",
    "ADMISSION_KEY": "hushroom v1 admission key",
    "ROOM_ID": "hushroom v1 room id",
    "PAIRWISE_ROOT": "hushroom v1 pairwise root",
    "PAIRWISE_CHAIN": "hushroom v1 pairwise chain",
    "PAIRWISE_AAD": "hushroom v1 pairwise aad",
    "SENDER_KEY_RATCHET": "hushroom v1 sender key ratchet",
    "FRAME_KEY": "hushroom v1 frame key",
    "FRAME_SALT": "hushroom v1 frame salt",
    "FRAME_AAD": "hushroom v1 frame aad",
    "DATAGRAM_KEY": "hushroom v1 datagram key",
    "DATAGRAM_AAD": "hushroom v1 datagram aad",
    "FINGERPRINT": "hushroom v1 fingerprint",
    "INVITE_CHECKSUM": "hushroom v1 invite checksum",
    "SIG_SESSION_KEY": "hushroom v1 sig session key",
}
# The room protocol's labels (spec §3.4, second table).
ROOM_LABELS = {
    "COMMIT_HEAD": "hushroom v1 room commit head",
    "STATE_DIGEST": "hushroom v1 room state digest",
    "SAFETY_CODE": "hushroom v1 room safety code",
    "WELCOME_DIGEST": "hushroom v1 room welcome digest",
    "KEY_CONFIRM": "hushroom v1 room key confirmation",
    "FORWARDER": "hushroom v1 room forwarder",
    "SIG_COMMIT": "hushroom v1 sig room commit",
    "SIG_SNAPSHOT": "hushroom v1 sig room snapshot",
    "SIG_JOIN_REQUEST": "hushroom v1 sig room fresh join request",
    "SIG_WELCOME": "hushroom v1 sig room welcome",
    "SIG_CONTROL": "hushroom v1 sig room control",
    "SIG_BEACON": "hushroom v1 sig room head beacon",
    "EPOCH_KEY": "hushroom v1 room epoch key",
    "CONTROL_KEY": "hushroom v1 room control key",
    "SENDER_BASE": "hushroom v1 room sender base",
    "PAYLOAD_HINT": "hushroom v1 room payload hint",
    "PAIR_WRAP_KEY": "hushroom v1 room pair wrap key",
    "BEACON_KEY": "hushroom v1 room beacon key",
    "SEAL_KEY": "hushroom v1 room seal key",
    "FRAME_DIGEST": "hushroom v1 room frame digest",
    "PROOF_KEY": "hushroom v1 room speaker proof key",
    "SIG_SPEAKER_PROOF": "hushroom v1 sig room speaker proof",
    "FRAME_HEADER_KEY": "hushroom v1 room frame header key",
}
# Kind and output length of each label, from the "kind" and "output" columns of spec §3.4.
LABEL_KINDS = {
    **dict.fromkeys(
        ("ADMISSION_KEY", "ROOM_ID", "PAIRWISE_ROOT", "PAIRWISE_CHAIN", "SENDER_KEY_RATCHET"),
        ("kdf", 32),
    ),
    **dict.fromkeys(
        ("FRAME_KEY", "EPOCH_KEY", "CONTROL_KEY", "SENDER_BASE", "PROOF_KEY", "PAIR_WRAP_KEY"),
        ("kdf", 32),
    ),
    "BEACON_KEY": ("kdf", 32),
    "FRAME_HEADER_KEY": ("kdf", 32),
    "SEAL_KEY": ("kdf", 56),
    "ROOM_TAG": ("kdf", 16),
    "FRAME_SALT": ("kdf", 24),
    "PAIRWISE_AAD": ("aad", 0),
    "FRAME_AAD": ("aad", 0),
    "DATAGRAM_KEY": ("kdf", 32),
    "DATAGRAM_AAD": ("aad", 0),
    "INVITE_CHECKSUM": ("hash", 4),
    "FORWARDER": ("hash", 8),
    "PAYLOAD_HINT": ("hash", 8),
    **dict.fromkeys(
        (
            "FINGERPRINT",
            "COMMIT_HEAD",
            "STATE_DIGEST",
            "SAFETY_CODE",
            "WELCOME_DIGEST",
            "KEY_CONFIRM",
            "FRAME_DIGEST",
        ),
        ("hash", 32),
    ),
    **{name: ("signature", 64) for name in {**LABELS, **ROOM_LABELS} if name.startswith("SIG_")},
}
BUCKETS = (32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 4096)


# --- spec §3: primitives ---------------------------------------------------------------


def lab(name: str) -> bytes:
    return LABELS[name].encode("ascii")


def labelled(label: bytes, data: bytes = b"") -> bytes:
    return bytes([len(label)]) + label + data


def hkdf(label: bytes, ikm: bytes, length: int, salt: bytes = b"", context: bytes = b"") -> bytes:
    return HKDF(hashes.SHA256(), length, salt if salt else None, labelled(label, context)).derive(
        ikm
    )


def u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def xchacha_seal(key: bytes, nonce: bytes, pt: bytes, aad: bytes) -> bytes:
    out: bytes = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(pt, aad, nonce, key)
    return out


def xchacha_open(key: bytes, nonce: bytes, ct: bytes, aad: bytes) -> bytes:
    out: bytes = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, aad, nonce, key)
    return out


# --- spec §4: canonical msgpack, written from the spec -----------------------------------


def mp(value: Any) -> bytes:
    """Canonical encoding of a Python value (None, bool, int, bytes, str, list)."""
    if value is None:
        return b"\xc0"
    if value is True:
        return b"\xc3"
    if value is False:
        return b"\xc2"
    if isinstance(value, int):
        if 0 <= value <= 0x7F:
            return bytes([value])
        if -32 <= value < 0:
            return bytes([value & 0xFF])
        if value > 0:
            for tag, n in ((0xCC, 1), (0xCD, 2), (0xCE, 4), (0xCF, 8)):
                if value < 1 << (8 * n):
                    return bytes([tag]) + value.to_bytes(n, "big")
        for tag, n in ((0xD0, 1), (0xD1, 2), (0xD2, 4), (0xD3, 8)):
            if value >= -(1 << (8 * n - 1)):
                return bytes([tag]) + value.to_bytes(n, "big", signed=True)
        raise ValueError("int out of range")
    if isinstance(value, bytes):
        n = len(value)
        for tag, w in ((0xC4, 1), (0xC5, 2), (0xC6, 4)):
            if n < 1 << (8 * w):
                return bytes([tag]) + n.to_bytes(w, "big") + value
    if isinstance(value, str):
        raw = value.encode("utf-8")
        n = len(raw)
        if n < 32:
            return bytes([0xA0 | n]) + raw
        for tag, w in ((0xD9, 1), (0xDA, 2), (0xDB, 4)):
            if n < 1 << (8 * w):
                return bytes([tag]) + n.to_bytes(w, "big") + raw
    if isinstance(value, list):
        n = len(value)
        head = bytes([0x90 | n]) if n < 16 else (b"\xdc" + n.to_bytes(2, "big"))
        if n >= 1 << 16:
            head = b"\xdd" + n.to_bytes(4, "big")
        return head + b"".join(mp(v) for v in value)
    raise TypeError(type(value))


def mp_parse(data: bytes, pos: int = 0) -> tuple[Any, int]:
    """Parse one value of the allowed types in any (not only canonical) form."""
    b = data[pos]
    pos += 1

    def take(n: int) -> bytes:
        if pos + n > len(data):
            raise ValueError("truncated")
        return data[pos : pos + n]

    if b <= 0x7F:
        return b, pos
    if b >= 0xE0:
        return b - 256, pos
    if b == 0xC0:
        return None, pos
    if b in (0xC2, 0xC3):
        return b == 0xC3, pos
    ints = {0xCC: (1, False), 0xCD: (2, False), 0xCE: (4, False), 0xCF: (8, False)}
    ints.update({0xD0: (1, True), 0xD1: (2, True), 0xD2: (4, True), 0xD3: (8, True)})
    if b in ints:
        n, signed = ints[b]
        return int.from_bytes(take(n), "big", signed=signed), pos + n
    lens = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}
    if b in lens or 0xA0 <= b <= 0xBF:
        if 0xA0 <= b <= 0xBF:
            n = b & 0x1F
        else:
            w = lens[b]
            n = int.from_bytes(take(w), "big")
            pos += w
        raw = take(n)
        if b in (0xC4, 0xC5, 0xC6):
            return raw, pos + n
        return raw.decode("utf-8"), pos + n
    if 0x90 <= b <= 0x9F or b in (0xDC, 0xDD):
        if b <= 0x9F:
            n = b & 0x0F
        else:
            w = 2 if b == 0xDC else 4
            n = int.from_bytes(take(w), "big")
            pos += w
        items = []
        for _ in range(n):
            item, pos = mp_parse(data, pos)
            items.append(item)
        return items, pos
    raise ValueError(f"type byte {b:#x} not allowed")


def mp_decode(data: bytes) -> tuple[str, Any]:
    """("OK", value) or ("MALFORMED" | "NON_CANONICAL", None), per spec §4.2."""
    try:
        value, end = mp_parse(data, 0)
    except (ValueError, IndexError, UnicodeDecodeError):
        return "MALFORMED", None
    if end != len(data):
        return "MALFORMED", None
    if mp(value) != data:
        return "NON_CANONICAL", None
    return "OK", value


def untag(t: dict[str, Any]) -> Any:
    ((kind, v),) = t.items()
    if kind == "int":
        return int(v)
    if kind == "bin":
        return bytes.fromhex(v)
    if kind == "bin_zeros":
        return bytes(v)
    if kind == "array":
        return [untag(x) for x in v]
    if kind == "nil":
        return None
    return v  # str, bool


# --- spec §11.2: the SFrame header -----------------------------------------------------


def sframe_header(kid: int, ctr: int) -> bytes:
    def field(v: int) -> tuple[int, bytes]:
        if v < 8:
            return v, b""
        n = max(1, (v.bit_length() + 7) // 8)
        return 8 | (n - 1), v.to_bytes(n, "big")

    k, kb = field(kid)
    c, cb = field(ctr)
    return bytes([(k << 4) | c]) + kb + cb


# --- the checks ----------------------------------------------------------------------


class Checker:
    def __init__(self) -> None:
        self.checks = 0
        self.failures: list[str] = []

    def eq(self, where: str, got: object, want: object) -> None:
        self.checks += 1
        if got != want:
            self.failures.append(f"MISMATCH {where}: computed {got!r}, vector says {want!r}")

    def ok(self, where: str, fn: Callable[[], object]) -> None:
        self.checks += 1
        try:
            fn()
        except Exception as exc:
            self.failures.append(f"FAIL {where}: {type(exc).__name__}: {exc}")


def label_output(label: bytes, kind: str, length: int, inputs: dict[str, bytes]) -> bytes:
    """What a label of the given kind produces (spec §3.3), on the sample inputs."""
    if kind == "kdf":
        return hkdf(label, inputs["ikm"], length, inputs["salt"], inputs["data"])
    if kind == "hash":
        return hashlib.sha256(labelled(label, inputs["data"])).digest()[:length]
    if kind == "signature":
        sk = Ed25519PrivateKey.from_private_bytes(inputs["seed"])
        return sk.sign(labelled(label, inputs["data"]))
    return labelled(label, inputs["data"])


def check_labels(c: Checker, v: dict[str, Any]) -> None:
    c.eq("labels.json", v["labels"], LABELS)
    c.eq("labels.json room", v["room_labels"], ROOM_LABELS)
    every = {**LABELS, **ROOM_LABELS}
    c.eq("labels.json registry names", sorted(r["name"] for r in v["registry"]), sorted(every))
    inputs = {name: bytes.fromhex(value) for name, value in v["sample_inputs"].items()}
    for row in v["registry"]:
        name = row["name"]
        label = every[name].encode("ascii")
        c.eq(f"label {name} kind", (row["kind"], row["length"]), LABEL_KINDS[name])
        out = label_output(label, *LABEL_KINDS[name], inputs)
        c.eq(f"label {name} output", out.hex(), row["output"])


def check_canonical(c: Checker, v: dict[str, Any]) -> None:
    for i, case in enumerate(v["valid"]):
        value = untag(case["value"])
        enc = mp(value)
        if "encoding" in case:
            c.eq(f"canonical valid[{i}]", enc.hex(), case["encoding"])
        else:
            c.eq(
                f"canonical valid[{i}] sha256",
                hashlib.sha256(enc).hexdigest(),
                case["encoding_sha256"],
            )
            c.eq(f"canonical valid[{i}] prefix", enc.hex()[:16], case["encoding_prefix"])
        c.eq(f"canonical valid[{i}] decodes", mp_decode(enc), ("OK", value))
    for i, case in enumerate(v["invalid"]):
        status, _ = mp_decode(bytes.fromhex(case["encoding"]))
        c.eq(f"canonical invalid[{i}]", status, case["error"].split(" ")[0])


def check_sframe_rfc(c: Checker, v: dict[str, Any]) -> None:
    for case in v["cases"]:
        kid, ctr = int(case["kid"], 16), int(case["ctr"], 16)
        c.eq(
            f"rfc9605 header kid={kid:#x} ctr={ctr:#x}",
            sframe_header(kid, ctr).hex(),
            case["header"],
        )


def check_identity(c: Checker, v: dict[str, Any]) -> None:
    seed = bytes.fromhex(v["identity_seed"])
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    pub = sk.public_key().public_bytes_raw()
    c.eq("identity public", pub.hex(), v["identity_public"])
    label = v["signature_label"].encode()
    signed = labelled(label, bytes.fromhex(v["message"]))
    c.eq("identity signed_bytes", signed.hex(), v["signed_bytes"])
    c.eq("identity signature", sk.sign(signed).hex(), v["signature"])
    c.ok(
        "identity signature verifies",
        lambda: Ed25519PublicKey.from_public_bytes(pub).verify(
            bytes.fromhex(v["signature"]), signed
        ),
    )
    fp = hashlib.sha256(labelled(lab("FINGERPRINT"), pub)).digest()
    c.eq("fingerprint", fp.hex(), v["fingerprint"])
    code = " ".join(
        f"{int.from_bytes(fp[5 * i : 5 * i + 5], 'big') % 100000:05d}" for i in range(6)
    )
    c.eq("safety code", code, v["safety_code"])
    c.eq("identity file", mp(["hushroom-identity", 1, seed, pub]).hex(), v["identity_file"])
    spriv = X25519PrivateKey.from_private_bytes(bytes.fromhex(v["session_private"]))
    spub = spriv.public_key().public_bytes_raw()
    c.eq("session public", spub.hex(), v["session_public"])
    payload = mp([1, pub, spub])
    c.eq("session cert payload", payload.hex(), v["session_cert_signed_payload"])
    sig = sk.sign(labelled(lab("SIG_SESSION_KEY"), payload))
    c.eq("session certificate", mp([1, pub, spub, sig]).hex(), v["session_certificate"])


def check_invite(c: Checker, v: dict[str, Any]) -> None:
    for case in v["cases"]:
        host, port = case["host"], case["port"]
        auth = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        c.eq(f"invite authority {host}", auth, case["authority"])
        secret = bytes.fromhex(case["room_secret"])
        pin = bytes.fromhex(case["relay_pin"])
        founder = bytes.fromhex(case["founder_identity"])
        carried = case.get("carried_room_id")  # a rotated invite (§6.1)
        room_id = hkdf(lab("ROOM_ID"), secret, 32, context=founder)
        if carried is None:
            payload = mp([1, secret, pin, founder])
        else:
            room_id = bytes.fromhex(carried)
            payload = mp([2, secret, pin, founder, room_id])
        c.eq(f"invite payload {host}", payload.hex(), case["payload"])
        check = invite_checksum(auth, payload)
        c.eq(f"invite checksum {host}", check.hex(), case["checksum"])
        code = base64.b32encode(payload + check).decode().rstrip("=").lower()
        c.eq(f"invite link {host}", f"hushroom://{auth}/#{code}", case["link"])
        c.eq(f"room tag {host}", hkdf(lab("ROOM_TAG"), secret, 16).hex(), case["room_tag"])
        c.eq(
            f"admission key {host}",
            hkdf(lab("ADMISSION_KEY"), secret, 32).hex(),
            case["admission_key"],
        )
        c.eq(f"room id {host}", room_id.hex(), case["room_id"])
        typo = case["mistyped_link"].split("#", 1)[1]
        pad = "=" * (-len(typo) % 8)
        raw = base64.b32decode(typo.upper() + pad)
        bad = invite_checksum(auth, raw[:-4])
        c.eq(f"mistyped invite {host} fails its checksum", bad != raw[-4:], True)
    for case in v["relay_lists"]:
        check_relay_list(c, case)
    for case in v["invalid_relay_lists"]:
        c.eq(
            f"invalid relay list {case['link'][:60]}", relay_list_error(case["link"]), case["error"]
        )


def invite_checksum(auths: str, payload: bytes) -> bytes:
    """H(label, u8(len(authorities)) || authorities || payload)[0:4] (spec §6.1)."""
    data = bytes([len(auths)]) + auths.encode() + payload
    return hashlib.sha256(labelled(lab("INVITE_CHECKSUM"), data)).digest()[:4]


def check_relay_list(c: Checker, case: dict[str, Any]) -> None:
    """A link naming several relay addresses sharing one pin (spec §6.2)."""
    auths = ",".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in case["relays"])
    c.eq(f"relay list {auths}", auths, case["authorities"])
    payload = mp(
        [
            1,
            bytes.fromhex(case["room_secret"]),
            bytes.fromhex(case["relay_pin"]),
            bytes.fromhex(case["founder_identity"]),
        ]
    )
    check = invite_checksum(auths, payload)
    c.eq(f"relay list checksum {auths}", check.hex(), case["checksum"])
    code = base64.b32encode(payload + check).decode().rstrip("=").lower()
    c.eq(f"relay list link {auths}", f"hushroom://{auths}/#{code}", case["link"])
    c.eq(f"relay list parses {auths}", relay_list_error(case["link"]), "OK")


def relay_list_error(link: str) -> str:
    """The §6.3 verdict on a link's address list and checksum (hosts already normal)."""
    head, code = link[len("hushroom://") :].split("/#", 1)
    entries = head.split(",")
    if not 1 <= len(entries) <= 4 or "" in entries or len(set(entries)) != len(entries):
        return "MALFORMED"
    if len(head) > 255:
        return "MALFORMED"
    raw = base64.b32decode(code.upper() + "=" * (-len(code) % 8))
    return "OK" if invite_checksum(head, raw[:-4]) == raw[-4:] else "CHECKSUM"


def check_pairwise(c: Checker, v: dict[str, Any]) -> None:
    room_id = bytes.fromhex(v["room_id"])
    parties = {}
    for p in ("a", "b"):
        priv = X25519PrivateKey.from_private_bytes(bytes.fromhex(v[f"{p}_session_private"]))
        pub = priv.public_key().public_bytes_raw()
        c.eq(f"pairwise {p} session public", pub.hex(), v[f"{p}_session_public"])
        parties[p] = (priv, bytes.fromhex(v[f"{p}_identity"]) + pub)
    shared = parties["a"][0].exchange(X25519PublicKey.from_public_bytes(parties["b"][1][32:]))
    c.eq("pairwise shared", shared.hex(), v["x25519_shared"])
    low = "a" if parties["a"][1] < parties["b"][1] else "b"
    c.eq("pairwise low party", low, v["low_party"])
    high = "b" if low == "a" else "a"
    root = hkdf(
        lab("PAIRWISE_ROOT"), shared, 32, salt=room_id, context=parties[low][1] + parties[high][1]
    )
    c.eq("pairwise root", root.hex(), v["root_key"])
    chains = {
        "low_to_high": hkdf(lab("PAIRWISE_CHAIN"), root, 32, context=b"\x00"),
        "high_to_low": hkdf(lab("PAIRWISE_CHAIN"), root, 32, context=b"\x01"),
    }
    c.eq("pairwise chain l->h", chains["low_to_high"].hex(), v["chain_low_to_high"])
    c.eq("pairwise chain h->l", chains["high_to_low"].hex(), v["chain_high_to_low"])
    current = dict(chains)
    for i, m in enumerate(v["messages"]):
        sender = m["from"]
        receiver = "b" if sender == "a" else "a"
        direction = "low_to_high" if sender == low else "high_to_low"
        c.eq(f"pairwise msg[{i}] direction", direction, m["direction"])
        ck = current[direction]
        c.eq(f"pairwise msg[{i}] chain key", ck.hex(), m["chain_key"])
        step = hmac.digest(ck, b"\x01", "sha512")
        mk, next_ck = step[32:], step[:32]
        current[direction] = next_ck
        c.eq(f"pairwise msg[{i}] message key", mk.hex(), m["message_key"])
        n = m["counter"]
        nonce = bytes(16) + u64(n)
        aad = labelled(lab("PAIRWISE_AAD"), room_id + parties[sender][1] + parties[receiver][1])
        aad += u64(n)
        c.eq(f"pairwise msg[{i}] aad", aad.hex(), m["aad"])
        ct = xchacha_seal(mk, nonce, bytes.fromhex(m["plaintext"]), aad)
        c.eq(f"pairwise msg[{i}] message", mp([1, n, ct]).hex(), m["message"])


def check_sender_key(c: Checker, v: dict[str, Any]) -> None:
    prev = None
    for i, step in enumerate(v["steps"]):
        secret = bytes.fromhex(step["secret"])
        kid, epoch = step["kid"], step["epoch"]
        if prev is not None:
            want = hkdf(lab("SENDER_KEY_RATCHET"), prev, 32, context=u64(kid) + u64(epoch))
            c.eq(f"sender key step[{i}] ratchet", want.hex(), step["secret"])
        prev = secret
        fk = hkdf(lab("FRAME_KEY"), secret, 32, context=u64(kid))
        salt = hkdf(lab("FRAME_SALT"), secret, 24, context=u64(kid))
        c.eq(f"sender key step[{i}] frame key", fk.hex(), step["frame_key"])
        c.eq(f"sender key step[{i}] frame salt", salt.hex(), step["frame_salt"])
        sub = bytes.fromhex(step["hchacha20_subkey"])
        # The subkey is right iff IETF ChaCha20-Poly1305 under it equals XChaCha20-Poly1305.
        nonce = salt[:16] + bytes(8)
        c.eq(
            f"sender key step[{i}] hchacha20 subkey",
            ChaCha20Poly1305(sub).encrypt(bytes(12), b"probe", b""),
            xchacha_seal(fk, nonce, b"probe", b""),
        )
        c.eq(
            f"sender key step[{i}] update",
            mp([1, kid, epoch, secret, 1000]).hex(),
            step["update_next_counter_1000"],
        )


def check_frames(c: Checker, v: dict[str, Any]) -> None:
    secret = bytes.fromhex(v["secret"])
    kid, epoch = v["kid"], v["epoch"]
    room_id, sender_id = bytes.fromhex(v["room_id"]), bytes.fromhex(v["sender_id"])
    fk = hkdf(lab("FRAME_KEY"), secret, 32, context=u64(kid))
    salt = hkdf(lab("FRAME_SALT"), secret, 24, context=u64(kid))
    c.eq("frames frame key", fk.hex(), v["frame_key"])
    c.eq("frames frame salt", salt.hex(), v["frame_salt"])
    c.eq("frames buckets", tuple(v["buckets"]), BUCKETS)
    sub = bytes.fromhex(v["hchacha20_subkey"])
    for case in v["cases"]:
        ctr = int(case["counter"])
        where = f"frame ctr={ctr} padded={case['padded']}"
        header = sframe_header(kid % 8, ctr)
        c.eq(f"{where} header", header.hex(), case["header"])
        nonce = bytes(a ^ b for a, b in zip(salt, bytes(16) + u64(ctr), strict=True))
        c.eq(f"{where} nonce", nonce.hex(), case["nonce"])
        flags = b"\x01" if case["padded"] else b"\x00"
        aad = labelled(lab("FRAME_AAD"), room_id + u64(epoch) + sender_id + flags) + header
        c.eq(f"{where} aad", aad.hex(), case["aad"])
        payload = bytes.fromhex(case["payload"])
        if case["padded"]:
            size = min(b for b in BUCKETS if b >= len(payload) + 1)
            pt = payload + b"\x80" + bytes(size - len(payload) - 1)
        else:
            pt = payload
        c.eq(f"{where} plaintext", pt.hex(), case["plaintext"])
        frame = header + xchacha_seal(fk, nonce, pt, aad)
        c.eq(f"{where} frame", frame.hex(), case["frame"])
        c.eq(
            f"{where} via HChaCha20 subkey",
            header + ChaCha20Poly1305(sub).encrypt(bytes.fromhex(case["ietf_nonce"]), pt, aad),
            frame,
        )
        c.eq(f"{where} opens", xchacha_open(fk, nonce, frame[len(header) :], aad), pt)
        c.eq(f"{where} overhead", len(frame) - len(payload), case["overhead_bytes"])


CHECKS: dict[str, Callable[[Checker, dict[str, Any]], None]] = {
    "labels.json": check_labels,
    "canonical.json": check_canonical,
    "sframe_header_rfc9605.json": check_sframe_rfc,
    "identity.json": check_identity,
    "invite.json": check_invite,
    "pairwise.json": check_pairwise,
    "sender_key.json": check_sender_key,
    "frames.json": check_frames,
}


# Vector files checked by their own independent checkers beside this file
# (each exposes ``verify_count(path) -> int``, the number of checks run,
# raising AssertionError on a mismatch, and imports nothing from e2ee/).
EXTERNAL_CHECKERS: dict[str, str] = {
    "envelope.json": "verify_envelope.py",
    "room_*.json": "verify_room.py",
    "auth*.json": "verify_auth.py",
    "datagram.json": "verify_datagram.py",
}


def _load_checker(module_file: str) -> Any:
    path = Path(__file__).with_name(module_file)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=Path, default=Path(__file__).parent / "vectors")
    args = parser.parse_args(argv)
    total = Checker()
    for name, check in CHECKS.items():
        path = args.vectors / name
        c = Checker()
        try:
            check(c, json.loads(path.read_text()))
        except Exception as exc:  # a missing field or file is a failure too
            c.failures.append(f"FAIL {name}: {type(exc).__name__}: {exc}")
        status = "ok" if not c.failures else f"{len(c.failures)} FAILED"
        print(f"{name:<28} {c.checks:4d} checks  {status}")
        for line in c.failures:
            print(f"    {line}")
        total.checks += c.checks
        total.failures += c.failures
    for name, module_file in EXTERNAL_CHECKERS.items():
        c = Checker()
        try:
            c.checks += _load_checker(module_file).verify_count(
                args.vectors if "*" in name else args.vectors / name
            )
        except Exception as exc:  # AssertionError from the checker is a failure too
            c.failures.append(f"FAIL {name}: {type(exc).__name__}: {exc}")
        status = "ok" if not c.failures else f"{len(c.failures)} FAILED"
        print(f"{name:<28} {c.checks:4d} checks  {status}  ({module_file})")
        for line in c.failures:
            print(f"    {line}")
        total.checks += c.checks
        total.failures += c.failures
    if total.failures:
        print(f"FAILED: {len(total.failures)} of {total.checks} checks")
        return 1
    print(f"all {total.checks} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
