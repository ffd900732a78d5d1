"""Admission messages: knock, offer, join request, welcome, denial (spec §13).

Sealed under the admission key (kind 0x01, spec §13.1)::

    KNOCK   = [2, 1]
    OFFER   = [2, 2, challenge(16), moderator_session_certificate, proof]
    REQUEST = [2, 3, sealed]      sealed = a SEALED payload (0x05 ...) to the moderator's
                                  session key whose plaintext is a JOIN_REQUEST

``proof`` is the offering moderator's promotion proof (:mod:`e2ee.room.authority`).
Carrying the request inside an admission-key payload makes every admission
message look alike to the relay (kind 0x01).

Sealed to one session key (kind 0x05, spec §13.1)::

    JOIN_REQUEST = [2, 3, challenge, session_certificate, name, signature]
    WELCOME      = [2, 1, moderator_id, body, signature]
                   body = canonical([joiner_session_key, snapshot, K_e, [[member_id, slot], ...]])
    DENIAL       = [2, 2, moderator_id, body, signature]
                   body = canonical([joiner_session_key, proof])

The join request's signature (identity key, label
``"hushroom v1 sig room fresh join request"``) covers
``room_id || moderator_id || challenge || session_certificate || name``; the
welcome's and the denial's (moderator's identity key, label
``"hushroom v1 sig room welcome"``) cover
``room_id || u8(type) || labelled_hash("hushroom v1 room welcome digest", body)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from e2ee import canonical, identity, kdf
from e2ee.canonical import Value
from e2ee.errors import ErrorCode, RemoteProtocolError
from e2ee.identity import SessionCertificate
from e2ee.room import labels
from e2ee.room.authority import Proof, encode_proof, parse_proof
from e2ee.room.gate import CHALLENGE_LEN
from e2ee.room.roster import ID_LEN, MAX_NAME_BYTES

ADMISSION_VERSION = 2
MAX_CERT_BYTES = 256
MAX_WELCOME_BODY = 1 << 24


class AdmissionType(IntEnum):
    """Second field of a plaintext sealed under the admission key (spec §13.1)."""

    KNOCK = 1
    OFFER = 2
    REQUEST = 3


class SealedType(IntEnum):
    """Second field of a plaintext sealed to a session key (spec §13.1)."""

    WELCOME = 1
    DENIAL = 2
    JOIN_REQUEST = 3
    ROTATE = 4  # e2ee.room.rotation (spec §13.7)


@dataclass(frozen=True, slots=True)
class Offer:
    """A moderator's answer to a knock (spec §13.3); authority not yet checked."""

    challenge: bytes
    moderator: bytes
    moderator_session: bytes
    proof: Proof


@dataclass(frozen=True, slots=True)
class JoinRequest:
    """A verified join request (spec §13.4)."""

    member_id: bytes
    session_key: bytes
    name: str


def encode_knock() -> bytes:
    """``[2, 1]`` (spec §13.3)."""
    return canonical.encode([ADMISSION_VERSION, int(AdmissionType.KNOCK)])


def encode_offer(challenge: bytes, cert: SessionCertificate, proof: Proof) -> bytes:
    """``[2, 2, challenge, moderator_session_certificate, proof]`` (spec §13.3)."""
    return canonical.encode(
        [ADMISSION_VERSION, int(AdmissionType.OFFER), challenge, cert.encode(), encode_proof(proof)]
    )


def encode_request(sealed: bytes) -> bytes:
    """``[2, 3, sealed]``: a JOIN_REQUEST sealed to the moderator, in an admission payload."""
    return canonical.encode([ADMISSION_VERSION, int(AdmissionType.REQUEST), sealed])


def _typed(data: bytes, what: str, counts: dict[int, int]) -> tuple[int, list[Value]]:
    """``[2, type, ...]`` with a known type and that type's field count."""
    f = canonical.decode(data)
    if not isinstance(f, list) or len(f) < 2:
        raise RemoteProtocolError(what, ErrorCode.MALFORMED)
    canonical.expect_version(f[0], what, ADMISSION_VERSION)
    kind = canonical.expect_int(f[1], f"{what} type", 1, max(counts))
    if len(f) != counts[kind]:
        raise RemoteProtocolError(what, ErrorCode.MALFORMED)
    return kind, f


def decode_admission(data: bytes) -> tuple[AdmissionType, list[Value]]:
    """``(type, fields)`` of a plaintext sealed under the admission key (spec §13.1)."""
    kind, f = _typed(data, "admission message", {1: 2, 2: 5, 3: 3})
    return AdmissionType(kind), f


def parse_offer(fields: list[Value]) -> Offer:
    """The :class:`Offer` in OFFER fields; the moderator's certificate is verified (§13.3)."""
    challenge = canonical.expect_bytes(fields[2], "challenge", CHALLENGE_LEN)
    cert = SessionCertificate.decode(
        canonical.expect_bytes(fields[3], "certificate", max_len=MAX_CERT_BYTES)
    )
    return Offer(challenge, cert.identity_public, cert.session_public, parse_proof(fields[4]))


def request_sealed(fields: list[Value]) -> bytes:
    """The SEALED payload in REQUEST fields (spec §13.3)."""
    return canonical.expect_bytes(fields[2], "sealed request", max_len=MAX_CERT_BYTES * 4)


def _request_signed(
    room_id: bytes, moderator: bytes, challenge: bytes, raw_cert: bytes, name: str
) -> bytes:
    return room_id + moderator + challenge + raw_cert + name.encode("utf-8")


def encode_join_request(
    ident: identity.IdentityKey,
    cert: SessionCertificate,
    name: str,
    room_id: bytes,
    moderator: bytes,
    challenge: bytes,
) -> bytes:
    """``[2, 3, challenge, session_certificate, name, signature]`` (spec §13.3)."""
    raw_cert = cert.encode()
    sig = ident.sign(
        labels.SIG_JOIN_REQUEST, _request_signed(room_id, moderator, challenge, raw_cert, name)
    )
    return canonical.encode(
        [ADMISSION_VERSION, int(SealedType.JOIN_REQUEST), challenge, raw_cert, name, sig]
    )


def decode_sealed(data: bytes) -> tuple[SealedType, list[Value]]:
    """``(type, fields)`` of a plaintext sealed to a session key (spec §13.1)."""
    kind, f = _typed(data, "sealed message", {1: 5, 2: 5, 3: 6, 4: 5})
    return SealedType(kind), f


def request_challenge(fields: list[Value]) -> bytes:
    """The challenge a JOIN_REQUEST answers: checked before any signature (spec §13.4)."""
    return canonical.expect_bytes(fields[2], "challenge", CHALLENGE_LEN)


def verify_join_request(fields: list[Value], room_id: bytes, moderator: bytes) -> JoinRequest:
    """Verify a JOIN_REQUEST's certificate and signature (spec §13.4); DecryptionFailed if bad."""
    challenge = request_challenge(fields)
    raw_cert = canonical.expect_bytes(fields[3], "certificate", max_len=MAX_CERT_BYTES)
    name = canonical.expect_str(fields[4], "display name", MAX_NAME_BYTES)
    sig = canonical.expect_bytes(fields[5], "signature", 64)
    cert = SessionCertificate.decode(raw_cert)
    identity.verify_signature(
        cert.identity_public,
        labels.SIG_JOIN_REQUEST,
        _request_signed(room_id, moderator, challenge, raw_cert, name),
        sig,
    )
    return JoinRequest(cert.identity_public, cert.session_public, name)


def welcome_digest(body: bytes) -> bytes:
    """``labelled_hash("hushroom v1 room welcome digest", body)``, signed (spec §13.5).

    Signing a 32-byte digest instead of a snapshot of hundreds of kilobytes
    saves Ed25519's two passes over it.
    """
    return kdf.labelled_hash(labels.WELCOME_DIGEST, body)


_BODY_FIELDS = {SealedType.WELCOME: 4, SealedType.DENIAL: 2, SealedType.ROTATE: 2}


def _verdict_signed(room_id: bytes, kind: SealedType, body: bytes) -> bytes:
    return room_id + bytes((kind,)) + welcome_digest(body)


def encode_verdict(
    moderator: identity.IdentityKey, room_id: bytes, kind: SealedType, body: list[Value]
) -> bytes:
    """``[2, kind, moderator_id, canonical(body), signature]`` (spec §13.5)."""
    raw = canonical.encode(body)
    sig = moderator.sign(labels.SIG_WELCOME, _verdict_signed(room_id, kind, raw))
    return canonical.encode([ADMISSION_VERSION, int(kind), moderator.public, raw, sig])


def encode_welcome(
    moderator: identity.IdentityKey,
    room_id: bytes,
    joiner_session: bytes,
    snapshot: bytes,
    epoch_key: bytes,
    stage: list[Value],
) -> bytes:
    """``[2, 1, moderator_id, body, signature]`` (spec §13.5)."""
    body: list[Value] = [joiner_session, snapshot, epoch_key, stage]
    return encode_verdict(moderator, room_id, SealedType.WELCOME, body)


def encode_denial(
    moderator: identity.IdentityKey, room_id: bytes, joiner_session: bytes, proof: Proof
) -> bytes:
    """``[2, 2, moderator_id, body, signature]`` (spec §13.5)."""
    body: list[Value] = [joiner_session, encode_proof(proof)]
    return encode_verdict(moderator, room_id, SealedType.DENIAL, body)


def decode_verdict(
    kind: SealedType, fields: list[Value], room_id: bytes
) -> tuple[bytes, list[Value]]:
    """Verify a WELCOME's, DENIAL's or ROTATE's signature; ``(moderator_id, body)`` (§13.5)."""
    moderator = canonical.expect_bytes(fields[2], "moderator", ID_LEN)
    raw = canonical.expect_bytes(fields[3], "welcome body", max_len=MAX_WELCOME_BODY)
    sig = canonical.expect_bytes(fields[4], "signature", 64)
    identity.verify_signature(
        moderator, labels.SIG_WELCOME, _verdict_signed(room_id, kind, raw), sig
    )
    body = canonical.decode_array(raw, _BODY_FIELDS[kind], "welcome body")
    return moderator, body
