"""Identities, signatures, session keys, safety codes and the identity file (spec §5)."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from e2ee import canonical, identity
from e2ee.errors import DecryptionFailed, ErrorCode, LocalProtocolError, RemoteProtocolError

LABEL = b"hushroom v1 sig test"


def _seeded(seed: int) -> identity.Rng:
    counter = [0]

    def rng(n: int) -> bytes:
        counter[0] += 1
        return hashlib.shake_256(f"{seed}/{counter[0]}".encode()).digest(n)

    return rng


def test_sign_and_verify() -> None:
    key = identity.IdentityKey.generate(os.urandom)
    sig = key.sign(LABEL, b"hello")
    assert len(sig) == 64
    assert identity.verify_signature(key.public, LABEL, b"hello", sig) is None


@pytest.mark.parametrize("which", ["message", "label", "signature", "key"])
def test_any_change_fails_verification(which: str) -> None:
    key = identity.IdentityKey.generate(os.urandom)
    other = identity.IdentityKey.generate(os.urandom)
    sig = key.sign(LABEL, b"hello")
    args = {"public_key": key.public, "label": LABEL, "message": b"hello", "signature": sig}
    if which == "message":
        args["message"] = b"hellO"
    elif which == "label":
        args["label"] = b"hushroom v1 sig other"
    elif which == "signature":
        args["signature"] = bytes([sig[0] ^ 1]) + sig[1:]
    else:
        args["public_key"] = other.public
    with pytest.raises(DecryptionFailed):
        identity.verify_signature(**args)


@given(st.binary(max_size=70), st.binary(max_size=70))
def test_garbage_keys_and_signatures_raise_decryption_failed(pub: bytes, sig: bytes) -> None:
    with pytest.raises(DecryptionFailed):
        identity.verify_signature(pub, LABEL, b"m", sig)


def test_signature_label_must_be_a_signature_label() -> None:
    key = identity.IdentityKey.generate(os.urandom)
    with pytest.raises(LocalProtocolError):
        key.sign(b"hushroom v1 room tag", b"x")


def test_safety_code_shape_and_determinism() -> None:
    key = identity.IdentityKey(bytes(range(32)))
    code = identity.safety_code(key.public)
    groups = code.split(" ")
    assert len(groups) == 6 and all(len(g) == 5 and g.isdigit() for g in groups)
    assert code == identity.safety_code(key.public)
    assert code != identity.safety_code(identity.IdentityKey(bytes(32)).public)
    fp = identity.fingerprint(key.public)
    assert int(groups[0]) == int.from_bytes(fp[:5], "big") % 100_000


def test_identity_file_round_trip_and_rejections() -> None:
    key = identity.IdentityKey.generate(_seeded(1))
    data = key.to_file_bytes()
    again = identity.IdentityKey.from_file_bytes(data)
    assert again.public == key.public
    assert again.sign(LABEL, b"x") == key.sign(LABEL, b"x")  # Ed25519 is deterministic
    fields = canonical.decode(data)
    assert isinstance(fields, list)
    bad_version = canonical.encode([fields[0], 2, fields[2], fields[3]])
    with pytest.raises(RemoteProtocolError) as exc:
        identity.IdentityKey.from_file_bytes(bad_version)
    assert exc.value.code == ErrorCode.UNSUPPORTED_VERSION
    wrong_public = canonical.encode([fields[0], 1, fields[2], bytes(32)])
    with pytest.raises(RemoteProtocolError):
        identity.IdentityKey.from_file_bytes(wrong_public)
    with pytest.raises(RemoteProtocolError):
        identity.IdentityKey.from_file_bytes(canonical.encode(["other", 1, fields[2], fields[3]]))
    assert "private" in repr(key) and fields[2].hex() not in repr(key)  # type: ignore[union-attr]


@given(st.binary(max_size=120))
def test_identity_file_decoder_raises_only_remote_errors(data: bytes) -> None:
    try:
        identity.IdentityKey.from_file_bytes(data)
    except RemoteProtocolError:
        pass


def test_session_certificate() -> None:
    key = identity.IdentityKey.generate(os.urandom)
    session = identity.SessionKey.generate(os.urandom)
    cert = session.certify(key)
    assert identity.SessionCertificate.decode(cert.encode()) == cert
    forged = identity.SessionCertificate(
        key.public, identity.SessionKey.generate(os.urandom).public, cert.signature
    )
    with pytest.raises(DecryptionFailed):
        identity.SessionCertificate.decode(forged.encode())


@given(st.binary(max_size=160))
def test_session_certificate_decoder_raises_only_remote_errors(data: bytes) -> None:
    try:
        identity.SessionCertificate.decode(data)
    except RemoteProtocolError:
        pass


def test_x25519_exchange_agrees_and_rejects_low_order_points() -> None:
    a = identity.SessionKey.generate(os.urandom)
    b = identity.SessionKey.generate(os.urandom)
    assert a.exchange(b.public) == b.exchange(a.public)
    for low_order in (bytes(32), b"\x01" + bytes(31)):
        with pytest.raises(RemoteProtocolError):
            a.exchange(low_order)
    with pytest.raises(RemoteProtocolError):
        a.exchange(b"short")


def test_rng_must_deliver() -> None:
    with pytest.raises(LocalProtocolError):
        identity.IdentityKey.generate(lambda n: b"x")
