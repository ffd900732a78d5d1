"""Pairwise channels are set up once per pair of sessions: no (key, nonce) reuse (spec §15.3)."""

from __future__ import annotations

from collections import Counter

import pytest

from e2ee import pairwise
from e2ee.room import Role, RoomSession, events
from e2ee.room.roster import RemoveReason, op_add, op_remove, op_role

from .harness import Link, Router, make_invite, new_identity, rng_for


@pytest.fixture
def sealed(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[bytes, bytes]]:
    """Every (message key, nonce) the real pairwise sealing path uses."""
    seen: Counter[tuple[bytes, bytes]] = Counter()
    real = pairwise._seal

    def recording(message_key: bytes, counter: int, plaintext: bytes, aad: bytes) -> bytes:
        seen[(message_key, pairwise._nonce(counter))] += 1
        return real(message_key, counter, plaintext, aad)

    monkeypatch.setattr(pairwise, "_seal", recording)
    return seen


def _room(n: int) -> tuple[Router, Link, list[Link]]:
    founder = new_identity(50)
    invite = make_invite(b"p" * 32, founder.public)
    r = Router()
    mod = r.attach(RoomSession.create(founder, invite, "M", "open", rng_for(50), 0.0))
    r.pump()
    ls = [
        r.attach(RoomSession.join(new_identity(51 + i), invite, f"L{i}", rng_for(51 + i), 0.0))
        for i in range(n)
    ]
    r.pump()
    return r, mod, ls


def test_no_key_nonce_pair_repeats_across_role_changes_reconnects_restarts_and_readds(
    sealed: Counter[tuple[bytes, bytes]],
) -> None:
    r, mod, ls = _room(6)
    m = mod.session
    a, b, c, d, e, f = ls
    m._moderator_action([op_role(a.session.me, Role.MODERATOR)])  # promotion: a pairs with all
    r.pump()
    m.kick(f.session.me)  # a re-key over every pair channel
    r.pump()
    m.move_to_audience(a.session.me)  # demotion
    r.pump()
    m._moderator_action([op_role(a.session.me, Role.MODERATOR)])  # promoted again
    r.pump()
    r.drop_link(b)  # one member reconnects
    r.pump()
    r.reconnect(b)
    r.pump()
    r.restart(slot_base=2)  # the relay restarts; every link comes back
    for x in [mod, *ls[:5]]:
        r.reconnect(x)
        r.pump()
    a.session.kick(e.session.me)  # the promoted moderator re-keys too
    r.pump()
    # c's current session is removed and then admitted again with the same session key
    c_key = m.roster.members[c.session.me].session_key  # type: ignore[union-attr]
    m._moderator_action([op_remove(c.session.me, RemoveReason.LEFT)])
    r.pump()
    m._moderator_action([op_add(c.session.me, c_key, "L2", Role.LISTENER)])
    r.pump()
    assert c.slot is not None
    m._slots.set(c.session.me, c.slot)  # the moderator learns its slot again
    m.kick(d.session.me)  # a re-key reaches c's re-added session again
    r.pump()
    r.advance(3.0)  # syncs and retries, if any
    assert sum(sealed.values()) >= 15
    reused = [k for k, n in sealed.items() if n > 1]
    assert not reused, f"{len(reused)} (key, nonce) pairs were used twice"
    assert [x.session.epoch for x in (mod, a, b)] == [m.epoch] * 3
    alerts = [ev for x in (mod, a, b) for ev in x.events if isinstance(ev, events.SecurityAlert)]
    assert not alerts, alerts
