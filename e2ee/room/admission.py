"""Join requests, welcomes and denials (spec §13).

* Join request plaintext (sealed under the admission key, spec §13.2)::

      [1, session_certificate, display_name, signature]

  ``signature`` is the joiner's identity signature, label
  ``"hushroom v1 sig room join request"``, over ``room_id || certificate || name``.
* Welcome / denial plaintext (sealed to the joiner's session key, spec §13.4)::

      [1, moderator_id, body, signature]  with body =
      [1, joiner_session_key, snapshot, epoch_key, [[member_id, slot], ...]]   (welcome)
      [2, joiner_session_key]                                                 (denial)

  ``signature`` is the moderator's, label ``"hushroom v1 sig room welcome"``,
  over ``room_id || labelled_hash("hushroom v1 room welcome digest", body)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from e2ee import canonical, identity, kdf
from e2ee.canonical import Value
from e2ee.errors import ErrorCode, RemoteProtocolError
from e2ee.identity import SessionCertificate
from e2ee.room import labels
from e2ee.room.roster import ID_LEN, MAX_NAME_BYTES

JOIN_VERSION = 1
WELCOME_VERSION = 1
WELCOME = 1
DENIAL = 2


@dataclass(frozen=True, slots=True)
class JoinRequest:
    """A verified join request (spec §13.2)."""

    member_id: bytes
    session_key: bytes
    name: str


def encode_join_request(
    ident: identity.IdentityKey, cert: SessionCertificate, name: str, room_id: bytes
) -> bytes:
    """Plaintext of a join request (spec §13.2)."""
    raw_cert = cert.encode()
    sig = ident.sign(labels.SIG_JOIN_REQUEST, room_id + raw_cert + name.encode("utf-8"))
    return canonical.encode([JOIN_VERSION, raw_cert, name, sig])


def decode_join_request(data: bytes, room_id: bytes) -> JoinRequest:
    """Parse and verify a join request (spec §13.2); DecryptionFailed for a bad signature."""
    f = canonical.decode_array(data, 4, "join request")
    canonical.expect_version(f[0], "join request", JOIN_VERSION)
    raw_cert = canonical.expect_bytes(f[1], "certificate", max_len=256)
    name = canonical.expect_str(f[2], "display name", MAX_NAME_BYTES)
    sig = canonical.expect_bytes(f[3], "signature", 64)
    cert = SessionCertificate.decode(raw_cert)
    identity.verify_signature(
        cert.identity_public,
        labels.SIG_JOIN_REQUEST,
        room_id + raw_cert + name.encode("utf-8"),
        sig,
    )
    return JoinRequest(cert.identity_public, cert.session_public, name)


def welcome_digest(body: bytes) -> bytes:
    """``labelled_hash("hushroom v1 room welcome digest", body)``, signed (spec §13.4).

    Signing a 32-byte digest instead of a snapshot of hundreds of kilobytes
    saves Ed25519's two passes over it.
    """
    return kdf.labelled_hash(labels.WELCOME_DIGEST, body)


def encode_welcome_plaintext(
    moderator: identity.IdentityKey, room_id: bytes, body: list[Value]
) -> bytes:
    """``[1, moderator_id, body, signature]`` (spec §13.4)."""
    raw = canonical.encode(body)
    sig = moderator.sign(labels.SIG_WELCOME, room_id + welcome_digest(raw))
    return canonical.encode([WELCOME_VERSION, moderator.public, raw, sig])


def decode_welcome_plaintext(data: bytes, room_id: bytes) -> tuple[bytes, list[Value]]:
    """Verify and return ``(moderator_id, body)`` (spec §13.4)."""
    f = canonical.decode_array(data, 4, "welcome")
    canonical.expect_version(f[0], "welcome", WELCOME_VERSION)
    moderator = canonical.expect_bytes(f[1], "moderator", ID_LEN)
    raw = canonical.expect_bytes(f[2], "welcome body", max_len=1 << 24)
    sig = canonical.expect_bytes(f[3], "signature", 64)
    identity.verify_signature(moderator, labels.SIG_WELCOME, room_id + welcome_digest(raw), sig)
    body = canonical.decode(raw)
    if not isinstance(body, list) or not body:
        raise RemoteProtocolError("welcome body", ErrorCode.MALFORMED)
    return moderator, body
