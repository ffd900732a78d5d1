"""The speaker proof: one signature over a batch of whole protected frames (spec §15.6).

A speaker signs, with the Ed25519 identity key of its roster entry, the full
32-byte digests of ``n`` consecutive frames it sent::

    D_i    = SHA-256(labelled("hushroom v1 room frame digest", frame_{first+i}))
    signed = room_id || member_id || u64(epoch) || u64(first) || u8(n) || D_0 || ... || D_{n-1}
    sig    = Ed25519(identity, "hushroom v1 sig room speaker proof", signed)

and sends, as a MEDIA payload::

    proof  = 0xFF || u8(epoch mod 8) || u64(first) || ChaCha20(k, 0^4 || u64(first), body)
    body   = u8(n) || u8(r) || P_0 || ... || P_{r-1} || sig
    P_k    = XOR of D_i over i = k (mod r)            (interleaved parity, 32 bytes each)
    k      = HKDF("hushroom v1 room speaker proof key", S_e,m, 32)

The digests themselves are not sent: a receiver computes ``D_i`` from the
frames it holds and rebuilds, from the parity, the digest of at most one
missing frame per parity class (so any burst of up to ``r`` lost frames).
The body is encrypted so that the relay cannot test the signature against an
identity key it knows from elsewhere.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import NamedTuple

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from e2ee import kdf
from e2ee.errors import DecryptionFailed, ErrorCode, LocalProtocolError, RemoteProtocolError
from e2ee.identity import SIGNATURE_LEN, IdentityKey, verify_signature
from e2ee.room import labels

MARKER = 0xFF  # a room frame's first byte never has its high bit set (KID < 8, spec §11.2)
DIGEST_LEN = 32
MAX_BATCH = 64  # frames covered by one proof (spec §15.6)
MAX_PARITY = 8  # parity digests in one proof (spec §15.6)
HEADER_LEN = 10
_HEAD = struct.Struct(">BBQ")
_U64 = struct.Struct(">Q")


class Proof(NamedTuple):
    """A decrypted, parsed (not yet verified) speaker proof."""

    epoch: int
    first: int
    n: int  # frames covered: counters first .. first + n - 1
    parity: tuple[bytes, ...]
    signature: bytes


def is_speaker_proof(payload: bytes) -> bool:
    """True if a MEDIA payload is a speaker proof rather than a frame (spec §15.6)."""
    return bool(payload) and payload[0] == MARKER


def frame_digest(frame: bytes) -> bytes:
    """``D = SHA-256(labelled("hushroom v1 room frame digest", frame))`` (spec §15.6)."""
    return kdf.labelled_hash(labels.FRAME_DIGEST, frame)


def parity(digests: list[bytes], r: int) -> tuple[bytes, ...]:
    """``P_k``: XOR of the digests whose index is ``k`` modulo ``r`` (spec §15.6)."""
    acc = [0] * r
    for i, d in enumerate(digests):
        acc[i % r] ^= int.from_bytes(d, "big")
    return tuple(a.to_bytes(DIGEST_LEN, "big") for a in acc)


def signed_message(
    room_id: bytes, member: bytes, epoch: int, first: int, digests: list[bytes]
) -> bytes:
    """The bytes the speaker's signature covers (spec §15.6)."""
    return b"".join(
        (room_id, member, _U64.pack(epoch), _U64.pack(first), bytes((len(digests),)), *digests)
    )


def _keystream_xor(key: bytes, first: int, data: bytes) -> bytes:
    """ChaCha20 (RFC 8439, block counter 0, nonce ``0^4 || u64(first)``) over ``data``."""
    nonce16 = bytes(8) + _U64.pack(first)  # u32le(0) || 0^4 || u64(first)
    return Cipher(algorithms.ChaCha20(key, nonce16), mode=None).encryptor().update(data)


def make_proof(
    identity: IdentityKey,
    proof_key: bytes,
    room_id: bytes,
    epoch: int,
    first: int,
    digests: list[bytes],
    r: int,
) -> bytes:
    """Sign ``digests`` (frames ``first ..``) and encode the MEDIA payload (spec §15.6)."""
    n = len(digests)
    if not 1 <= n <= MAX_BATCH or not 1 <= r <= min(n, MAX_PARITY) or not 0 <= first < 2**64:
        raise LocalProtocolError("bad speaker proof parameters")
    msg = signed_message(room_id, identity.public, epoch, first, digests)
    sig = identity.sign(labels.SIG_SPEAKER_PROOF, msg)
    body = bytes((n, r)) + b"".join(parity(digests, r)) + sig
    return _HEAD.pack(MARKER, epoch % 8, first) + _keystream_xor(proof_key, first, body)


def proof_phase(payload: bytes) -> int:
    """The epoch phase in the proof's clear header; MALFORMED if it cannot be a proof."""
    if len(payload) < HEADER_LEN + 2 + DIGEST_LEN + SIGNATURE_LEN or payload[0] != MARKER:
        raise RemoteProtocolError("not a speaker proof", ErrorCode.MALFORMED)
    if payload[1] >= 8:
        raise RemoteProtocolError("speaker proof phase out of range", ErrorCode.MALFORMED)
    return payload[1]


def proof_first(payload: bytes) -> int:
    """The first counter a proof covers, from its clear header (checked by :func:`proof_phase`)."""
    return int(_U64.unpack_from(payload, 2)[0])


def open_proof(proof_key: bytes, epoch: int, payload: bytes) -> Proof:
    """Decrypt and parse a proof under the candidate ``epoch``'s key (spec §15.6).

    Raises DecryptionFailed if the decrypted lengths are inconsistent (a wrong
    key or a forgery; nothing else is learnt), MALFORMED for a bad header.
    """
    if proof_phase(payload) != epoch % 8:
        raise RemoteProtocolError("speaker proof phase does not match", ErrorCode.MALFORMED)
    first = proof_first(payload)
    body = _keystream_xor(proof_key, first, payload[HEADER_LEN:])
    n, r = body[0], body[1]
    if not 1 <= n <= MAX_BATCH or not 1 <= r <= min(n, MAX_PARITY):
        raise DecryptionFailed()
    if len(body) != 2 + r * DIGEST_LEN + SIGNATURE_LEN or first + n > 2**64:
        raise DecryptionFailed()
    par = tuple(body[2 + k * DIGEST_LEN : 2 + (k + 1) * DIGEST_LEN] for k in range(r))
    return Proof(epoch, first, n, par, body[2 + r * DIGEST_LEN :])


def recover_digests(proof: Proof, known: Mapping[int, bytes]) -> list[bytes] | None:
    """All ``n`` digests from those of the frames held (by counter) and the parity.

    None if some parity class misses more than one frame (spec §15.6).
    """
    r = len(proof.parity)
    acc = [int.from_bytes(p, "big") for p in proof.parity]
    missing: list[int | None] = [None] * r
    out: list[bytes] = []
    for i in range(proof.n):
        d = known.get(proof.first + i)
        if d is None:
            if missing[i % r] is not None:
                return None
            missing[i % r] = i
            out.append(b"")
        else:
            acc[i % r] ^= int.from_bytes(d, "big")
            out.append(d)
    for k, gap in enumerate(missing):
        if gap is not None:
            out[gap] = acc[k].to_bytes(DIGEST_LEN, "big")
    return out


def verify_proof(room_id: bytes, member: bytes, proof: Proof, digests: list[bytes]) -> None:
    """Check the signature of ``member`` over ``digests``; raises DecryptionFailed (§15.6)."""
    msg = signed_message(room_id, member, proof.epoch, proof.first, digests)
    verify_signature(member, labels.SIG_SPEAKER_PROOF, msg, proof.signature)
