"""Invites and the relay link as the client session uses them.

* :func:`parse_invite` / :func:`new_invite` — invite links (``e2ee.invite``)
  with one-line errors for the user.
* :func:`link_connector` — a ``connect()`` for :class:`client.session.ClientSession`
  that opens a pinned TLS link (``client.link``) to the relay named in the
  invite, optionally recording every byte for :mod:`client.relay_view`.
* policy storage for ``room create --detach`` followed by ``join``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

from client.errors import CliError
from client.home import ensure_home, resolve_home
from client.link import PinMismatch, RelayClosed, RelayLink, RelayUnavailable, connect_relay
from client.relay_view import LinkRecord
from client.secret_file import read_private, write_private
from client.session import Connect, LinkFailed
from e2ee.envelope import Envelope, encode_envelope
from e2ee.errors import RemoteProtocolError
from e2ee.identity import IdentityKey
from e2ee.invite import Invite
from relay.wire.pin import decode_pin

CONNECT_ERRORS = (PinMismatch, RelayUnavailable, LinkFailed, RelayClosed)


def parse_invite(link: str) -> Invite:
    """An invite link, or one clear error line saying what is wrong with it."""
    try:
        return Invite.from_link(link)
    except RemoteProtocolError as exc:
        raise CliError(f"bad invite link: {exc}") from None


def check_invite_text(link: str) -> str:
    parse_invite(link)
    return link.strip()


def new_invite(host: str, port: int, pin_text: str, founder: IdentityKey) -> str:
    """A fresh room on relay ``host:port`` with the relay's printed pin."""
    try:
        pin = decode_pin(pin_text.strip())
    except ValueError:
        raise CliError(
            "bad --pin: expected the 43-character pin printed by 'hushroom relay'"
        ) from None
    try:
        invite = Invite.create(host, port, pin, founder.public, secrets.token_bytes)
        return invite.to_link()
    except Exception as exc:  # LocalProtocolError for an invalid host name
        raise CliError(f"cannot make an invite for {host}:{port}: {exc}") from None


def invite_founder_is(link: str, identity: IdentityKey) -> bool:
    return parse_invite(link).founder_identity == identity.public


class TappedLink:
    """A :class:`~client.link.RelayLink` seen through the session's Link protocol.

    Ends with :class:`~client.session.LinkFailed`; if ``tap`` is given, records
    the bytes sent and received (what the relay sees inside TLS).
    """

    def __init__(self, link: RelayLink, tap: LinkRecord | None = None) -> None:
        self.link = link
        self.tap = tap

    async def send(self, data: bytes) -> None:
        if self.tap is not None:
            self.tap.to_relay += data
        try:
            await self.link.send(data)
        except RelayClosed as exc:
            raise LinkFailed(str(exc)) from None

    async def receive(self) -> list[Envelope]:
        try:
            envelopes = await self.link.receive()
        except RelayClosed as exc:
            raise LinkFailed(str(exc)) from None
        except RemoteProtocolError as exc:
            raise LinkFailed(f"relay sent bytes that do not parse: {exc}") from None
        if self.tap is not None:
            for env in envelopes:
                self.tap.from_relay += encode_envelope(
                    env.type, env.room_tag, env.slot, env.payload
                )
        return envelopes

    async def aclose(self) -> None:
        await self.link.aclose()


def link_connector(invite: Invite, tap: LinkRecord | None = None, timeout: float = 5.0) -> Connect:
    """``connect()`` for the session: a pinned TLS link to the invite's relay."""

    async def connect() -> TappedLink:
        try:
            link = await connect_relay(invite.host, invite.port, invite.relay_pin, timeout=timeout)
        except RelayUnavailable as exc:
            raise LinkFailed(str(exc)) from None
        return TappedLink(link, tap)

    return connect


def describe_connect_error(exc: BaseException) -> str:
    if isinstance(exc, PinMismatch):
        return str(exc)
    return f"cannot reach the relay: {exc}"


def _policy_path(home: str | None, link: str) -> Path:
    digest = hashlib.sha256(parse_invite(link).room_secret).hexdigest()[:16]
    return resolve_home(home) / "rooms" / f"{digest}.json"


def save_policy(home: str | None, link: str, policy: str) -> None:
    path = _policy_path(home, link)
    ensure_home(path.parent)
    write_private(path, json.dumps({"policy": policy}).encode())


def saved_policy(home: str | None, link: str) -> str:
    path = _policy_path(home, link)
    if not path.exists():
        return "open"
    data: Any = json.loads(read_private(path))
    policy = data.get("policy") if isinstance(data, dict) else None
    return policy if policy in ("open", "knock") else "open"
