"""Invites and the relay link as the client session uses them.

* :func:`parse_invite` / :func:`new_invite` — invite links (``e2ee.invite``)
  with one-line errors for the user.
* :func:`link_connector` — a ``connect()`` for :class:`client.session.ClientSession`
  that opens a pinned TLS link (``client.link``) to one of the relay addresses
  named in the invite, failing over between them (spec §6.2.1), optionally
  recording every byte for :mod:`client.relay_view`.
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
from client.session import LinkFailed
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


def new_invite(
    host: str,
    port: int,
    pin_text: str,
    founder: IdentityKey,
    alternates: tuple[tuple[str, int], ...] = (),
) -> str:
    """A fresh room on relay ``host:port`` with the relay's printed pin.

    ``alternates`` are further addresses of the same relay key (spec §6.2).
    """
    try:
        pin = decode_pin(pin_text.strip())
    except ValueError:
        raise CliError(
            "bad --pin: expected the 43-character pin printed by 'hushroom relay'"
        ) from None
    try:
        invite = Invite.create(host, port, pin, founder.public, secrets.token_bytes, alternates)
        return invite.to_link()
    except Exception as exc:  # LocalProtocolError for an invalid host name or list
        named = ",".join(f"{h}:{p}" for h, p in ((host, port), *alternates))
        raise CliError(f"cannot make an invite for {named}: {exc}") from None


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


class RelayConnector:
    """``connect()`` for the session over the invite's relay addresses (spec §6.2.1).

    Each call tries the addresses in order, beginning with the preferred one,
    or, after a link that was up, with the address after the one that link
    used (so a dead node is tried last); the call raises
    :class:`~client.session.LinkFailed` only when every address failed, and
    the session's back-off then applies.  A :class:`~client.link.PinMismatch`
    ends the call at once: a wrong key is never answered with another address.
    """

    def __init__(self, invite: Invite, tap: LinkRecord | None = None, timeout: float = 5.0):
        self.relays = invite.relays
        self._pin = invite.relay_pin
        self._tap = tap
        self._timeout = timeout
        self._first = 0
        self.current: tuple[str, int] | None = None
        """The address of the last link this connector opened."""

    async def __call__(self) -> TappedLink:
        failures: list[str] = []
        count = len(self.relays)
        for step in range(count):
            index = (self._first + step) % count
            host, port = self.relays[index]
            try:
                link = await connect_relay(host, port, self._pin, timeout=self._timeout)
            except RelayUnavailable as exc:
                failures.append(str(exc))
                continue
            self._first = (index + 1) % count  # the next call follows a lost link
            self.current = (host, port)
            return TappedLink(link, self._tap)
        self._first = 0  # every address failed: start again from the preferred one
        raise LinkFailed("; ".join(failures))


def link_connector(
    invite: Invite, tap: LinkRecord | None = None, timeout: float = 5.0
) -> RelayConnector:
    """``connect()`` for the session: a pinned TLS link to one of the invite's relays."""
    return RelayConnector(invite, tap, timeout)


async def probe_relays(invite: Invite, timeout: float = 5.0) -> list[str]:
    """Open and close a link to every address of the invite (spec §6.2.1).

    Returns why each unreachable address failed; raises
    :class:`~client.link.PinMismatch` for a wrong key at any address and
    :class:`~client.session.LinkFailed` when no address answers.
    """
    down: list[str] = []
    for host, port in invite.relays:
        try:
            link = await connect_relay(host, port, invite.relay_pin, timeout=timeout)
        except RelayUnavailable as exc:
            down.append(str(exc))
            continue
        await link.aclose()
    if len(down) == len(invite.relays):
        raise LinkFailed("; ".join(down))
    return down


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
