"""The relay's long-term key, its self-signed certificate and its pin (spec §7.2).

On first start the relay creates an Ed25519 key and a self-signed X.509
certificate in the state directory (files 0600, directory 0700); later starts
reuse them, so the pin in existing invites stays valid.  The pin is
SHA-256(DER SubjectPublicKeyInfo of the certificate's public key).
"""

from __future__ import annotations

import datetime
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from relay.wire.pin import encode_pin

KEY_FILE = "relay-key.pem"
CERT_FILE = "relay-cert.pem"


class StateError(Exception):
    """The state directory cannot be used (unreadable, wrong permissions, corrupt)."""


@dataclass(frozen=True, slots=True)
class RelayIdentity:
    """Paths of the key and certificate, and the 32-byte pin (spec §7.2)."""

    key_path: Path
    cert_path: Path
    pin: bytes

    @property
    def pin_text(self) -> str:
        """The pin as printed by ``hushroom relay``: unpadded base64url (spec §7.2)."""
        return encode_pin(self.pin)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def load_or_create(state_dir: Path) -> RelayIdentity:
    """Load the relay identity from ``state_dir``, creating it on first use (spec §7.2)."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path = state_dir / KEY_FILE
    cert_path = state_dir / CERT_FILE
    if not key_path.exists():
        key = ed25519.Ed25519PrivateKey.generate()
        # The certificate says nothing about the operator: a fixed, generic name.
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hushroom-relay")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365 * 100))
            .sign(key, None)
        )
        tmp_key = key_path.with_suffix(".tmp")
        tmp_key.unlink(missing_ok=True)
        _write_private(
            tmp_key,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        cert_path.unlink(missing_ok=True)
        _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        os.replace(tmp_key, key_path)
    if key_path.stat().st_mode & 0o077:
        raise StateError(f"{key_path} is readable by others; chmod 600 it")
    try:
        key_pem = key_path.read_bytes()
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        loaded = serialization.load_pem_private_key(key_pem, None)
    except (OSError, ValueError) as exc:
        raise StateError(f"cannot load the relay key from {state_dir}: {exc}") from None
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    own = loaded.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if spki != own:
        raise StateError(f"{cert_path} does not match {key_path}")
    return RelayIdentity(key_path, cert_path, hashlib.sha256(spki).digest())
