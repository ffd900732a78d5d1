"""Header protection of room audio: the wire form of frames and speaker proofs (spec §15.4.1).

A room frame is a §11 protected frame whose clear fields (the key phase
``kid mod 8`` and the counter) the relay must not read: they would show every
commit, how long a member has spoken, and link its reconnects.  On the wire::

    frame  = masked(u8(kid mod 8) || u32(CTR)) || ciphertext || tag      (5-byte room header)
    proof  = 0xFF || masked(u8(e mod 8) || u64(first)) || encrypted body    (§15.6 layout)
    mask   = ChaCha20(hp_key, sample)[0 .. n]     (RFC 9001 §5.4.4: sample = the 16 bytes
                                                    after the masked fields, block counter
                                                    = sample[0..4] little-endian, nonce = the rest)
    hp_key = HKDF("hushroom v1 room frame header key", ikm = S_e,m, 32)

A frame's first byte keeps its high bit clear (only the low 7 bits are masked)
so that 0xFF still tells a proof from a frame.  Revealing under a candidate
epoch checks the bits a right key restores: a frame's phase byte, a proof's
phase byte and the upper half of its ``first`` (room counters stay below
``2^32``).  A failed check is the one opaque :class:`DecryptionFailed`; the
frame's AEAD, or the proof's signature, still decides.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from e2ee import kdf
from e2ee.errors import DecryptionFailed, ErrorCode, LocalProtocolError, RemoteProtocolError
from e2ee.room import labels, speaker_proof
from e2ee.sframe_header import decode_header, encode_header

ROOM_HEADER_LEN = 5  # u8(kid mod 8) || u32(CTR)
MAX_COUNTER = 2**32 - 1  # what the 4-byte field carries: a room speaker stops before
SAMPLE_LEN = 16
HEADER_KEY_LEN = 32
PROOF_FIELDS = speaker_proof.HEADER_LEN - 1  # a proof's phase byte and u64(first)
_FRAME_BITS = 0x7F  # masked bits of a frame's first byte: its high bit stays 0
_KID_PHASES = 8


def header_key(sender_secret: bytes) -> bytes:
    """``hp_key`` of one speaker at one epoch, from its sender secret ``S_e,m`` (§15.4.1)."""
    return kdf.hkdf(labels.FRAME_HEADER_KEY, sender_secret, HEADER_KEY_LEN)


def header_mask(hp_key: bytes, sample: bytes, n: int) -> bytes:
    """The first ``n`` bytes of ChaCha20(hp_key, sample) (RFC 9001 §5.4.4, spec §15.4.1)."""
    if len(sample) != SAMPLE_LEN:
        raise RemoteProtocolError("too short to carry a sample", ErrorCode.MALFORMED)
    return Cipher(algorithms.ChaCha20(hp_key, sample), mode=None).encryptor().update(bytes(n))


def _xor(a: bytes, b: bytes) -> bytes:
    """``a XOR b`` for two fields of the same length."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def hide_frame(frame: bytes, hp_key: bytes) -> bytes:
    """The wire form of a §11 protected room frame (spec §15.4.1).

    LocalProtocolError for a counter the 4-byte field cannot carry.
    """
    kid, ctr, hlen = decode_header(frame)
    if kid >= _KID_PHASES or ctr > MAX_COUNTER:
        raise LocalProtocolError("a room frame's counter stays below 2^32")
    body = frame[hlen:]
    mask = header_mask(hp_key, body[:SAMPLE_LEN], ROOM_HEADER_LEN)
    first = kid ^ (mask[0] & _FRAME_BITS)
    return bytes((first,)) + _xor(ctr.to_bytes(4, "big"), mask[1:]) + body


def reveal_frame(wire: bytes, hp_key: bytes, kid_phase: int) -> bytes:
    """The §11 frame behind a wire frame, under the candidate key of phase ``kid_phase``.

    DecryptionFailed when the revealed phase is not ``kid_phase`` (a wrong key
    or a forgery); MALFORMED when too short for a header and a sample.
    """
    if len(wire) < ROOM_HEADER_LEN + SAMPLE_LEN or wire[0] > _FRAME_BITS:
        raise RemoteProtocolError("not a room frame", ErrorCode.MALFORMED)
    sample = wire[ROOM_HEADER_LEN : ROOM_HEADER_LEN + SAMPLE_LEN]
    mask = header_mask(hp_key, sample, ROOM_HEADER_LEN)
    if wire[0] ^ (mask[0] & _FRAME_BITS) != kid_phase:
        raise DecryptionFailed()
    ctr = int.from_bytes(_xor(wire[1:ROOM_HEADER_LEN], mask[1:]), "big")
    return encode_header(kid_phase, ctr) + wire[ROOM_HEADER_LEN:]


def hide_proof(proof: bytes, hp_key: bytes) -> bytes:
    """The wire form of a §15.6 speaker proof: its phase and ``first`` masked (§15.4.1)."""
    end = 1 + PROOF_FIELDS
    mask = header_mask(hp_key, proof[end : end + SAMPLE_LEN], PROOF_FIELDS)
    return proof[:1] + _xor(proof[1:end], mask) + proof[end:]


def reveal_proof(wire: bytes, hp_key: bytes, kid_phase: int) -> bytes:
    """The §15.6 proof behind a wire proof, under the candidate key of phase ``kid_phase``.

    DecryptionFailed unless the revealed phase is ``kid_phase`` and ``first``
    is below ``2^32`` (40 bits a wrong key restores by chance once in 2^40).
    """
    end = 1 + PROOF_FIELDS
    if len(wire) < end + SAMPLE_LEN or not speaker_proof.is_speaker_proof(wire):
        raise RemoteProtocolError("not a speaker proof", ErrorCode.MALFORMED)
    fields = _xor(wire[1:end], header_mask(hp_key, wire[end : end + SAMPLE_LEN], PROOF_FIELDS))
    if fields[0] != kid_phase or any(fields[1:5]):
        raise DecryptionFailed()
    return wire[:1] + fields + wire[end:]
