"""The relay pin: what an invite says the relay's key is, and how it is checked (spec §6.5, §7.2).

The pin is SHA-256 of the DER SubjectPublicKeyInfo of the relay certificate's
public key, 32 bytes; ``hushroom relay`` prints it as unpadded base64url and
invites carry the raw bytes.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization

PIN_LEN = 32


def encode_pin(pin: bytes) -> str:
    """Unpadded base64url of the 32-byte pin (43 characters), spec §7.2."""
    return base64.urlsafe_b64encode(pin).rstrip(b"=").decode("ascii")


def decode_pin(text: str) -> bytes:
    """Inverse of :func:`encode_pin`; raises ValueError unless it yields 32 bytes."""
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(raw) != PIN_LEN or encode_pin(raw) != text:
        raise ValueError("a relay pin is 43 base64url characters (32 bytes)")
    return raw


def certificate_pin(der_certificate: bytes) -> bytes:
    """SHA-256 of the DER SubjectPublicKeyInfo of a DER certificate (spec §7.2)."""
    cert = x509.load_der_x509_certificate(der_certificate)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()
