"""Invites and the pinned relay link as the client uses them (real TLS on loopback)."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

import pytest
import trio

from client.errors import CliError
from client.inproc_relay import start_relay
from client.link import PinMismatch
from client.relay_connect import link_connector, new_invite, parse_invite
from client.relay_view import RelayObserver
from client.session import LinkFailed
from e2ee.envelope import EnvelopeType, encode_envelope
from e2ee.identity import IdentityKey
from relay.wire.pin import encode_pin


def founder() -> IdentityKey:
    return IdentityKey.generate(secrets.token_bytes)


def test_bad_invites_are_one_clear_line() -> None:
    with pytest.raises(CliError, match="bad invite link"):
        parse_invite("https://example.org/")
    link = new_invite("127.0.0.1", 7443, encode_pin(bytes(32)), founder())
    broken = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    with pytest.raises(CliError, match="mistyped"):
        parse_invite(broken)


def test_bad_pin_is_one_clear_line() -> None:
    with pytest.raises(CliError, match="bad --pin"):
        new_invite("127.0.0.1", 7443, "not-a-pin", founder())


async def test_wrong_pin_is_refused_and_right_pin_is_tapped() -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            relay = await start_relay(nursery)
            wrong = parse_invite(
                new_invite(relay.host, relay.port, encode_pin(bytes(32)), founder())
            )
            with pytest.raises(PinMismatch):
                await link_connector(wrong)()
            observer = RelayObserver()
            right = parse_invite(new_invite(relay.host, relay.port, relay.pin_text, founder()))
            link = await link_connector(right, tap=observer.link("me"))()
            tag = right.secrets().room_tag
            join = encode_envelope(EnvelopeType.JOIN, tag, 0, b"\x00")
            await link.send(join)
            envelopes = await link.receive()
            assert envelopes[0].type == EnvelopeType.WELCOME
            assert bytes(observer.links[0].to_relay) == join
            assert observer.envelopes_to_relay()[0].room_tag == tag
            await link.aclose()
            nursery.cancel_scope.cancel()


async def test_relay_down_is_a_retryable_link_failure() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    invite = parse_invite(new_invite("127.0.0.1", port, encode_pin(bytes(32)), founder()))
    with trio.fail_after(10), pytest.raises(LinkFailed, match="cannot reach"):
        await link_connector(invite)()


def test_relay_view_finds_a_secret_in_clear_and_summarises_envelopes() -> None:
    observer = RelayObserver()
    rec = observer.link("a")
    tag = bytes(range(16))
    rec.to_relay += encode_envelope(EnvelopeType.JOIN, tag, 0, b"\x01")
    rec.to_relay += encode_envelope(EnvelopeType.MEDIA, tag, 0, b"x" * 40)
    rec.from_relay += encode_envelope(EnvelopeType.MEDIA, tag, 0, b"hello Mallory Name")
    leaks = observer.leaks({"name": b"Mallory Name", "key": bytes(32)})
    assert [(leak.what, leak.link) for leak in leaks] == [("name", "a")]
    lines = observer.summary({"name": b"Mallory Name"}, [b"x" * 40])
    text = "\n".join(lines)
    assert tag.hex() in text and "MEDIA" in text and "JOIN" in text
    assert "1 found" in text  # the name
    assert "1 found in clear" in text  # the 'Opus packet' sent unencrypted


async def test_connector_tries_addresses_in_order_and_moves_on_after_a_lost_link(
    tmp_path: Path,
) -> None:
    """Spec §6.2.1: preferred first; a lost link resumes at the next address, wrapping."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = s.getsockname()[1]
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            b = await start_relay(nursery, state_dir=tmp_path)
            c = await start_relay(nursery, state_dir=tmp_path)  # same key: same pin
            connect = link_connector(
                parse_invite(
                    new_invite(
                        "127.0.0.1",
                        down,
                        b.pin_text,
                        founder(),
                        (("127.0.0.1", b.port), ("127.0.0.1", c.port)),
                    )
                )
            )
            used = []
            for _ in range(4):
                link = await connect()
                used.append(connect.current)
                await link.aclose()
            assert used == [("127.0.0.1", p) for p in (b.port, c.port, b.port, c.port)]
            await b.stop()
            await c.stop()
            pattern = ".*".join(f"127.0.0.1:{p}:" for p in (down, b.port, c.port))
            with pytest.raises(LinkFailed, match=pattern):
                await connect()  # after c's link: from the first again, every address tried
            nursery.cancel_scope.cancel()


async def test_a_wrong_key_at_the_preferred_address_is_an_error_not_a_fallback(
    tmp_path: Path,
) -> None:
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            impostor = await start_relay(nursery)
            real = await start_relay(nursery, state_dir=tmp_path)
            invite = new_invite(
                "127.0.0.1", impostor.port, real.pin_text, founder(), (("127.0.0.1", real.port),)
            )
            connect = link_connector(parse_invite(invite))
            with pytest.raises(PinMismatch, match=f"127.0.0.1:{impostor.port}"):
                await connect()
            assert connect.current is None
            assert sum(s.connections_total for s in real.stats) == 0
            nursery.cancel_scope.cancel()
