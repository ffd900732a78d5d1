"""Device identities, session keys, fingerprints and safety codes (spec §5).

* :class:`IdentityKey` — a device's long-term Ed25519 key (private).
* :func:`verify_signature` — raises :class:`~e2ee.errors.DecryptionFailed`, never returns a bool.
* :class:`SessionKey` — a per-session X25519 key pair; :meth:`SessionKey.certify` makes a
  :class:`SessionCertificate` signed by the identity.
* :func:`fingerprint`, :func:`safety_code` — what people compare out of band.
* :meth:`IdentityKey.to_file_bytes` / :meth:`IdentityKey.from_file_bytes` — the
  versioned private identity file (spec §5.5).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions
import nacl.signing

from e2ee import canonical, kdf
from e2ee.errors import DecryptionFailed, ErrorCode, LocalProtocolError, RemoteProtocolError

Rng = Callable[[int], bytes]

PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64
IDENTITY_FILE_MAGIC = "hushroom-identity"
IDENTITY_FILE_VERSION = 1
SESSION_CERT_VERSION = 1


def _draw(rng: Rng, n: int) -> bytes:
    out = rng(n)
    if not isinstance(out, bytes) or len(out) != n:
        raise LocalProtocolError(f"rng must return exactly {n} bytes")
    return out


def signed_bytes(label: bytes, message: bytes) -> bytes:
    """The bytes an Ed25519 signature covers: ``u8(len(label)) || label || message`` (spec §5.2)."""
    if not label.startswith(b"hushroom v1 sig "):
        raise LocalProtocolError("signature labels start with 'hushroom v1 sig '")
    return kdf.labelled(label, message)


class IdentityKey:
    """A device's Ed25519 identity key (spec §5.1).  Never logged, never sent."""

    __slots__ = ("_public", "_seed", "_signing")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise LocalProtocolError("an identity seed is 32 bytes")
        self._seed = bytes(seed)
        self._signing = nacl.signing.SigningKey(self._seed)
        self._public = bytes(self._signing.verify_key)

    @classmethod
    def generate(cls, rng: Rng) -> IdentityKey:
        """A fresh identity from 32 bytes of ``rng`` (spec §5.1)."""
        return cls(_draw(rng, 32))

    @property
    def public(self) -> bytes:
        """The 32-byte Ed25519 public key (the member's identity on the roster)."""
        return self._public

    def sign(self, label: bytes, message: bytes) -> bytes:
        """Ed25519 signature over ``signed_bytes(label, message)`` (spec §5.2)."""
        signature: bytes = self._signing.sign(signed_bytes(label, message)).signature
        return signature

    def to_file_bytes(self) -> bytes:
        """The private identity file: canonical ``[magic, version, seed, public]`` (spec §5.5)."""
        return canonical.encode(
            [IDENTITY_FILE_MAGIC, IDENTITY_FILE_VERSION, self._seed, self._public]
        )

    @classmethod
    def from_file_bytes(cls, data: bytes) -> IdentityKey:
        """Parse a private identity file (spec §5.5); RemoteProtocolError if invalid."""
        fields = canonical.decode_array(data, 4, "identity file")
        if fields[0] != IDENTITY_FILE_MAGIC:
            raise RemoteProtocolError("not a Hushroom identity file", ErrorCode.MALFORMED)
        canonical.expect_version(fields[1], "identity file", IDENTITY_FILE_VERSION)
        seed = canonical.expect_bytes(fields[2], "identity seed", 32)
        public = canonical.expect_bytes(fields[3], "identity public key", 32)
        key = cls(seed)
        if key.public != public:
            raise RemoteProtocolError("identity file is corrupt", ErrorCode.MALFORMED)
        return key

    def __repr__(self) -> str:
        return "IdentityKey(<private>)"


def verify_signature(public_key: bytes, label: bytes, message: bytes, signature: bytes) -> None:
    """Verify an Ed25519 signature (spec §5.2).  Returns nothing; raises DecryptionFailed."""
    data = signed_bytes(label, message)
    if len(public_key) != PUBLIC_KEY_LEN or len(signature) != SIGNATURE_LEN:
        raise DecryptionFailed()
    try:
        # the binding itself: a VerifyKey object per check would only wrap it
        nacl.bindings.crypto_sign_open(signature + data, public_key)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise DecryptionFailed() from None


def fingerprint(identity_public: bytes) -> bytes:
    """SHA-256(labelled("hushroom v1 fingerprint", identity_public)) (spec §5.4)."""
    if len(identity_public) != PUBLIC_KEY_LEN:
        raise LocalProtocolError("an identity public key is 32 bytes")
    return kdf.labelled_hash(kdf.FINGERPRINT, identity_public)


def safety_code(identity_public: bytes) -> str:
    """Six groups of five digits (spec §5.4).

    Group i is bytes 5i..5i+4 of the fingerprint, big-endian, mod 100000.
    """
    fp = fingerprint(identity_public)
    groups = [int.from_bytes(fp[5 * i : 5 * i + 5], "big") % 100_000 for i in range(6)]
    return " ".join(f"{g:05d}" for g in groups)


@dataclass(frozen=True)
class SessionCertificate:
    """An identity's signature over a session X25519 public key (spec §5.3)."""

    identity_public: bytes
    session_public: bytes
    signature: bytes

    @staticmethod
    def signed_payload(identity_public: bytes, session_public: bytes) -> bytes:
        """canonical([1, identity_public, session_public]): what is signed (spec §5.3)."""
        return canonical.encode([SESSION_CERT_VERSION, identity_public, session_public])

    def encode(self) -> bytes:
        """canonical([1, identity_public, session_public, signature]) (spec §5.3)."""
        return canonical.encode(
            [SESSION_CERT_VERSION, self.identity_public, self.session_public, self.signature]
        )

    @classmethod
    def decode(cls, data: bytes) -> SessionCertificate:
        """Parse and verify (spec §5.3); DecryptionFailed if the signature is forged."""
        fields = canonical.decode_array(data, 4, "session certificate")
        canonical.expect_version(fields[0], "session certificate", SESSION_CERT_VERSION)
        cert = cls(
            canonical.expect_bytes(fields[1], "identity key", 32),
            canonical.expect_bytes(fields[2], "session key", 32),
            canonical.expect_bytes(fields[3], "signature", 64),
        )
        cert.verify()
        return cert

    def verify(self) -> None:
        """Check the signature; raises DecryptionFailed (spec §5.3)."""
        verify_signature(
            self.identity_public,
            kdf.SIG_SESSION_KEY,
            self.signed_payload(self.identity_public, self.session_public),
            self.signature,
        )


class SessionKey:
    """A per-session X25519 key pair (spec §5.3).  The private scalar never leaves it."""

    __slots__ = ("_private", "public")

    def __init__(self, private: bytes) -> None:
        if len(private) != 32:
            raise LocalProtocolError("an X25519 private key is 32 bytes")
        self._private = bytes(private)
        self.public: bytes = nacl.bindings.crypto_scalarmult_base(self._private)

    @classmethod
    def generate(cls, rng: Rng) -> SessionKey:
        """A fresh session key from 32 bytes of ``rng`` (spec §5.3)."""
        return cls(_draw(rng, 32))

    def certify(self, identity: IdentityKey) -> SessionCertificate:
        """Sign this session key with ``identity`` (spec §5.3)."""
        payload = SessionCertificate.signed_payload(identity.public, self.public)
        return SessionCertificate(
            identity.public, self.public, identity.sign(kdf.SIG_SESSION_KEY, payload)
        )

    def exchange(self, peer_public: bytes) -> bytes:
        """X25519(self, peer) (spec §9.1); RemoteProtocolError if the result is all zero."""
        if len(peer_public) != 32:
            raise RemoteProtocolError("an X25519 public key is 32 bytes", ErrorCode.MALFORMED)
        try:
            shared: bytes = nacl.bindings.crypto_scalarmult(self._private, peer_public)
        except nacl.exceptions.CryptoError:
            raise RemoteProtocolError("low-order X25519 public key", ErrorCode.MALFORMED) from None
        if shared == bytes(32):
            raise RemoteProtocolError("low-order X25519 public key", ErrorCode.MALFORMED)
        return shared

    def __repr__(self) -> str:
        return "SessionKey(<private>)"
