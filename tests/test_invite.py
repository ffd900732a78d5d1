"""Invite links and room-secret derivations (spec §6)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from e2ee import kdf
from e2ee.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from e2ee.invite import Invite, RoomSecrets, normalise_host


def _invite(host: str = "relay.example.org", port: int = 7443) -> Invite:
    return Invite(host, port, os.urandom(32), os.urandom(32), os.urandom(32))


@pytest.mark.parametrize(
    ("host", "shown", "parsed"),
    [
        ("relay.example.org", "relay.example.org:7443", "relay.example.org"),
        ("Relay.EXAMPLE.org", "relay.example.org:7443", "relay.example.org"),
        ("127.0.0.1", "127.0.0.1:7443", "127.0.0.1"),
        ("::1", "[::1]:7443", "::1"),
        ("2001:DB8:0:0::1", "[2001:db8::1]:7443", "2001:db8::1"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example:7443", "xn--bcher-kva.example"),
        ("localhost", "localhost:7443", "localhost"),
    ],
)
def test_round_trip(host: str, shown: str, parsed: str) -> None:
    inv = _invite(host)
    link = inv.to_link()
    assert link.startswith(f"hushroom://{shown}/#")
    back = Invite.from_link(link)
    assert back.host == parsed and back.port == 7443
    assert (back.room_secret, back.relay_pin, back.founder_identity) == (
        inv.room_secret,
        inv.relay_pin,
        inv.founder_identity,
    )
    # copy/paste survivors: surrounding whitespace, upper-case code, no slash
    assert Invite.from_link(f"  {link}\n") == back
    head, code = link.split("#")
    assert Invite.from_link(f"{head}#{code.upper()}") == back
    assert Invite.from_link(f"{head.rstrip('/')}#{code}") == back
    assert code.isalnum() and code.islower()


def test_every_single_character_typo_in_the_code_is_a_checksum_error() -> None:
    link = _invite().to_link()
    head, code = link.split("#")
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    for i in range(len(code)):
        wrong = alphabet[(alphabet.index(code[i]) + 1) % 32]
        with pytest.raises(RemoteProtocolError) as exc:
            Invite.from_link(f"{head}#{code[:i]}{wrong}{code[i + 1 :]}")
        assert exc.value.code == ErrorCode.CHECKSUM, i


@pytest.mark.parametrize("cut", [1, 2, 5, 40])
def test_truncated_codes_are_checksum_errors(cut: int) -> None:
    link = _invite().to_link()
    with pytest.raises(RemoteProtocolError) as exc:
        Invite.from_link(link[:-cut])
    assert exc.value.code == ErrorCode.CHECKSUM


def test_typo_in_host_or_port_is_a_checksum_error() -> None:
    link = _invite().to_link()
    for wrong in (link.replace("7443", "7444"), link.replace("relay.", "relax.")):
        with pytest.raises(RemoteProtocolError) as exc:
            Invite.from_link(wrong)
        assert exc.value.code == ErrorCode.CHECKSUM


@pytest.mark.parametrize(
    ("link", "needle"),
    [
        ("https://relay.example.org:7443/#abc", "hushroom://"),
        ("hushroom://relay.example.org/#abc", "port"),
        ("hushroom://relay.example.org:0/#abc", "1..65535"),
        ("hushroom://relay.example.org:65536/#abc", "1..65535"),
        ("hushroom://relay.example.org:07443/#abc", "port"),
        ("hushroom://fe80::1:7443/#abc", "brackets"),
        ("hushroom://[fe80::1%eth0]:7443/#abc", "IPv6"),
        ("hushroom://[::1:7443/#abc", "unterminated"),
        ("hushroom://bücher.example:7443/#abc", "xn--"),
        ("hushroom://1.2.3:7443/#abc", "IPv4"),
        ("hushroom://256.1.1.1:7443/#abc", "IPv4"),
        ("hushroom://bad_name.org:7443/#abc", "host name"),
        ("hushroom://-x.org:7443/#abc", "host name"),
        ("hushroom://user@relay.example.org:7443/#abc", "user"),
        ("hushroom://relay.example.org:7443/path#abc", "path"),
        ("hushroom://relay.example.org:7443/", "cut off"),
        ("hushroom://relay.example.org:7443/#ab!c", "mistyped"),
    ],
)
def test_bad_links_give_clear_errors(link: str, needle: str) -> None:
    with pytest.raises(RemoteProtocolError) as exc:
        Invite.from_link(link)
    assert needle in str(exc.value)


def test_unsupported_version_after_a_valid_checksum() -> None:
    import base64

    from e2ee import canonical
    from e2ee.invite import _checksum

    payload = canonical.encode([3, bytes(32), bytes(32), bytes(32)])
    auth = "relay.example.org:7443"
    code = base64.b32encode(payload + _checksum(auth, payload)).decode().rstrip("=").lower()
    with pytest.raises(RemoteProtocolError) as exc:
        Invite.from_link(f"hushroom://{auth}/#{code}")
    assert exc.value.code == ErrorCode.UNSUPPORTED_VERSION


@given(st.text(max_size=300))
def test_random_text_raises_only_remote_errors(text: str) -> None:
    try:
        Invite.from_link(text)
    except RemoteProtocolError:
        pass


@given(st.binary(max_size=150))
def test_random_codes_raise_only_remote_errors(raw: bytes) -> None:
    import base64

    code = base64.b32encode(raw).decode().rstrip("=").lower()
    try:
        Invite.from_link(f"hushroom://h.example:1/#{code}")
    except RemoteProtocolError:
        pass


def test_creating_with_a_bad_host_is_a_caller_error() -> None:
    with pytest.raises(LocalProtocolError):
        _invite("bad host").to_link()
    with pytest.raises(LocalProtocolError):
        Invite("h", 1, b"short", bytes(32), bytes(32)).to_link()


def test_derivations() -> None:
    secret, founder = bytes(range(32)), bytes(32)
    s = RoomSecrets.derive(secret, founder)
    assert len(s.room_tag) == 16 and len(s.admission_key) == 32 and len(s.room_id) == 32
    assert s.room_tag == kdf.hkdf(kdf.ROOM_TAG, secret, 16)
    assert s.admission_key == kdf.hkdf(kdf.ADMISSION_KEY, secret, 32)
    assert s.room_id == kdf.hkdf(kdf.ROOM_ID, secret, 32, context=founder)
    assert RoomSecrets.derive(secret, b"\x01" * 32).room_id != s.room_id
    assert secret.hex() not in repr(s)
    inv = Invite("h.example", 1, secret, bytes(32), founder)
    assert inv.secrets() == s and secret.hex() not in repr(inv)


def test_create_draws_the_secret() -> None:
    inv = Invite.create("h.example", 1, bytes(32), bytes(32), lambda n: b"\x07" * n)
    assert inv.room_secret == b"\x07" * 32
    assert normalise_host("H.Example") == "h.example"


@pytest.mark.parametrize(
    "written", ["::ffff:192.0.2.1", "::FFFF:C000:201", "0:0:0:0:0:ffff:c000:0201"]
)
def test_ipv4_mapped_authority_is_rfc5952_dotted(written: str) -> None:
    """Spec §6.2: an IPv4-mapped address is normalised to ``::ffff:a.b.c.d`` (RFC 5952 §5),
    so a link whose checksum covers ``[::ffff:192.0.2.1]:7443`` verifies however it is written."""
    inv = _invite(written)
    assert inv.to_link().startswith("hushroom://[::ffff:192.0.2.1]:7443/#")
    code = inv.to_link().split("#", 1)[1]
    back = Invite.from_link(f"hushroom://[{written}]:7443/#{code}")
    assert back.host == "::ffff:192.0.2.1"


def test_other_embedded_ipv4_forms_stay_hexadecimal() -> None:
    """Spec §6.2: only the IPv4-mapped prefix ::ffff:0:0/96 uses the dotted form."""
    assert _invite("::192.0.2.1").to_link().startswith("hushroom://[::c000:201]:7443/#")
    assert (
        _invite("64:ff9b::192.0.2.1").to_link().startswith("hushroom://[64:ff9b::c000:201]:7443/#")
    )


# -- several relay addresses sharing one pin (spec §6.2) ----------------------------


def _multi(*relays: tuple[str, int]) -> Invite:
    (host, port), *rest = relays
    return Invite.create(host, port, bytes(32), bytes(32), os.urandom, tuple(rest))


def test_several_relay_addresses_round_trip_in_order_of_preference() -> None:
    inv = _multi(("b.example.org", 7443), ("2001:DB8::1", 443), ("192.0.2.7", 7443))
    link = inv.to_link()
    assert link.startswith("hushroom://b.example.org:7443,[2001:db8::1]:443,192.0.2.7:7443/#")
    back = Invite.from_link(link)
    assert back.relays == (("b.example.org", 7443), ("2001:db8::1", 443), ("192.0.2.7", 7443))
    assert back.room_secret == inv.room_secret
    assert back.rotated(bytes(range(32))).relays == back.relays


def test_a_one_address_link_is_unchanged_by_the_address_list() -> None:
    inv = _invite()
    assert inv.alternates == () and inv.relays == (("relay.example.org", 7443),)
    head = "hushroom://relay.example.org:7443/#"
    assert inv.to_link().startswith(head)
    assert Invite.from_link(inv.to_link()).alternates == ()


def test_editing_or_reordering_the_address_list_breaks_the_checksum() -> None:
    link = _multi(("a.example", 1), ("b.example", 2)).to_link()
    head, code = link.split("/#")
    for edited in ("hushroom://b.example:2,a.example:1", "hushroom://a.example:1", head + ",c:3"):
        with pytest.raises(RemoteProtocolError) as exc:
            Invite.from_link(f"{edited}/#{code}")
        assert exc.value.code == ErrorCode.CHECKSUM, edited


def test_four_addresses_are_the_most_an_invite_names() -> None:
    four = [(f"r{i}.example", 7443) for i in range(4)]
    assert Invite.from_link(_multi(*four).to_link()).relays == tuple(four)
    with pytest.raises(LocalProtocolError):
        _multi(*four, ("r4.example", 7443)).to_link()
    head, code = _multi(*four).to_link().split("/#")
    with pytest.raises(RemoteProtocolError, match="1 to 4") as exc:
        Invite.from_link(f"{head},r4.example:7443/#{code}")
    assert exc.value.code == ErrorCode.MALFORMED


@pytest.mark.parametrize(
    ("head", "message"),
    [
        ("a.example:1,,b.example:2", "empty relay address"),
        ("a.example:1,", "empty relay address"),
        (",a.example:1", "empty relay address"),
        ("a.example:1,A.example:1", "same relay address twice"),
        ("a.example:1,b.example", "no relay port"),
    ],
)
def test_a_malformed_address_list_is_refused(head: str, message: str) -> None:
    code = _invite().to_link().split("#")[1]
    with pytest.raises(RemoteProtocolError, match=message) as exc:
        Invite.from_link(f"hushroom://{head}/#{code}")
    assert exc.value.code == ErrorCode.MALFORMED


def test_the_address_list_is_at_most_255_bytes() -> None:
    long = "a" * 60 + "." + "b" * 60  # 121 characters
    two = [(f"{long}{i}", 7443) for i in range(2)]  # 2 * 127 + 1 = 255 bytes
    assert len(Invite.from_link(_multi(*two).to_link()).relays) == 2
    with pytest.raises(LocalProtocolError, match="too long together"):
        _multi((f"{long}10", 7443), *two[1:]).to_link()


def test_relay_list_vectors_parse_as_the_spec_says() -> None:
    """spec/vectors/invite.json: the several-address links and the invalid ones (§6.2)."""
    doc = json.loads((Path(__file__).parent.parent / "spec/vectors/invite.json").read_text())
    for case in doc["relay_lists"]:
        assert Invite.from_link(case["link"]).relays == tuple(map(tuple, case["relays"]))
    for case in doc["invalid_relay_lists"]:
        with pytest.raises(RemoteProtocolError) as exc:
            Invite.from_link(case["link"])
        assert exc.value.code.name == case["error"], case["link"]


_LABELS = st.from_regex(r"[a-z][a-z0-9]{0,9}", fullmatch=True)
_RELAYS = st.lists(
    st.tuples(st.builds("{}.example".format, _LABELS), st.integers(1, 65535)),
    min_size=1,
    max_size=4,
    unique_by=lambda relay: relay,
)


@given(_RELAYS)
def test_any_list_of_up_to_four_addresses_round_trips_in_order(
    relays: list[tuple[str, int]],
) -> None:
    inv = _multi(*relays)
    assert Invite.from_link(inv.to_link()).relays == tuple(relays)


@given(st.lists(st.text(alphabet="ab:1[]", max_size=12), min_size=1, max_size=6))
def test_random_address_lists_raise_only_remote_errors(parts: list[str]) -> None:
    code = _invite().to_link().split("#")[1]
    try:
        Invite.from_link(f"hushroom://{','.join(parts)}/#{code}")
    except RemoteProtocolError:
        pass
