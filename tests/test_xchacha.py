"""XChaCha20-Poly1305 via a cached HChaCha20 subkey equals libsodium's (spec §3.2)."""

from __future__ import annotations

import nacl.bindings
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2ee import xchacha
from e2ee.errors import DecryptionFailed, LocalProtocolError

keys = st.binary(min_size=32, max_size=32)
nonces = st.binary(min_size=24, max_size=24)


@settings(max_examples=300)
@given(keys, nonces, st.binary(max_size=300), st.binary(max_size=64))
def test_byte_identical_to_pynacl(key: bytes, nonce: bytes, msg: bytes, aad: bytes) -> None:
    cached = xchacha.XChaChaPrefix(key, nonce[:16])
    ours = cached.encrypt(nonce[16:], msg, aad)
    theirs = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(msg, aad, nonce, key)
    assert ours == theirs
    assert cached.decrypt(nonce[16:], theirs, aad) == msg
    assert xchacha.encrypt(key, nonce, msg, aad) == ours
    assert xchacha.decrypt(key, nonce, theirs, aad) == msg
    assert nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(ours, aad, nonce, key) == msg


@given(keys, nonces, st.lists(st.binary(min_size=8, max_size=8), min_size=1, max_size=5))
def test_cached_prefix_matches_pynacl_for_every_suffix(
    key: bytes, nonce: bytes, suffixes: list[bytes]
) -> None:
    cipher = xchacha.XChaChaPrefix(key, nonce[:16])
    for suffix in suffixes:
        full = nonce[:16] + suffix
        expect = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(b"frame", b"a", full, key)
        assert cipher.encrypt(suffix, b"frame", b"a") == expect


def test_hchacha20_draft_vector() -> None:
    # draft-irtf-cfrg-xchacha-03 §2.2.1
    key = bytes(range(32))
    nonce = bytes.fromhex("000000090000004a0000000031415927")
    expect = "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"
    assert xchacha.hchacha20(key, nonce).hex() == expect


def test_xchacha_draft_aead_vector() -> None:
    # draft-irtf-cfrg-xchacha-03 §A.3.1
    pt = (
        b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip "
        b"for the future, sunscreen would be it."
    )
    aad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    key = bytes(range(0x80, 0xA0))
    nonce = bytes.fromhex("404142434445464748494a4b4c4d4e4f5051525354555657")
    out = xchacha.XChaChaPrefix(key, nonce[:16]).encrypt(nonce[16:], pt, aad)
    assert out == xchacha.encrypt(key, nonce, pt, aad)
    assert out[-16:].hex() == "c0875924c1c7987947deafd8780acf49"
    assert out[:16].hex() == "bd6d179d3e83d43b9576579493c0e939"


@given(keys, nonces, st.binary(min_size=1, max_size=64), st.data())
def test_any_bit_flip_fails(key: bytes, nonce: bytes, msg: bytes, data: st.DataObject) -> None:
    sealed = xchacha.encrypt(key, nonce, msg, b"aad")
    bit = data.draw(st.integers(0, len(sealed) * 8 - 1))
    flipped = bytearray(sealed)
    flipped[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(DecryptionFailed):
        xchacha.decrypt(key, nonce, bytes(flipped), b"aad")
    with pytest.raises(DecryptionFailed):
        xchacha.XChaChaPrefix(key, nonce[:16]).decrypt(nonce[16:], bytes(flipped), b"aad")


def test_wrong_inputs() -> None:
    with pytest.raises(DecryptionFailed):
        xchacha.decrypt(bytes(32), bytes(24), b"short", b"")
    with pytest.raises(DecryptionFailed):
        xchacha.decrypt(bytes(31), bytes(24), bytes(20), b"")
    with pytest.raises(LocalProtocolError):
        xchacha.encrypt(bytes(32), bytes(12), b"", b"")
    with pytest.raises(LocalProtocolError):
        xchacha.encrypt(bytearray(32), bytes(24), b"", b"")  # type: ignore[arg-type]


def test_one_shot_refuses_what_is_not_bytes_as_a_failed_decryption() -> None:
    key, nonce = bytes(range(32)), bytes(range(24))
    sealed = xchacha.encrypt(key, nonce, b"hi", b"ad")
    assert xchacha.decrypt(key, nonce, sealed, b"ad") == b"hi"
    for args in (
        (bytearray(key), nonce, sealed, b"ad"),
        (key, nonce, memoryview(sealed), b"ad"),
        (key, nonce, sealed, None),
    ):
        with pytest.raises(DecryptionFailed):
            xchacha.decrypt(*args)  # type: ignore[arg-type]
    assert xchacha.decrypt(key, nonce, xchacha.encrypt(key, nonce, b"", b""), b"") == b""
