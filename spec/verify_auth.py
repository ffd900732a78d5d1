"""Check spec/vectors/auth.json (speaker proofs, spec §15.6) independently of e2ee/.

Uses only hashlib, ``cryptography`` and ``PyNaCl``; imports nothing from this
repository.  Every value is recomputed from the vector's inputs following
spec/protocol.md §15.6, including the digest a receiver rebuilds from the
parity for the frames the vector marks as lost.

    python spec/verify_auth.py [--vectors DIR]      # exit status 1 on any mismatch
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FRAME_DIGEST = b"hushroom v1 room frame digest"
PROOF_KEY = b"hushroom v1 room speaker proof key"
SIG_PROOF = b"hushroom v1 sig room speaker proof"
SENDER_BASE = b"hushroom v1 room sender base"


def labelled(label: bytes, data: bytes = b"") -> bytes:
    return bytes((len(label),)) + label + data


def hkdf(label: bytes, ikm: bytes, ctx: bytes = b"") -> bytes:
    return HKDF(hashes.SHA256(), 32, None, labelled(label, ctx)).derive(ikm)


def u64(n: int) -> bytes:
    return struct.pack(">Q", n)


def chacha20(key: bytes, first: int, data: bytes) -> bytes:
    """RFC 8439 ChaCha20, block counter 0, nonce 0^4 || u64(first)."""
    nonce16 = (0).to_bytes(4, "little") + bytes(4) + u64(first)
    return Cipher(algorithms.ChaCha20(key, nonce16), mode=None).encryptor().update(data)


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(p ^ q for p, q in zip(a, b, strict=True))


class Checker:
    def __init__(self) -> None:
        self.ok = 0
        self.failed: list[str] = []

    def eq(self, what: str, got: object, want: object) -> None:
        if got == want:
            self.ok += 1
        else:
            self.failed.append(f"{what}: computed {got!r}, vector says {want!r}")


def verifies(member: bytes, signed: bytes, sig: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(member).verify(labelled(SIG_PROOF, signed), sig)
    except nacl.exceptions.BadSignatureError:
        return False
    return True


def check_case(c: Checker, v: dict[str, Any]) -> None:
    i = v["inputs"]
    w = v["name"]
    room_id = bytes.fromhex(i["room_id"])
    epoch, first, r = i["epoch"], i["first"], i["parity_classes"]
    frames = [bytes.fromhex(f) for f in i["frames"]]
    n = len(frames)
    signing = nacl.signing.SigningKey(bytes.fromhex(i["identity_seed"]))
    member = bytes(signing.verify_key)
    c.eq(f"{w} member id", member.hex(), v["member_id"])
    base = hkdf(SENDER_BASE, bytes.fromhex(i["epoch_key"]), member)
    c.eq(f"{w} S_e,m", base.hex(), v["sender_base"])
    key = hkdf(PROOF_KEY, base)
    c.eq(f"{w} k_e,m", key.hex(), v["proof_key"])
    digests = [hashlib.sha256(labelled(FRAME_DIGEST, f)).digest() for f in frames]
    c.eq(f"{w} digests", [d.hex() for d in digests], v["digests"])
    parity = [bytes(32)] * r
    for k, d in enumerate(digests):
        parity[k % r] = xor(parity[k % r], d)
    c.eq(f"{w} parity", [p.hex() for p in parity], v["parity"])
    signed = room_id + member + u64(epoch) + u64(first) + bytes((n,)) + b"".join(digests)
    c.eq(f"{w} signed", signed.hex(), v["signed"])
    sig = signing.sign(labelled(SIG_PROOF, signed)).signature
    c.eq(f"{w} signature", sig.hex(), v["signature"])
    body = bytes((n, r)) + b"".join(parity) + sig
    c.eq(f"{w} body", body.hex(), v["body"])
    proof = b"\xff" + bytes((epoch % 8,)) + u64(first) + chacha20(key, first, body)
    c.eq(f"{w} proof", proof.hex(), v["proof"])
    c.eq(f"{w} proof length", len(proof), 10 + 2 + 32 * r + 64)
    c.eq(f"{w} proof length (vector)", len(proof), v["proof_len"])
    # the receiver's side: decrypt, rebuild the lost digests from the parity, verify
    got = chacha20(key, int.from_bytes(proof[2:10], "big"), proof[10:])
    c.eq(f"{w} decrypted body", got, body)
    lost = set(i["lost"])
    rebuilt = list(digests)
    for k in range(r):
        gaps = [j for j in range(k, n, r) if j in lost]
        c.eq(f"{w} at most one loss in class {k}", len(gaps) <= 1, True)
        if gaps:
            acc = parity[k]
            for j in range(k, n, r):
                if j not in lost:
                    acc = xor(acc, digests[j])
            rebuilt[gaps[0]] = acc
    c.eq(f"{w} rebuilt digests", rebuilt, digests)
    c.eq(f"{w} signature verifies", verifies(member, signed, sig), True)


def check_invalid(c: Checker, v: dict[str, Any], valid: dict[str, dict[str, Any]]) -> None:
    base = valid[v["like"]]
    key = bytes.fromhex(base["proof_key"])
    proof = bytes.fromhex(v["proof"])
    body = chacha20(key, int.from_bytes(proof[2:10], "big"), proof[10:])
    sig = body[-64:]
    member = bytes.fromhex(base["member_id"])
    signed = bytes.fromhex(base["signed"])
    c.eq(f"invalid ({v['why']}) is refused", verifies(member, signed, sig), False)


def _run(vectors_dir: str | Path) -> Checker:
    data = json.loads((Path(vectors_dir) / "auth.json").read_text())
    c = Checker()
    c.eq(
        "labels",
        data["labels"],
        {
            "frame_digest": FRAME_DIGEST.decode(),
            "proof_key": PROOF_KEY.decode(),
            "sig_speaker_proof": SIG_PROOF.decode(),
        },
    )
    valid = {v["name"]: v for v in data["valid"]}
    for v in data["valid"]:
        check_case(c, v)
    for v in data["invalid"]:
        check_invalid(c, v, valid)
    return c


def verify_count(vectors_dir: str | Path) -> int:
    """Check the speaker-proof vectors; the number of checks; AssertionError on a mismatch."""
    c = _run(vectors_dir)
    if c.failed:
        raise AssertionError(f"{len(c.failed)} mismatches, first: {c.failed[0]}")
    return c.ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=Path, default=Path(__file__).parent / "vectors")
    c = _run(parser.parse_args(argv).vectors)
    for what in c.failed:
        print(f"MISMATCH auth: {what}")
    print(f"auth vectors: {c.ok} checks passed, {len(c.failed)} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
