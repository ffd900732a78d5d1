"""A joiner believes only a welcome or denial that verifies back to the invite (spec §13.2, §13.4).

The attacker holds the invite (room secret) but was never made a moderator by a
chain from the founder: an unapproved knocker, a kicked or banned member.  It
runs a complete room of its own on the same room tag, admission key and room id,
with itself as "founder", and answers every join attempt it sees.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from e2ee import canonical
from e2ee.envelope import Envelope, EnvelopeType
from e2ee.errors import ErrorCode, RemoteProtocolError
from e2ee.identity import IdentityKey
from e2ee.room import RoomSession, admission, events, seal
from e2ee.room.authority import (
    MAX_AUTHORITY_ENTRIES,
    MAX_PROOF_COMMITS,
    Authority,
    parse_entries,
    verify_proof,
)
from e2ee.room.commit import decode_commit, sign_commit, sign_snapshot, snapshot_body
from e2ee.room.roster import Policy, Role, RosterState, op_add, op_policy, op_role

from .admission_util import founded_room, of
from .harness import Invite, Link, Router, new_identity, rng_for

SECRET = bytes([7]) * 32


def fake_room(r: Router, invite: Invite, policy: str) -> tuple[IdentityKey, Link]:
    """An invite holder's own room on the same tag, keys and id, itself as its founder."""
    attacker = new_identity(666)
    its_invite = replace(invite, founder=attacker.public)
    fake = r.attach(RoomSession.create(attacker, its_invite, "Mod", policy, rng_for(666), 0.0))
    r.pump()
    return attacker, fake


def joiner(r: Router, invite: Invite, seed: int = 20) -> Link:
    link = r.attach(RoomSession.join(new_identity(seed), invite, "Joe", rng_for(seed), r.now))
    r.pump()
    return link


def forged_verdict(
    attacker: IdentityKey, invite: Invite, victim: RoomSession, kind: admission.SealedType
) -> bytes:
    """A welcome or denial sealed to the victim's session key, signed by a non-moderator.

    The worst case for the joiner: the forger knows the session key (which
    the protocol no longer lets it learn) and signs a perfectly formed verdict.
    """
    session = victim._session_key.public
    if kind is admission.SealedType.DENIAL:
        pt = admission.encode_denial(attacker, invite.room_id, session, ())
    else:
        state = RosterState(Policy.OPEN)
        genesis = sign_commit(
            attacker,
            invite.room_id,
            0,
            bytes(32),
            [
                op_policy(Policy.OPEN),
                op_add(attacker.public, bytes(32), "Mod", Role.MODERATOR),
                op_add(victim.me, session, "Joe", Role.LISTENER),
            ],
            False,
            key_confirm=bytes(32),
        )
        state.apply_ops(list(genesis.ops))
        body = snapshot_body(invite.room_id, 0, genesis.head, state)
        snap = sign_snapshot(attacker, invite.room_id, body, [[attacker.public, []]])
        pt = admission.encode_welcome(attacker, invite.room_id, session, snap, bytes(32), [])
    return seal.seal_to(session, invite.room_id, pt, rng_for(9))


def deliver(link: Link, invite: Invite, payload: bytes, r: Router) -> None:
    link.session.envelope_received(
        Envelope(EnvelopeType.UNICAST, invite.room_tag, 99, payload), r.now
    )
    link.events.extend(iter(link.session.next_event, None))


# -- item 1 through the room ---------------------------------------------------


def test_an_invite_holders_fake_room_cannot_admit_the_joiner() -> None:
    r, invite, mod = founded_room("open", SECRET)
    _, fake = fake_room(r, invite, "open")  # attached first: sees every knock first
    r.links.remove(fake)
    r.links.insert(0, fake)
    j = joiner(r, invite)
    assert j.session.state == "member"
    assert j.session.head == mod.session.head, "admitted to the real room"
    assert j.session.me in mod.session.members
    assert j.session.me not in fake.session.members, "the fake room never learnt who knocked"
    assert not of(fake, events.MemberJoined)


def test_a_forged_welcome_is_rejected_and_the_genuine_one_still_admits() -> None:
    r, invite, mod = founded_room("knock", SECRET)
    attacker = new_identity(666)
    j = joiner(r, invite)
    assert j.session.state == "joining"
    deliver(j, invite, forged_verdict(attacker, invite, j.session, admission.SealedType.WELCOME), r)
    assert j.session.state == "joining"
    assert j.session.counters["rejected_verdict"] == 1
    assert not of(j, events.Admitted)
    mod.session.approve(of(mod, events.JoinRequested)[0].request)
    r.pump()
    assert j.session.state == "member" and j.session.head == mod.session.head


def test_a_forged_denial_is_ignored_and_the_attempt_goes_on() -> None:
    r, invite, mod = founded_room("knock", SECRET)
    attacker = new_identity(666)
    j = joiner(r, invite)
    deliver(j, invite, forged_verdict(attacker, invite, j.session, admission.SealedType.DENIAL), r)
    assert j.session.state == "joining" and not of(j, events.Denied)
    assert j.session.counters["rejected_verdict"] == 1
    r.advance(j.session.config.join_retry + 0.1)  # still knocking
    mod.session.approve(of(mod, events.JoinRequested)[0].request)
    r.pump()
    assert j.session.state == "member"


def test_a_fake_room_cannot_deny_the_joiner() -> None:
    r, invite, mod = founded_room("knock", SECRET)
    _, fake = fake_room(r, invite, "knock")
    j = joiner(r, invite)
    assert not of(fake, events.JoinRequested), "the joiner never sent it its request"
    assert j.session.counters["unauthorized"] >= 1, "its offer was refused"
    mod.session.deny(of(mod, events.JoinRequested)[0].request)
    r.pump()
    assert j.session.state == "denied" and of(j, events.Denied), "a genuine denial counts"


def test_a_moderator_made_by_two_transfers_admits_with_a_two_commit_proof() -> None:
    r, invite, mod = founded_room("open", SECRET)
    a, b = joiner(r, invite, 30), joiner(r, invite, 31)
    mod.session.transfer_moderator(a.session.me)
    r.pump()
    a.session.transfer_moderator(b.session.me)
    r.pump()
    assert mod.session.role is Role.SPEAKER and a.session.role is Role.SPEAKER
    proof = b.session._authority.proof_of(b.session.me)
    assert proof is not None and len(proof) == 2
    verify_proof(invite.founder, invite.room_id, b.session.me, proof)
    mod.session.leave()
    a.session.leave()
    r.pump()
    r.advance(3.0)
    j = joiner(r, invite, 40)
    assert j.session.state == "member" and j.session.head == b.session.head
    assert set(j.session.members) == {b.session.me, j.session.me}
    # the joiner now holds b's proof too, and would extend it if b promoted it
    assert j.session._authority.proof_of(b.session.me) == proof


# -- proofs -------------------------------------------------------------------


def _chain(n: int, room_id: bytes) -> tuple[list[IdentityKey], list[bytes]]:
    """founder -> k_1 -> ... -> k_n, one ROLE(k_i, moderator) commit each."""
    ids = [new_identity(500 + i) for i in range(n + 1)]
    proof = []
    for i in range(n):
        c = sign_commit(
            ids[i],
            room_id,
            i + 1,
            bytes(32),
            [op_role(ids[i + 1].public, Role.MODERATOR)],
            False,
            key_confirm=bytes(32),
        )
        proof.append(c.encode())
    return ids, proof


def test_proof_at_its_length_bound_verifies_and_one_more_is_refused() -> None:
    room_id = bytes(32)
    ids, proof = _chain(MAX_PROOF_COMMITS + 1, room_id)
    verify_proof(ids[0].public, room_id, ids[MAX_PROOF_COMMITS].public, proof[:MAX_PROOF_COMMITS])
    with pytest.raises(RemoteProtocolError) as exc:
        verify_proof(ids[0].public, room_id, ids[-1].public, proof)
    assert exc.value.code is ErrorCode.TOO_LARGE


def test_proof_must_start_at_the_founder_and_chain_link_by_link() -> None:
    room_id = bytes(32)
    ids, proof = _chain(3, room_id)
    founder, target = ids[0].public, ids[3].public
    for bad in (proof[1:], [proof[0], proof[2]], proof[::-1], []):
        with pytest.raises(RemoteProtocolError) as exc:
            verify_proof(founder, room_id, target, bad)
        assert exc.value.code is ErrorCode.UNAUTHORIZED
    with pytest.raises(RemoteProtocolError):
        verify_proof(founder, bytes([1]) * 32, target, proof)  # another room's commits


def test_authority_drops_demoted_moderators_and_stops_at_the_bound() -> None:
    room_id = bytes(32)
    ids, proof = _chain(MAX_PROOF_COMMITS + 1, room_id)
    auth = Authority(ids[0].public, room_id)
    for raw in proof:
        auth.observe(decode_commit(raw, room_id))
    assert auth.proof_of(ids[MAX_PROOF_COMMITS].public) == tuple(proof[:MAX_PROOF_COMMITS])
    assert auth.proof_of(ids[-1].public) is None, "past the bound no proof is built"
    demote = sign_commit(
        ids[0],
        room_id,
        99,
        bytes(32),
        [op_role(ids[1].public, Role.SPEAKER)],
        False,
        key_confirm=bytes(32),
    )
    auth.observe(demote)
    assert auth.proof_of(ids[1].public) is None
    assert auth.proof_of(ids[0].public) == (), "the founder needs no proof"


def test_snapshot_authority_entries_are_bounded() -> None:
    entries = [[bytes([i]) * 32, []] for i in range(MAX_AUTHORITY_ENTRIES)]
    assert len(parse_entries(entries)) == MAX_AUTHORITY_ENTRIES
    with pytest.raises(RemoteProtocolError):
        parse_entries([*entries, [bytes([255]) * 32, []]])
    with pytest.raises(RemoteProtocolError):
        parse_entries([entries[0], entries[0]])
    assert canonical.encode(entries)  # the shape is canonical-encodable
