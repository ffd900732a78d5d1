"""A room outlives its last moderator's client: the deputy takes the chair (spec §12.2).

Everything goes through the real relay router (tests/room/harness.py): the
moderator names a deputy in the commits it makes anyway; when the moderator's
link dies and its absence timer runs out, the deputy commits ``ROLE(self, 2)``
signed by itself, every member accepts exactly that from exactly the deputy,
and the new chair admits, re-keys and proves its authority back to the founder.
"""

from __future__ import annotations

import pytest

from e2ee.envelope import Envelope, EnvelopeType
from e2ee.errors import LocalProtocolError
from e2ee.room import Role, RoomConfig, RoomSession, seal
from e2ee.room.authority import verify_proof
from e2ee.room.commit import key_confirmation, sign_commit
from e2ee.room.events import ChairTaken, KeysRotated, MemberLeft, SecurityAlert
from e2ee.room.roster import RemoveReason, op_role
from e2ee.room.succession import take_over_ops

from .harness import Link, Router, make_invite, new_identity, rng_for

TIMEOUT = 6.0
CONFIG = RoomConfig(absent_timeout=TIMEOUT)
SECRET = b"s" * 32


def room(n: int) -> tuple[Router, Link, list[Link]]:
    """A founder and ``n`` listeners, all settled."""
    founder = new_identity(1)
    invite = make_invite(SECRET, founder.public)
    r = Router()
    mod = r.attach(RoomSession.create(founder, invite, "Mod", "open", rng_for(1), 0.0, CONFIG))
    r.pump()
    members = []
    for i in range(n):
        s = RoomSession.join(new_identity(10 + i), invite, f"L{i}", rng_for(10 + i), 0.0, CONFIG)
        members.append(r.attach(s))
        r.pump()
    return r, mod, members


def deputy_of(mod: Link, members: list[Link]) -> Link:
    deputy = mod.session.roster.deputy  # type: ignore[union-attr]
    return next(x for x in members if x.session.me == deputy)


def heads(links: list[Link]) -> set[tuple[int, bytes]]:
    return {(x.session.epoch, x.session.head) for x in links}


def alerts(links: list[Link], kind: str) -> list[SecurityAlert]:
    return [e for x in links for e in x.events if isinstance(e, SecurityAlert) and e.kind == kind]


def self_promotion(link: Link) -> bytes:
    """A commit ``ROLE(self, 2)`` signed by ``link``'s member, sealed like a chair's."""
    s = link.session
    commit = sign_commit(
        s._identity,
        s.room_id,
        s.epoch + 1,
        s.head,
        [op_role(s.me, Role.MODERATOR)],
        False,
        key_confirm=key_confirmation(s._keys.epoch_keys[s.epoch], b""),
    )
    key = s._keys.control[s.epoch]
    return seal.seal_epoch(seal.Kind.COMMIT, key, s.room_id, s.epoch, commit.encode(), s._rng)


def test_the_first_member_is_named_deputy_in_the_next_commit_later_joins_cost_none() -> None:
    _, mod, members = room(2)
    first = members[0]
    # ADD(first); DEPUTY(first), which it applies itself; ADD(second), no naming
    assert mod.session.epoch == 3
    for x in [mod, *members]:
        assert x.session.roster.deputy == first.session.me  # type: ignore[union-attr]
    assert first.session._authority._deputy is not None, "it keeps the naming commit"
    assert first.session.delivery_class == "stage", "the deputy must hear PEER_LEFT"
    assert members[1].session.delivery_class == "audience"


def test_the_deputy_takes_the_chair_after_the_moderator_vanished_and_admits_and_rekeys() -> None:
    r, mod, members = room(2)
    deputy = deputy_of(mod, members)
    other = next(x for x in members if x is not deputy)
    epoch = deputy.session.epoch
    r.drop_link(mod)  # SIGKILL: no LEAVE
    r.pump()
    r.advance(TIMEOUT - 0.1)
    assert deputy.session.role is Role.LISTENER and deputy.session.epoch == epoch
    r.advance(0.2)
    rest = [deputy, other]
    for x in rest:
        assert x.session.members[deputy.session.me].role is Role.MODERATOR
        assert [e.member for e in x.events if isinstance(e, ChairTaken)] == [deputy.session.me]
    assert deputy.session.epoch == epoch + 1
    # the vanished founder goes by the absence rule, with a re-key
    r.advance(TIMEOUT + 0.1)
    assert all(mod.session.me not in x.session.members for x in rest)
    assert len(heads(rest)) == 1 and deputy.session.epoch == epoch + 2
    assert any(isinstance(e, KeysRotated) and e.epoch == epoch + 2 for e in other.events)
    # a knocker is admitted by the new chair; its welcome verifies back to the founder
    invite = make_invite(SECRET, mod.session.me)
    joiner = r.attach(RoomSession.join(new_identity(50), invite, "New", rng_for(50), r.now, CONFIG))
    r.pump()
    assert joiner.session.state == "member"
    proof = joiner.session._authority.proof_of(deputy.session.me)
    assert proof is not None and len(proof) == 2  # the naming commit, the take-over
    verify_proof(mod.session.me, joiner.session.room_id, deputy.session.me, proof)
    # the new chair kicks it: a re-key every remaining member follows
    deputy.session.kick(joiner.session.me)
    r.pump()
    assert joiner.session.state == "removed"
    assert len(heads(rest)) == 1 and deputy.session.epoch == epoch + 4
    assert not alerts([*rest, joiner], "split_view")


def test_a_self_promotion_by_a_member_that_is_not_the_deputy_is_rejected_by_everyone() -> None:
    r, mod, members = room(3)
    deputy = deputy_of(mod, members)
    forger = next(x for x in members if x is not deputy)
    before = heads([mod, *members])
    payload = self_promotion(forger)
    forger.session._send(EnvelopeType.CONTROL, 0, payload)
    forger.session._send(EnvelopeType.UNICAST, forger.slot, payload)  # type: ignore[arg-type]
    r.pump()
    for x in [mod, *members]:
        assert x.session.counters["unauthorized"] == 1
        assert x.session.members[forger.session.me].role is Role.LISTENER
    assert heads([mod, *members]) == before


def test_a_replayed_deputy_commit_changes_nothing() -> None:
    r, mod, members = room(2)
    first = members[0]
    commits: list[Envelope] = []
    deliver = members[1].session.envelope_received

    def record(env: Envelope, now: float) -> None:
        if env.type is EnvelopeType.CONTROL and env.slot == mod.slot:
            commits.append(env)
        deliver(env, now)

    members[1].session.envelope_received = record  # type: ignore[method-assign]
    # the second listener goes on stage: the deputy moves to it, in the same commit
    mod.session.invite_to_speak(members[1].session.me)
    r.pump()
    members[1].session.accept_invitation()
    r.pump()
    r.advance(1.0)
    assert mod.session.roster.deputy == members[1].session.me  # type: ignore[union-attr]
    epoch, head = members[1].session.epoch, members[1].session.head
    # the relay replays every commit it saw, the one that named the first listener too
    for env in commits:
        for x in (first, members[1]):
            x.inbox.append(env)
    r.pump()
    for x in (mod, *members):
        assert x.session.roster.deputy == members[1].session.me  # type: ignore[union-attr]
        assert (x.session.epoch, x.session.head) == (epoch, head)


def test_the_moderator_returning_after_the_take_over_finds_one_chain() -> None:
    r, mod, members = room(2)
    deputy = deputy_of(mod, members)
    r.drop_link(mod)
    r.pump()
    r.advance(2 * TIMEOUT + 0.2)  # the take-over, then the founder's removal
    assert all(mod.session.me not in x.session.members for x in members)
    # the old client's link comes back: whatever it holds is a prefix of the one chain
    r.reconnect(mod)
    r.pump()
    r.advance(5.0)
    assert len(heads(members)) == 1
    assert members[0].session._chain.heads.get(mod.session.epoch) == mod.session.head
    # the founder joins again, admitted by the new chair as a known member
    invite = make_invite(SECRET, mod.session.me)
    again = r.attach(RoomSession.join(mod.session._identity, invite, "Mod", rng_for(2), r.now))
    r.pump()
    r.advance(5.0)
    assert again.session.state == "member"
    assert again.session.role is Role.LISTENER
    assert len(heads([again, *members])) == 1
    assert deputy.session.role is Role.MODERATOR
    assert not alerts([mod, again, *members], "split_view")


def test_the_last_moderator_leaving_without_a_moderator_hands_the_chair_to_the_deputy() -> None:
    r, mod, members = room(2)
    deputy = deputy_of(mod, members)
    with pytest.raises(LocalProtocolError):
        mod.session.leave()  # the last moderator: not by accident
    mod.session.leave(to_deputy=True)
    r.pump()
    assert deputy.session.role is Role.MODERATOR, "a signed LEAVE needs no absence timeout"
    r.advance(CONFIG.leave_debounce + 0.1)
    for x in members:
        assert mod.session.me not in x.session.members
        left = [(e.member, e.reason) for e in x.events if isinstance(e, MemberLeft)]
        assert left == [(mod.session.me, RemoveReason.LEFT)]
    assert len(heads(members)) == 1


def test_a_take_over_that_loses_a_race_to_a_new_deputy_is_not_sent_again() -> None:
    r, mod, members = room(2)
    deputy = deputy_of(mod, members)
    other = next(x for x in members if x is not deputy)
    # the moderator puts the other listener on stage (naming it deputy) while the
    # deputy, told by a lying relay that the moderator is gone, takes the chair
    mod.session._moderator_action([op_role(other.session.me, Role.SPEAKER)])
    deputy.session._chair.queue[:] = take_over_ops(deputy.session.me)
    deputy.session._flush_commit()
    r.pump()
    assert mod.session.roster.deputy == other.session.me  # type: ignore[union-attr]
    assert deputy.session._chair.inflight is None and not deputy.session._chair.queue
    for x in (mod, *members):
        assert x.session.members[deputy.session.me].role is Role.LISTENER
        assert x.session.counters["unauthorized"] == 0
    assert len(heads([mod, *members])) == 1
