"""Sync replies are bounded in size and paced per member (spec §16.4, §16.7)."""

from __future__ import annotations

from e2ee.envelope import Envelope, EnvelopeDecoder, EnvelopeType
from e2ee.room import RoomSession, seal
from e2ee.room.control import ControlType, sign_control
from e2ee.room.roster import Policy, op_policy
from e2ee.room.session import RoomConfig
from e2ee.room.sync_pacer import MAX_SYNC_BYTES, MAX_SYNC_COMMITS, SNAPSHOT_INTERVAL, SYNC_INTERVAL

from .harness import Link, Router, make_invite, new_identity, rng_for


def room_with_history(commits: int) -> tuple[Router, Link, Link]:
    founder = new_identity(80)
    invite = make_invite(b"s" * 32, founder.public)
    r = Router()
    # superseded keys stay within their grace for the whole test: the requests
    # below are sealed under old epochs' keys, as a member that is behind seals them
    config = RoomConfig(key_grace=2 * SNAPSHOT_INTERVAL)
    mod = r.attach(RoomSession.create(founder, invite, "M", "open", rng_for(80), 0.0, config))
    r.pump()
    # the first member is named deputy by a commit of its own right after its admission,
    # which earns it a sync (spec §12.2); the member under test is the second
    r.attach(RoomSession.join(new_identity(82), invite, "D", rng_for(82), 0.0))
    r.pump()
    member = r.attach(RoomSession.join(new_identity(81), invite, "A", rng_for(81), 0.0))
    r.pump()
    for i in range(commits):
        mod.session._moderator_action([op_policy(Policy.KNOCK if i % 2 == 0 else Policy.OPEN)])
        r.pump()
    assert member.session.epoch == mod.session.epoch
    return r, mod, member


def sync_request(s: RoomSession, claimed_epoch: int, head: bytes, key: bytes) -> bytes:
    """A validly signed SYNC_REQUEST from member ``s`` at ``claimed_epoch``, sealed under
    that epoch's control ``key`` (spec §16.4: a request is believed as far as its seal)."""
    seq = s._control_out.seq
    s._control_out.seq += 1
    signed = sign_control(
        s._identity,
        s._session_key.public,
        s.room_id,
        ControlType.SYNC_REQUEST,
        seq,
        claimed_epoch,
        head,
        [],
    )
    return seal.seal_epoch(seal.Kind.CONTROL, key, s.room_id, claimed_epoch, signed, s._rng)


def replies(mod: Link, member: Link, payload: bytes, now: float) -> list[bytes]:
    """Feed one request to the moderator; the payloads it sends back to the member."""
    m = mod.session
    assert member.slot is not None
    m.envelope_received(Envelope(EnvelopeType.UNICAST, m.room_tag, member.slot, payload), now)
    return [
        e.payload
        for e in EnvelopeDecoder().feed(m.data_to_send())
        if e.type is EnvelopeType.UNICAST and e.slot == member.slot
    ]


def test_claiming_epoch_zero_repeatedly_gets_one_bounded_reply_per_interval() -> None:
    _, mod, member = room_with_history(100)
    head0 = mod.session._chain.heads[0]
    sent_in = sent_out = 0
    for i in range(20):  # 20 requests within one second
        req = sync_request(member.session, 0, head0, mod.session._keys.control[0])
        sent_in += len(req)
        sent_out += sum(len(p) for p in replies(mod, member, req, i * 0.05))
    assert mod.session.counters["sync_deferred"] == 19
    assert sent_out <= MAX_SYNC_BYTES + 1024  # one reply, bounded
    # the deferred request is answered once, when the snapshot interval ends
    assert mod.session.get_timer() is not None
    mod.session.handle_timer(SNAPSHOT_INTERVAL - 0.01)
    late = [e for e in EnvelopeDecoder().feed(mod.session.data_to_send())]
    assert late == []
    mod.session.handle_timer(SNAPSHOT_INTERVAL)
    late = [
        e
        for e in EnvelopeDecoder().feed(mod.session.data_to_send())
        if e.type is EnvelopeType.UNICAST and e.slot == member.slot
    ]
    assert len(late) == 1
    assert sent_in > 0 and sent_out + len(late[0].payload) < 10 * sent_in


def test_sync_reply_at_its_commit_bound_and_a_snapshot_beyond_it() -> None:
    _, mod, member = room_with_history(MAX_SYNC_COMMITS + 10)
    m = mod.session
    behind = m.epoch - MAX_SYNC_COMMITS
    keys = m._keys.control
    req = sync_request(member.session, behind, m._chain.heads[behind], keys[behind])
    at_bound = replies(mod, member, req, 0.0)
    assert len(at_bound) == 1
    assert len(m._chair.log_since(m.epoch, behind) or []) == MAX_SYNC_COMMITS
    beyond = behind - 1
    assert m._chair.log_since(m.epoch, beyond) is None  # one more commit: a snapshot instead
    later = SYNC_INTERVAL
    req = sync_request(member.session, beyond, m._chain.heads[beyond], keys[beyond])
    over = replies(mod, member, req, later)
    assert len(over) == 1 and len(over[0]) < len(at_bound[0])  # a two-member snapshot is small
