"""Generate spec/vectors/auth.json (spec §15.6, speaker proofs) with the implementation.

    python spec/gen_auth_vectors.py [--out spec/vectors]

spec/verify_auth.py recomputes every value from the inputs without importing
e2ee/.  All inputs are fixed bytes; Ed25519 signatures are deterministic.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

from e2ee.frame import FrameSender
from e2ee.identity import IdentityKey
from e2ee.room import keys, speaker_proof
from e2ee.sender_key import SenderKey


def fixed(tag: str, n: int = 32) -> bytes:
    """Deterministic input bytes: SHA-256 of the tag, repeated and cut."""
    return (hashlib.sha256(tag.encode()).digest() * 4)[:n]


def case(name: str, epoch: int, first: int, n: int, r: int, lost: list[int]) -> dict[str, Any]:
    room_id = fixed(name + " room id")
    epoch_key = fixed(name + " epoch key")
    seed = fixed(name + " identity seed")
    ident = IdentityKey(seed)
    member = ident.public
    base = keys.sender_base(epoch_key, member)
    tx = FrameSender(
        SenderKey(epoch, epoch, base), room_id=room_id, sender_id=member, next_counter=first
    )
    payloads = [b"opus frame %d of %s" % (i, name.encode()) for i in range(n)]
    frames = [tx.protect(p) for p in payloads]
    digests = [speaker_proof.frame_digest(f) for f in frames]
    proof_key = keys.proof_key(base)
    proof = speaker_proof.make_proof(ident, proof_key, room_id, epoch, first, digests, r)
    opened = speaker_proof.open_proof(proof_key, epoch, proof)
    known = {first + i: d for i, d in enumerate(digests) if i not in lost}
    rebuilt = speaker_proof.recover_digests(opened, known)
    assert rebuilt == digests
    signed = speaker_proof.signed_message(room_id, member, epoch, first, digests)
    body = bytes((n, r)) + b"".join(opened.parity) + opened.signature
    return {
        "name": name,
        "inputs": {
            "room_id": room_id.hex(),
            "epoch": epoch,
            "epoch_key": epoch_key.hex(),
            "identity_seed": seed.hex(),
            "first": first,
            "parity_classes": r,
            "frames": [f.hex() for f in frames],
            "lost": lost,
        },
        "member_id": member.hex(),
        "sender_base": base.hex(),
        "proof_key": proof_key.hex(),
        "digests": [d.hex() for d in digests],
        "parity": [p.hex() for p in opened.parity],
        "signed": signed.hex(),
        "signature": opened.signature.hex(),
        "body": body.hex(),
        "proof": proof.hex(),
        "proof_len": len(proof),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "vectors")
    args = parser.parse_args()
    stage = case("stage", epoch=9, first=300, n=3, r=1, lost=[1])
    audience = case("audience", epoch=12, first=70_000, n=25, r=3, lost=[10, 11, 12])
    bent = bytearray.fromhex(stage["proof"])
    bent[-1] ^= 0x01  # the last signature byte, under the stream cipher
    data = {
        "spec": "§15.6",
        "labels": {
            "frame_digest": "hushroom v1 room frame digest",
            "proof_key": "hushroom v1 room speaker proof key",
            "sig_speaker_proof": "hushroom v1 sig room speaker proof",
        },
        "valid": [stage, audience],
        "invalid": [
            {"why": "one signature bit flipped", "like": "stage", "proof": bent.hex()},
        ],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "auth.json").write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {args.out / 'auth.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
