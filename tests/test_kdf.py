"""Labelled KDF (spec §3.3, §3.4)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from e2ee import kdf
from e2ee.errors import LocalProtocolError


def _rfc5869_hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes((i,)), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def test_labels_are_distinct_ascii_and_versioned() -> None:
    labels = list(kdf.LABELS.values())
    assert len(set(labels)) == len(labels)
    for label in labels:
        assert label.isascii() and label.startswith(b"hushroom v1 ")


def test_hkdf_is_rfc5869_with_length_prefixed_label() -> None:
    ikm, salt, ctx = b"\x0b" * 22, b"salt", b"ctx"
    got = kdf.hkdf(kdf.ROOM_TAG, ikm, 42, salt=salt, context=ctx)
    info = bytes((len(kdf.ROOM_TAG),)) + kdf.ROOM_TAG + ctx
    assert got == _rfc5869_hkdf(salt, ikm, info, 42)
    assert kdf.hkdf(kdf.ROOM_TAG, ikm, 16) == _rfc5869_hkdf(b"", ikm, info[:-3], 16)


def test_rfc5869_case_1_through_the_primitive() -> None:
    # RFC 5869 Appendix A.1, checked against our reference helper (and so HKDF itself).
    ikm = bytes.fromhex("0b" * 22)
    salt = bytes.fromhex("000102030405060708090a0b0c")
    info = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9")
    okm = _rfc5869_hkdf(salt, ikm, info, 42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_different_labels_give_different_keys() -> None:
    ikm = bytes(32)
    assert kdf.hkdf(kdf.ROOM_TAG, ikm, 32) != kdf.hkdf(kdf.ROOM_ID, ikm, 32)


def test_bad_labels_and_lengths_are_caller_errors() -> None:
    with pytest.raises(LocalProtocolError):
        kdf.labelled(b"")
    with pytest.raises(LocalProtocolError):
        kdf.labelled("é".encode())
    with pytest.raises(LocalProtocolError):
        kdf.hkdf(kdf.ROOM_TAG, b"x", 0)


@pytest.mark.parametrize("key_len", [0, 1, 31, 32, 63, 64, 65, 127, 128, 129, 300])
@pytest.mark.parametrize("data_len", [0, 1, 55, 64, 200])
def test_hmacs_are_rfc2104_for_every_key_length(key_len: int, data_len: int) -> None:
    """Keys shorter than, equal to and longer than each hash's block (64 / 128 bytes)."""
    key = bytes((7 * i + 1) % 256 for i in range(key_len))
    data = bytes((3 * i + 5) % 256 for i in range(data_len))
    assert kdf.hmac_sha256(key, data) == hmac.new(key, data, hashlib.sha256).digest()
    assert kdf.hmac_sha512(key, data) == hmac.new(key, data, hashlib.sha512).digest()


def test_label_prefix_cache_is_bounded_and_never_changes_a_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each checked label's prefix is kept, at most ``_MAX_PREFIXES`` of them."""
    cache: dict[bytes, bytes] = {}
    monkeypatch.setattr(kdf, "_PREFIXES", cache)
    labels = [b"hushroom v1 test %d" % i for i in range(kdf._MAX_PREFIXES + 40)]
    for label in labels:
        assert kdf.labelled(label, b"ctx") == bytes((len(label),)) + label + b"ctx"
    assert len(cache) == kdf._MAX_PREFIXES
    for label in labels:  # cached or not, the same bytes
        assert kdf.labelled(label) == bytes((len(label),)) + label
    assert len(cache) == kdf._MAX_PREFIXES
    for bad in (b"", b"\xff label", bytes(256), "hushroom v1 text"):
        with pytest.raises(LocalProtocolError):
            kdf.labelled(bad)  # type: ignore[arg-type]
    assert b"" not in cache and bytes(256) not in cache
