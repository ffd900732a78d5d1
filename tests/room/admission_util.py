"""Shared set-up of the admission tests (spec §13): one real room and its invite."""

from __future__ import annotations

from e2ee.room import RoomSession

from .harness import Invite, Link, Router, make_invite, new_identity, rng_for


def of(link: Link, kind: type) -> list:  # type: ignore[type-arg]
    """``link``'s events of one type, in order."""
    return [e for e in link.events if isinstance(e, kind)]


def founded_room(policy: str, secret: bytes) -> tuple[Router, Invite, Link]:
    """A room founded by identity 1 under ``secret``: (relay, invite, founder's link)."""
    founder = new_identity(1)
    invite = make_invite(secret, founder.public)
    r = Router()
    mod = r.attach(RoomSession.create(founder, invite, "Mod", policy, rng_for(100), 0.0))
    r.pump()
    return r, invite, mod
