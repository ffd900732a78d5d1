"""The session's collaborators alone, each at its stated bound (spec §15.2, §16.2, §16.4, §16.7)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from e2ee import canonical
from e2ee.envelope import DeliveryClass, Envelope, EnvelopeType, decode_envelope, encode_envelope
from e2ee.errors import DecryptionFailed, ErrorCode, RemoteProtocolError
from e2ee.identity import IdentityKey, SessionKey
from e2ee.room import admission, beacons, commit_apply, inbound, keys, seal
from e2ee.room.absence import AbsenceTimers
from e2ee.room.admission_rate import PER_SLOT_BURST
from e2ee.room.admitting import Admissions
from e2ee.room.announce import Announcements
from e2ee.room.authority import Authority
from e2ee.room.catch_up_keys import CatchUpKeys
from e2ee.room.chain import KEPT_HEADS, Chain, HeadCheck, Placement
from e2ee.room.chair import Chair, fresh_message
from e2ee.room.chair import genesis as genesis_of
from e2ee.room.chunks import ChunkAssembler
from e2ee.room.commit import GENESIS_PARENT, Commit, key_confirmation, sign_commit
from e2ee.room.commit_apply import Refusal
from e2ee.room.commit_flush import CommitFlush
from e2ee.room.control import Control, ControlType, PairType
from e2ee.room.control_in import ControlIn
from e2ee.room.control_out import ControlOut
from e2ee.room.control_send import ControlSender
from e2ee.room.delivery import Delivery
from e2ee.room.epoch_install import EpochInstall
from e2ee.room.epochs import EpochKeys
from e2ee.room.events import AudioReceived, Denied, KeysRotated, SecurityAlert
from e2ee.room.frames_in import FramesIn
from e2ee.room.fresh import MAX_EARLY, FreshSecrets, Outcome
from e2ee.room.heads import Heads, expects_news
from e2ee.room.join_requests import JoinRequests
from e2ee.room.joiner import Joiner, Welcome
from e2ee.room.keys import ControlKeys
from e2ee.room.liveness import QuietWatch
from e2ee.room.media import Media, StaleSender
from e2ee.room.member_tables import MemberTables
from e2ee.room.outbox import Outbox
from e2ee.room.pair_in import open_pair_message
from e2ee.room.pair_out import PairOut
from e2ee.room.pairs import Pairs, Rekey, SnapshotOffer, Sync, parse_pair_message
from e2ee.room.pending import MAX_ENTRIES, MAX_PAYLOAD, PendingPayloads
from e2ee.room.promotion import Promotion
from e2ee.room.roster import (
    Policy,
    RemoveReason,
    Role,
    RosterState,
    op_add,
    op_deputy,
    op_policy,
    op_remove,
    op_role,
)
from e2ee.room.seal import PairChannel
from e2ee.room.session import RoomSession
from e2ee.room.slots import Slots
from e2ee.room.speaker_auth import AuthConfig
from e2ee.room.stale_senders import StaleSenders
from e2ee.room.state import SessionState
from e2ee.room.succession import take_over_ops
from e2ee.room.sync_replies import SyncReplies
from e2ee.room.take_over import TakeOver
from e2ee.room.welcome_in import WelcomeIn

from .harness import Router, make_invite, new_identity, rng_for

ROOM = b"\x01" * 32
SIGNER = IdentityKey(b"\x02" * 32)


def commit_on(epoch: int, parent: bytes, policy: Policy = Policy.OPEN) -> Commit:
    return sign_commit(
        SIGNER, ROOM, epoch, parent, [op_policy(policy)], False, key_confirm=b"\x00" * 32
    )


def test_the_chain_keeps_its_last_4096_heads_and_forgets_older_ones() -> None:
    chain = Chain(sync_after=2.0)
    for e in range(KEPT_HEADS + 1):
        chain.advance(e, e.to_bytes(32, "big"))
    assert len(chain.heads) == KEPT_HEADS
    assert 0 not in chain.heads and KEPT_HEADS in chain.heads


def test_the_chain_places_every_kind_of_commit() -> None:
    chain = Chain(sync_after=2.0)
    c0 = commit_on(0, GENESIS_PARENT)
    assert chain.place(c0) is Placement.NEXT
    chain.advance(0, c0.head)
    c1 = commit_on(1, c0.head)
    rival = commit_on(1, c0.head, Policy.KNOCK)
    assert chain.place(c1) is Placement.NEXT
    chain.advance(1, c1.head)
    assert chain.place(c1) is Placement.KNOWN
    assert chain.place(rival) is Placement.RACE  # another child of a parent we hold
    assert chain.place(commit_on(1, b"\x09" * 32)) is Placement.FORK
    assert chain.place(commit_on(5, b"\x09" * 32)) is Placement.FUTURE


def test_head_claims_split_confirm_or_start_a_wait_for_a_sync() -> None:
    chain = Chain(sync_after=2.0)
    chain.advance(0, b"\x00" * 32)
    mod = b"\x07" * 32
    assert chain.check(mod, 0, b"\x01" * 32, True, 0.0) is HeadCheck.SPLIT
    assert chain.check(mod, 0, b"\x00" * 32, True, 0.0) is HeadCheck.CONFIRMS
    assert chain.check(mod, 3, b"\x03" * 32, False, 0.0) is HeadCheck.AGREES  # not a moderator
    assert chain.check(mod, 3, b"\x03" * 32, True, 1.0) is HeadCheck.BEHIND
    assert chain.sync_due() == 3.0 and chain.behind_due(2.9) is None
    assert chain.behind_due(3.0) == mod and chain.sync_due() is None


def test_at_most_64_early_fresh_secrets_are_kept() -> None:
    fresh = FreshSecrets(first_ask=0.5, retry=2.0)
    for e in range(1, MAX_EARLY + 2):
        outcome, _ = fresh.received(e, b"\x05" * 32, b"\x06" * 32, current=0)
        assert outcome is (Outcome.HELD if e <= MAX_EARLY else Outcome.IGNORED)
    assert fresh.peek_early(MAX_EARLY, b"\x05" * 32) == b"\x06" * 32
    assert fresh.take_early(MAX_EARLY + 1, b"\x05" * 32) is None
    assert fresh.received(0, b"\x05" * 32, b"\x06" * 32, current=0)[0] is Outcome.IGNORED


def test_the_awaited_fresh_secret_must_match_the_commits_key_confirmation() -> None:
    fresh = FreshSecrets(first_ask=0.5, retry=2.0)
    prev, head, secret = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
    committer = b"\x04" * 32
    fresh.wait(7, head, prev, key_confirmation(prev, secret), committer, now=10.0)
    assert fresh.next_due() == 10.5 and fresh.ask_due(10.4) is None
    assert fresh.ask_due(10.5) == committer and fresh.next_due() == 12.5  # re-armed
    assert fresh.received(7, head, b"\x09" * 32, current=7) == (Outcome.MISMATCH, None)
    assert fresh.awaiting is not None  # still waiting after a wrong secret
    outcome, key = fresh.received(7, head, secret, current=7)
    assert outcome is Outcome.KEYED and key == keys.next_epoch_key(prev, head, secret)
    assert fresh.awaiting is None and fresh.next_due() is None


def test_superseded_epoch_keys_expire_after_the_grace_and_the_current_one_never() -> None:
    ek = EpochKeys(ROOM, grace=1.0)
    ek.install(0, b"\x00" * 32)
    ek.install(1, b"\x01" * 32)
    ek.supersede(0, now=5.0)
    assert ek.usable(0, current=1, now=5.9) and not ek.usable(0, current=1, now=6.0)
    assert ek.superseded_at(0) == 5.0 and ek.next_expiry() == 6.0
    assert ek.expire(5.9, current=1) == []
    assert ek.expire(6.0, current=1) == [0]
    assert ek.get(0) is None and 0 not in ek.control and ek.get(1) is not None
    ek.supersede(1, now=7.0)  # superseded while still current (a snapshot at the same epoch)
    assert ek.expire(8.0, current=1) == [] and ek.get(1) is not None
    assert ek.newest_control(1) == (1, keys.control_key(b"\x01" * 32, ROOM))


def test_slots_stay_one_member_per_slot_and_one_slot_per_member() -> None:
    slots = Slots()
    a, b = b"\x0a" * 32, b"\x0b" * 32
    slots.set(a, 1)
    slots.set(a, 2)  # a moved: slot 1 is free again
    assert slots.get(a) == 2 and slots.owner(1) is None
    slots.set(b, 2)  # b took a's slot: a is nowhere
    assert slots.owner(2) == b and a not in slots
    assert slots.release(1) is None and slots.release(2) == b and b not in slots
    slots.set(a, 3)
    slots.forget(a)
    assert slots.owner(3) is None and slots.entries([a, b]) == []


def test_a_removed_member_leaves_nothing_behind_in_the_per_member_tables() -> None:
    founder = new_identity(1)
    invite = make_invite(b"\x08" * 32, founder.public)
    r = Router()
    mod = r.attach(RoomSession.create(founder, invite, "Mod", "open", rng_for(100), 0.0))
    r.pump()
    eve = r.attach(RoomSession.join(new_identity(2), invite, "Eve", rng_for(200), 0.0))
    r.pump()
    gone = eve.session.me
    eve.session.send_chat("hello")  # a control seq and a slot for eve at the moderator
    r.pump()
    m = mod.session
    assert gone in m._slots and m._control_in._last_seq.get(gone) is not None
    m.kick(gone)
    r.pump()
    assert gone not in m.members
    assert gone not in m._slots and m._slots.owner(eve.slot) is None
    assert gone not in m._control_in._last_seq


def test_the_outbox_hands_out_envelopes_in_order_under_the_current_tag_and_counts_alerts() -> None:
    counters: Counter[str] = Counter()
    box = Outbox(b"\x01" * 16, counters)
    box.send(EnvelopeType.CONTROL, 0, b"a")
    box.room_tag = b"\x02" * 16
    box.unicast(7, b"b")
    box.alert("split_view", "detail")
    wire = box.drain()
    first = encode_envelope(EnvelopeType.CONTROL, b"\x01" * 16, 0, b"a")
    assert wire == first + encode_envelope(EnvelopeType.UNICAST, b"\x02" * 16, 7, b"b")
    assert box.drain() == b"" and counters["alert_split_view"] == 1
    assert box.next_event() == SecurityAlert("split_view", "detail")
    assert box.next_event() is None


def a_chair(rng_seed: int = 1) -> Chair:
    return Chair(SIGNER, ROOM, rng_for(rng_seed), Counter(), commit_log=8, leave_debounce=2.0)


def test_a_commit_off_the_next_place_is_counted_and_only_replays_and_forks_alert() -> None:
    chair, c3 = a_chair(), commit_on(3, b"\x03" * 32)
    assert commit_apply.refusal(Placement.NEXT, c3, True, 2, chair) is None
    replay = commit_apply.refusal(Placement.KNOWN, c3, True, 4, chair)
    assert replay == Refusal("duplicate_commit", ("rollback", "replayed commit of epoch 3"))
    assert commit_apply.refusal(Placement.KNOWN, c3, False, 4, chair) == Refusal("duplicate_commit")
    assert commit_apply.refusal(Placement.KNOWN, c3, True, 3, chair) == Refusal("duplicate_commit")
    assert commit_apply.refusal(Placement.RACE, c3, True, 3, chair) == Refusal("stale_commit")
    fork = commit_apply.refusal(Placement.FORK, c3, True, 3, chair)
    assert fork == Refusal(None, ("split_view", "commit of epoch 3 is not on our chain"))
    assert commit_apply.refusal(Placement.FUTURE, c3, True, 0, chair) == Refusal("future_commit")


def test_only_a_moderators_commit_is_authorized() -> None:
    roster = RosterState(Policy.OPEN)
    roster.apply_ops([op_add(SIGNER.public, b"\x05" * 32, "Mod", Role.SPEAKER)])
    c = commit_on(1, b"\x01" * 32)
    with pytest.raises(RemoteProtocolError) as exc:
        commit_apply.authorize(roster, c)
    assert exc.value.code is ErrorCode.UNAUTHORIZED
    roster.apply_ops([op_role(SIGNER.public, Role.MODERATOR)])
    commit_apply.authorize(roster, c)
    before = commit_apply.apply_ops(roster, c)
    assert before.members == {} and before.hands == [] and roster.policy is Policy.OPEN


def rekey_on(epoch: int, prev_key: bytes, fresh: bytes) -> Commit:
    ops = [op_remove(b"\x0c" * 32, RemoveReason.KICKED)]
    confirm = key_confirmation(prev_key, fresh)
    return sign_commit(SIGNER, ROOM, epoch, b"\x01" * 32, ops, True, key_confirm=confirm)


def test_a_rekey_commit_keys_from_an_early_secret_or_waits_for_it() -> None:
    prev, fresh = b"\x0a" * 32, b"\x0b" * 32
    c = rekey_on(4, prev, fresh)
    secrets = FreshSecrets(first_ask=0.5, retry=2.0)
    assert commit_apply.key_confirmed(c, prev, a_chair(), secrets)  # not come yet: checked later
    assert commit_apply.epoch_key_after(c, prev, None, secrets, now=1.0) == (None, False)
    assert secrets.awaiting is not None and secrets.awaiting.confirm == c.key_confirm
    secrets = FreshSecrets(first_ask=0.5, retry=2.0)
    secrets.received(4, c.head, b"\x0e" * 32, current=3)  # an early secret, but not this one
    assert not commit_apply.key_confirmed(c, prev, a_chair(), secrets)
    secrets = FreshSecrets(first_ask=0.5, retry=2.0)
    secrets.received(4, c.head, fresh, current=3)
    assert commit_apply.key_confirmed(c, prev, a_chair(), secrets)
    key = keys.next_epoch_key(prev, c.head, fresh)
    assert commit_apply.epoch_key_after(c, prev, None, secrets, now=1.0) == (key, True)
    assert secrets.awaiting is None and secrets.peek_early(4, c.head) is None
    assert commit_apply.epoch_key_after(c, prev, fresh, secrets, now=1.0) == (key, True)


def test_a_plain_commit_keys_from_the_previous_key_and_none_without_one() -> None:
    c, prev = commit_on(2, b"\x01" * 32), b"\x0a" * 32
    secrets = FreshSecrets(first_ask=0.5, retry=2.0)
    assert not commit_apply.key_confirmed(c, prev, a_chair(), secrets)  # confirms b"\0" * 32
    assert commit_apply.key_confirmed(c, None, a_chair(), secrets)  # nothing to check against
    assert commit_apply.epoch_key_after(c, prev, None, secrets, 0.0) == (
        keys.next_epoch_key(prev, c.head),
        False,
    )
    secrets.wait(9, b"\x09" * 32, prev, b"\x00" * 32, SIGNER.public, now=0.0)
    assert commit_apply.epoch_key_after(c, None, None, secrets, 0.0) == (None, False)
    assert secrets.awaiting is None  # a sync's key comes at its end: no wait left


ADMISSION = b"\x0d" * 32


def a_roster_with(*members: tuple[IdentityKey, SessionKey, Role]) -> RosterState:
    roster = RosterState(Policy.OPEN)
    for ident, sk, role in members:
        roster.apply_ops([op_add(ident.public, sk.public, "m", role)])
    return roster


def test_a_payload_goes_to_the_handler_of_the_key_its_hint_names() -> None:
    rng, me, mod = rng_for(7), IdentityKey(b"\x11" * 32), IdentityKey(b"\x12" * 32)
    my_key, mod_key = SessionKey(b"\x21" * 32), SessionKey(b"\x22" * 32)
    roster = a_roster_with((me, my_key, Role.LISTENER), (mod, mod_key, Role.MODERATOR))
    control = ControlKeys(ROOM)
    control.install(3, b"\x03" * 32)
    post = PairOut(
        rng, Outbox(TAG, Counter()), Slots(), Pairs(my_key, me.public, ROOM), PendingPayloads()
    )

    def to(payload: bytes) -> inbound.Route:
        tried = inbound.candidates(control, 3, ADMISSION, post, roster, me.public)
        return inbound.route(payload, tried, ADMISSION, ROOM)

    epoch_payload = seal.seal_epoch(seal.Kind.CONTROL, control[3], ROOM, 3, b"x", rng)
    assert to(epoch_payload) == inbound.ToEpoch(3)
    beacon = seal.seal_admission(ADMISSION, ROOM, b"hi", rng, seal.Kind.BEACON)
    assert to(beacon) == inbound.Keyed(seal.Kind.BEACON, b"hi")
    theirs = Pairs(mod_key, mod.public, ROOM).channel(me.public, my_key.public)[0]
    routed = to(theirs.seal(b"pair", rng))
    assert isinstance(routed, inbound.ToPair) and routed.channel.peer_id == mod.public
    sealed = seal.seal_to(my_key.public, ROOM, b"welcome", rng)
    assert to(sealed) is inbound.UNMATCHED
    assert inbound.open_unmatched(my_key, ROOM, sealed) == b"welcome"
    assert inbound.open_unmatched(mod_key, ROOM, sealed) is None
    with pytest.raises(RemoteProtocolError) as exc:
        to(epoch_payload[:-1])
    assert inbound.error_counter(exc.value) == "malformed"
    assert inbound.error_counter(DecryptionFailed()) == "decryption_failed"
    unauthorized = RemoteProtocolError("x", ErrorCode.UNAUTHORIZED)
    assert inbound.error_counter(unauthorized) == "unauthorized"


def test_a_new_pair_channel_releases_the_payloads_held_under_it() -> None:
    rng, me, mod = rng_for(8), IdentityKey(b"\x11" * 32), IdentityKey(b"\x12" * 32)
    my_key, mod_key = SessionKey(b"\x21" * 32), SessionKey(b"\x22" * 32)
    roster = a_roster_with((me, my_key, Role.LISTENER), (mod, mod_key, Role.MODERATOR))
    theirs = Pairs(mod_key, mod.public, ROOM).channel(me.public, my_key.public)[0]
    early = theirs.seal(b"early", rng)
    pairs, held = Pairs(my_key, me.public, ROOM), PendingPayloads()
    held.add(EnvelopeType.UNICAST, 4, early)
    post = PairOut(rng, Outbox(TAG, Counter()), Slots(), pairs, held)
    ch = post.channel(roster, mod.public)
    assert post.channel(roster, mod.public) is ch  # one per session
    assert held.next_released() == [(EnvelopeType.UNICAST, 4, early)]
    assert held.next_released() is None and len(held) == 0


def test_the_held_payloads_stop_at_their_bound_and_evict_the_oldest_first() -> None:
    held = PendingPayloads()
    for i in range(MAX_ENTRIES):
        assert held.add(EnvelopeType.CONTROL, i, bytes(304)) == 0
    assert len(held) == MAX_ENTRIES
    assert held.add(EnvelopeType.CONTROL, MAX_ENTRIES, bytes(304)) == 1  # the oldest goes
    assert len(held) == MAX_ENTRIES and held.buffered_bytes == MAX_ENTRIES * 304
    assert held.add(EnvelopeType.CONTROL, 0, bytes(MAX_PAYLOAD + 1)) == 1  # never kept
    big = PendingPayloads(max_entries=MAX_ENTRIES, max_bytes=3 * 304)
    for i in range(4):
        big.add(EnvelopeType.CONTROL, i, bytes(304))
    assert len(big) == 3 and big.buffered_bytes == 3 * 304


TAG = b"\x0f" * 16


def sent(box: Outbox) -> list[Envelope]:
    out = [decode_envelope(e) for e in box.envelopes]
    box.envelopes.clear()
    return out


@dataclass
class Founded:
    """The founder's collaborators at epoch 0, with its slot 1 known."""

    chair: Chair
    roster: RosterState
    chain: Chain
    keys: EpochKeys
    slots: Slots
    pairs: Pairs
    admissions: Admissions
    authority: Authority
    counters: Counter[str]
    post: PairOut


def founded(box: Outbox) -> Founded:
    rng, counters = rng_for(30), Counter[str]()
    founder_key = SessionKey(b"\x31" * 32)
    chair = Chair(SIGNER, ROOM, rng, counters, commit_log=8, leave_debounce=2.0)
    genesis, roster, k0 = genesis_of(SIGNER, ROOM, Policy.OPEN, founder_key.public, "F", rng)
    chain, ek = Chain(sync_after=2.0), EpochKeys(ROOM, grace=1.0)
    chain.advance(0, genesis.head)
    ek.install(0, k0)
    cert = founder_key.certify(SIGNER)
    admissions = Admissions(SIGNER, founder_key, cert, ROOM, rng, counters, 0.0)
    slots, pairs = Slots(), Pairs(founder_key, SIGNER.public, ROOM)
    slots.set(SIGNER.public, 1)
    authority = Authority(SIGNER.public, ROOM)
    post = PairOut(rng_for(34), box, slots, pairs, PendingPayloads())
    return Founded(chair, roster, chain, ek, slots, pairs, admissions, authority, counters, post)


def a_moderator_side(box: Outbox) -> tuple[JoinRequests, Chair, Slots, RosterState, Pairs]:
    """The founder's join-request handling over real collaborators, at epoch 0."""
    f = founded(box)
    jr = JoinRequests(
        SIGNER.public, ROOM, rng_for(31), box, f.admissions, f.chair, f.authority, f.chain, f.keys,
        f.slots, f.post,
    )  # fmt: skip
    return jr, f.chair, f.slots, f.roster, f.pairs


def a_joiner() -> tuple[IdentityKey, SessionKey, Joiner]:
    """A joining session's identity, session key and joining side, of the founder's room."""
    joiner_id, joiner_key = IdentityKey(b"\x41" * 32), SessionKey(b"\x42" * 32)
    cert = joiner_key.certify(joiner_id)
    joiner = Joiner(joiner_id, joiner_key, cert, "J", ROOM, SIGNER.public, rng_for(40))
    return joiner_id, joiner_key, joiner


def test_a_knock_gets_an_offer_and_the_request_that_answers_it_queues_the_add() -> None:
    box = Outbox(TAG, Counter())
    jr, chair, slots, roster, pairs = a_moderator_side(box)
    joiner_id, joiner_key, joiner = a_joiner()
    member = SessionState.MEMBER
    jr.received(5, joiner.knock(), 0.0, SessionState.JOINING, roster, joiner, ADMISSION)
    assert sent(box) == []  # not a member yet: a knock is not ours to answer
    jr.received(5, joiner.knock(), 0.0, member, roster, joiner, ADMISSION)
    (offer,) = sent(box)
    assert offer.type is EnvelopeType.UNICAST and offer.slot == 5
    kind, pt = seal.open_keyed(ADMISSION, ROOM, offer.payload)
    _, fields = admission.decode_admission(pt)
    # the joiner's side answers the offer with its sealed request
    joiner_side = a_moderator_side(box)[0]  # a JOINING session: only the offer path runs
    joiner_side.received(1, pt, 0.0, SessionState.JOINING, None, joiner, ADMISSION)
    (request,) = sent(box)
    assert request.slot == 1 and kind is seal.Kind.JOIN_REQUEST
    _, request_pt = seal.open_keyed(ADMISSION, ROOM, request.payload)
    jr.received(5, request_pt, 0.0, member, roster, joiner, ADMISSION)
    assert chair.queue == [op_add(joiner_id.public, joiner_key.public, "J", Role.LISTENER)]
    assert sent(box) == [] and fields  # an admission is a commit first, then a welcome
    roster.apply_ops(list(chair.queue))
    jr.welcome(5, joiner_id.public, joiner_key.public, roster, ADMISSION)
    (welcome,) = sent(box)
    verdict = joiner.verdict(seal.open_sealed(joiner_key, ROOM, welcome.payload))
    assert isinstance(verdict, Welcome) and verdict.snapshot.epoch == 0
    assert (
        slots.get(joiner_id.public) == 5
        and pairs.channel(joiner_id.public, joiner_key.public)[1] is False
    )


def test_admission_payloads_from_one_slot_are_dropped_unopened_past_the_burst() -> None:
    box = Outbox(TAG, Counter())
    jr, _, _, roster, _ = a_moderator_side(box)
    _, _, joiner = a_joiner()
    for _ in range(int(PER_SLOT_BURST)):
        jr.received(5, joiner.knock(), 0.0, SessionState.MEMBER, roster, joiner, ADMISSION)
    assert len(sent(box)) == PER_SLOT_BURST
    jr.received(
        5, b"not even an admission message", 0.0, SessionState.MEMBER, roster, joiner, ADMISSION
    )
    assert sent(box) == []  # dropped before decoding: no MALFORMED raised


def a_flush(box: Outbox, f: Founded) -> CommitFlush:
    return CommitFlush(SIGNER.public, box, f.chair, f.chain, f.keys, f.post)


def test_queued_ops_go_out_as_one_commit_broadcast_echoed_to_us() -> None:
    box = Outbox(TAG, Counter())
    f = founded(box)
    flush = a_flush(box, f)
    f.chair.queue_op(op_policy(Policy.KNOCK))
    flush.flush(SessionState.JOINING, f.roster, 1)
    assert sent(box) == [] and f.chair.queue  # only a member commits
    flush.flush(SessionState.MEMBER, f.roster, None)
    assert sent(box) == [] and f.chair.queue  # no slot yet: our copy could not come back
    flush.flush(SessionState.MEMBER, f.roster, 1)
    (broadcast,) = sent(box)  # no copy to our own slot: the relay echoes it (spec §17.3)
    assert (broadcast.type, broadcast.slot) == (EnvelopeType.CONTROL, 0)
    assert box.echoes.returned(broadcast.payload)
    assert f.chair.inflight is not None and f.chair.inflight.commit.epoch == 1
    f.chair.queue_op(op_policy(Policy.OPEN))
    flush.flush(SessionState.MEMBER, f.roster, 1)
    assert sent(box) == [] and f.chair.queue  # one commit in flight at a time (spec §12.5)


def test_a_rekey_commits_fresh_secret_goes_to_each_kept_member_with_a_known_slot() -> None:
    box = Outbox(TAG, Counter())
    f = founded(box)
    kept, absent, kicked = (IdentityKey(bytes([0x50 + i]) * 32) for i in range(3))
    kept_key = SessionKey(b"\x60" * 32)
    for n, ident in enumerate((kept, absent, kicked)):
        sk = SessionKey(bytes([0x60 + n]) * 32)
        f.roster.apply_ops([op_add(ident.public, sk.public, "m", Role.LISTENER)])
    f.slots.set(kept.public, 7)
    f.slots.set(kicked.public, 9)
    f.chair.queue_op(op_remove(kicked.public, RemoveReason.KICKED))
    a_flush(box, f).flush(SessionState.MEMBER, f.roster, 1)
    _, fresh = sent(box)
    assert (fresh.type, fresh.slot) == (EnvelopeType.UNICAST, 7)  # not the kicked, not the absent
    inflight = f.chair.inflight
    assert inflight is not None and inflight.fresh is not None
    founder_key = f.roster.members[SIGNER.public].session_key
    theirs = Pairs(kept_key, kept.public, ROOM).channel(SIGNER.public, founder_key)[0]
    assert theirs.open(fresh.payload) == fresh_message(inflight.commit, inflight.fresh)


def test_a_member_no_longer_moderating_drops_its_queued_ops() -> None:
    box = Outbox(TAG, Counter())
    f = founded(box)
    f.chair.queue_op(op_policy(Policy.KNOCK))
    other = IdentityKey(b"\x70" * 32)
    f.roster.apply_ops([op_add(other.public, b"\x71" * 32, "M2", Role.MODERATOR)])
    f.roster.apply_ops([op_role(SIGNER.public, Role.SPEAKER)])
    a_flush(box, f).flush(SessionState.MEMBER, f.roster, 1)
    assert sent(box) == [] and f.chair.queue == [] and f.chair.inflight is None


def a_member_of(f: Founded, n: int, slot: int | None) -> tuple[bytes, Pairs]:
    """A listener added to ``f``'s roster; its own pair channels, to read what it is sent."""
    ident, sk = IdentityKey(bytes([0x80 + n]) * 32), SessionKey(bytes([0x90 + n]) * 32)
    f.roster.apply_ops([op_add(ident.public, sk.public, "m", Role.LISTENER)])
    if slot is not None:
        f.slots.set(ident.public, slot)
    return ident.public, Pairs(sk, ident.public, ROOM)


def test_a_lagging_member_is_sent_the_log_once_per_interval_and_a_snapshot_past_the_grace() -> None:
    box = Outbox(TAG, Counter())
    f = founded(box)
    replies = SyncReplies(f.chair, f.authority, f.chain, f.keys, f.slots, f.post)
    mid, theirs = a_member_of(f, 1, slot=6)
    stranger, _ = a_member_of(f, 2, slot=None)
    founder_key = f.roster.members[SIGNER.public].session_key
    channel = theirs.channel(SIGNER.public, founder_key)[0]
    replies.send(stranger, 0, 0.0, f.roster)
    replies.send(b"\x99" * 32, 0, 0.0, f.roster)
    assert sent(box) == []  # no slot known, or not in the roster
    replies.send(mid, 0, 0.0, f.roster)
    (reply,) = sent(box)
    msg = parse_pair_message(channel.open(reply.payload), ROOM)
    assert reply.slot == 6 and isinstance(msg, Sync) and msg.commits == []
    assert msg.key == f.keys.get(0)
    replies.send(mid, 0, 0.5, f.roster)
    assert sent(box) == [] and f.counters["sync_deferred"] == 1  # paced (spec §16.7)
    f.chain.advance(1, b"\x01" * 32)
    f.keys.install(1, b"\x11" * 32)
    f.keys.supersede(0, now=1.0)
    replies.behind(mid, 0, now=20.0, roster=f.roster)  # epoch 0's key is past its grace
    (snap,) = sent(box)
    offer = parse_pair_message(channel.open(snap.payload), ROOM)
    assert isinstance(offer, SnapshotOffer) and offer.snapshot.epoch == 1


def test_only_a_listener_among_listeners_or_alone_expects_no_beacons() -> None:
    f = founded(Outbox(TAG, Counter()))
    assert not expects_news(f.roster, SIGNER.public)  # alone
    listener, _ = a_member_of(f, 1, slot=None)
    assert expects_news(f.roster, SIGNER.public)  # a moderator hears every member's beacon
    assert expects_news(f.roster, listener)  # the moderator is on stage and beacons
    a, b = IdentityKey(b"\x83" * 32), IdentityKey(b"\x84" * 32)
    ka, kb = SessionKey(b"\x93" * 32), SessionKey(b"\x94" * 32)
    listeners = a_roster_with((a, ka, Role.LISTENER), (b, kb, Role.LISTENER))
    assert not expects_news(listeners, a.public)  # listeners beacon to moderators only


def heads_of(box: Outbox, f: Founded, quiet: QuietWatch) -> Heads:
    replies = SyncReplies(f.chair, f.authority, f.chain, f.keys, f.slots, f.post)
    return Heads(SIGNER, ROOM, rng_for(35), box, f.chain, f.keys, f.slots, quiet, replies)


def test_stage_members_broadcast_their_beacon_and_listeners_send_it_to_moderators() -> None:
    box = Outbox(TAG, Counter())
    f = founded(box)
    heads, member = heads_of(box, f, QuietWatch(0.0, 10.0)), SessionState.MEMBER
    heads.send_beacon(SessionState.JOINING, 1, f.roster, ADMISSION)
    heads.send_beacon(member, None, f.roster, ADMISSION)
    assert sent(box) == []  # a member with a slot beacons
    heads.send_beacon(member, 1, f.roster, ADMISSION)
    (broadcast,) = sent(box)
    assert (broadcast.type, broadcast.slot) == (EnvelopeType.CONTROL, 0)
    assert seal.open_keyed(ADMISSION, ROOM, broadcast.payload)[0] is seal.Kind.BEACON
    mod2, _ = a_member_of(f, 3, slot=8)
    mod3, _ = a_member_of(f, 4, slot=None)
    f.roster.apply_ops([op_role(mod2, Role.MODERATOR), op_role(mod3, Role.MODERATOR)])
    f.roster.apply_ops([op_role(SIGNER.public, Role.LISTENER)])
    heads.send_beacon(member, 1, f.roster, ADMISSION)
    (to_moderator,) = sent(box)  # the one moderator whose slot we know
    assert (to_moderator.type, to_moderator.slot) == (EnvelopeType.UNICAST, 8)


def test_a_claimed_head_splits_confirms_or_is_a_beacon_of_a_member_on_our_head() -> None:
    counters: Counter[str] = Counter()
    box = Outbox(TAG, counters)
    f, quiet = founded(box), QuietWatch(0.0, 10.0)
    heads = heads_of(box, f, quiet)
    listener, _ = a_member_of(f, 1, slot=5)
    heads.check(listener, 0, b"\x01" * 32, f.roster, now=1.0)
    assert counters["alert_split_view"] == 1
    heads.check(SIGNER.public, 0, f.chain.head, f.roster, now=4.0)  # a moderator confirms
    assert quiet.deadline() == 14.0
    other = IdentityKey(b"\x81" * 32)  # the listener of a_member_of(f, 1, ...)
    beacon = beacons.seal_beacon(other, ROOM, ADMISSION, f.chain, f.keys, rng_for(36))
    _, body = seal.open_keyed(ADMISSION, ROOM, beacon)
    heads.received(body, SessionState.MEMBER, f.roster, now=5.0)
    assert counters["alert_split_view"] == 1 and sent(box) == []  # on our head: nothing to do
    with pytest.raises(RemoteProtocolError):
        heads.received(body, SessionState.MEMBER, a_roster_with(), now=5.0)  # not a member's


def test_a_stale_sender_gets_one_alert_a_forwarded_commit_from_a_member_a_sync_from_a_mod() -> None:
    counters: Counter[str] = Counter()
    box = Outbox(TAG, counters)
    f = founded(box)
    c1 = sign_commit(SIGNER, ROOM, 1, f.chain.head, [op_policy(Policy.KNOCK)], False,
                     key_confirm=b"\x00" * 32)  # fmt: skip
    f.chair.log.append(c1.encode())
    f.chain.advance(1, c1.head)
    f.keys.install(1, b"\x11" * 32)
    speaker, _ = a_member_of(f, 1, slot=6)
    listener, _ = a_member_of(f, 2, slot=7)
    replies = SyncReplies(f.chair, f.authority, f.chain, f.keys, f.slots, f.post)

    def stale_senders(me: bytes) -> StaleSenders:
        return StaleSenders(
            me, ROOM, rng_for(37), box, counters, f.chair, f.chain, f.keys, f.slots, replies
        )

    stale_senders(listener).heard(StaleSender(speaker, 0, first=True), f.roster, now=1.0)
    (forwarded,) = sent(box)
    assert forwarded.slot == 6 and counters["commit_forwarded"] == 1
    kind, raw = seal.open_epoch(f.keys.control[0], ROOM, 0, forwarded.payload)
    assert kind is seal.Kind.COMMIT and raw == c1.encode()
    stale_senders(listener).heard(StaleSender(speaker, 0, first=False), f.roster, now=1.0)
    assert sent(box) == [] and counters["alert_stale_sender"] == 1  # once per sender and epoch
    stale_senders(SIGNER.public).heard(StaleSender(speaker, 0, first=False), f.roster, now=1.0)
    (sync,) = sent(box)  # a moderator syncs it instead
    assert sync.slot == 6 and counters["commit_forwarded"] == 1


def test_an_epoch_payload_is_opened_only_while_its_key_is_within_the_grace() -> None:
    ek, rng = EpochKeys(ROOM, grace=1.0), rng_for(38)
    ek.install(0, b"\x00" * 32)
    ek.install(1, b"\x01" * 32)
    ek.supersede(0, now=5.0)
    c1 = commit_on(1, b"\x01" * 32)
    payload = seal.seal_epoch(seal.Kind.COMMIT, ek.control[0], ROOM, 0, c1.encode(), rng)
    assert inbound.open_epoch_payload(ek, 0, 1, 5.9, ROOM, payload) == c1
    assert inbound.open_epoch_payload(ek, 0, 1, 6.0, ROOM, payload) is None  # past the grace
    with pytest.raises(DecryptionFailed):
        inbound.open_epoch_payload(ek, 1, 1, 6.0, ROOM, payload)  # not under epoch 1's key


def test_a_member_leaving_the_roster_leaves_no_entry_in_any_per_member_table() -> None:
    f, counters = founded(Outbox(TAG, Counter())), Counter[str]()
    control_in, absence = ControlIn(SIGNER.public, ROOM, counters), AbsenceTimers(5.0)
    media = Media(SIGNER, ROOM, AuthConfig(), 0.5, counters)
    tables = MemberTables(f.admissions, control_in, f.slots, f.chair, media, absence)
    mid, _ = a_member_of(f, 1, slot=6)
    f.admissions.requests[mid] = (6, admission.JoinRequest(mid, b"\x05" * 32, "m"))  # a knock
    control_in._last_seq[mid] = 9
    tables.joined(mid)
    assert mid in f.admissions.known and mid not in f.admissions.requests
    assert mid not in control_in._last_seq  # its new session counts from scratch
    control_in._last_seq[mid] = 3
    absence.start(mid, now=0.0)
    f.chair.leave_noted(mid, now=0.0)
    tables.gone(mid)
    assert mid not in f.slots and mid not in control_in._last_seq
    assert absence.next_due() is None and f.chair.leaves_due(now=10.0) == []


def test_a_control_message_goes_out_only_from_a_member_with_a_slot_and_a_key() -> None:
    box, member = Outbox(TAG, Counter()), SessionState.MEMBER
    f = founded(box)
    numbered = ControlOut(SIGNER, SessionKey(b"\x31" * 32).public, ROOM)
    sender = ControlSender(numbered, f.keys, f.chain, box, rng_for(39))
    sender.send(ControlType.HAND, [True], SessionState.JOINING, 1)
    sender.send(ControlType.HAND, [True], member, None)
    assert sent(box) == [] and numbered.seq == 0  # nothing sealed, no seq spent
    sender.send(ControlType.HAND, [True], member, 1)
    sender.send(ControlType.CHAT, ["hi"], member, 1, to=7)
    broadcast, unicast = sent(box)
    assert (broadcast.type, broadcast.slot) == (EnvelopeType.CONTROL, 0)
    assert box.echoes.returned(broadcast.payload)  # the relay echoes a broadcast (§17.3)
    assert (unicast.type, unicast.slot) == (EnvelopeType.UNICAST, 7)
    opened = [
        inbound.open_epoch_payload(f.keys, 0, 0, 0.0, ROOM, e.payload) for e in (broadcast, unicast)
    ]
    assert [(c.type, c.seq, c.args) for c in opened if isinstance(c, Control)] == [
        (ControlType.HAND, 0, (True,)),
        (ControlType.CHAT, 1, ("hi",)),
    ]
    keyless = ControlSender(numbered, EpochKeys(ROOM, grace=1.0), f.chain, box, rng_for(39))
    keyless.send(ControlType.HAND, [True], member, 1)
    assert sent(box) == [] and numbered.seq == 2  # no control key held yet


def test_the_deputy_watches_moderators_takes_over_when_none_may_be_here_and_times_them() -> None:
    f, absence = founded(Outbox(TAG, Counter())), AbsenceTimers(5.0)
    me, _ = a_member_of(f, 1, slot=None)
    other, _ = a_member_of(f, 2, slot=9)
    f.roster.apply_ops([op_deputy(me)])
    watch = TakeOver(me, f.chair, f.slots, absence)
    assert not watch.link_gone(other, f.roster, chairing=False, now=0.0)  # not ours to watch
    assert not watch.link_gone(b"\x77" * 32, f.roster, chairing=True, now=0.0)  # not a member
    assert watch.link_gone(other, f.roster, chairing=True, now=0.0) and other in absence
    assert not watch.queue_if_gone(f.roster)  # the founder's slot is known
    f.slots.release(1)
    assert watch.link_gone(SIGNER.public, f.roster, chairing=False, now=0.0)  # deputy: moderators
    assert watch.may_be_here(SIGNER.public) and not watch.queue_if_gone(f.roster)  # timer runs
    assert watch.queue_if_gone(f.roster, leaving=SIGNER.public)  # it said it leaves
    assert f.chair.queue == take_over_ops(me)
    f.chair.queue.clear()
    assert absence.due(5.0) == sorted([SIGNER.public, other])  # both timers ran out
    assert not watch.may_be_here(SIGNER.public) and watch.queue_if_gone(f.roster)
    f.chair.queue.clear()
    watch.remove_absent(other, f.roster, chairing=False)
    assert f.chair.queue == []  # only the chair removes
    watch.remove_absent(other, f.roster, chairing=True)
    assert f.chair.queue == [op_remove(other, RemoveReason.LEFT)]
    mine = IdentityKey(bytes([0x81]) * 32)
    plain = sign_commit(SIGNER, ROOM, 1, b"\x01" * 32, take_over_ops(SIGNER.public), False,
                        key_confirm=b"\x00" * 32)  # fmt: skip
    watch.applied(plain, f.roster, now=9.0)
    assert SIGNER.public not in absence  # not our take-over
    ours = sign_commit(mine, ROOM, 1, b"\x01" * 32, take_over_ops(me), False,
                       key_confirm=b"\x00" * 32)  # fmt: skip
    f.roster.apply_ops(take_over_ops(me))
    watch.applied(ours, f.roster, now=9.0)
    assert SIGNER.public in absence and absence.next_due() == 14.0  # removed unless it answers


def test_the_stage_and_the_deputy_ask_for_the_stage_class_and_only_a_change_is_sent() -> None:
    box = Outbox(TAG, Counter())
    f = founded(Outbox(TAG, Counter()))
    delivery, me = Delivery(box), SIGNER.public
    delivery.join()
    (join,) = sent(box)
    assert (join.type, join.payload) == (EnvelopeType.JOIN, bytes((DeliveryClass.AUDIENCE,)))
    delivery.refresh(f.roster, me)  # the founder moderates: on stage
    (change,) = sent(box)
    assert (change.type, change.payload) == (EnvelopeType.SET_CLASS, bytes((DeliveryClass.STAGE,)))
    delivery.refresh(f.roster, me)
    assert sent(box) == []  # no change, nothing sent
    listener, _ = a_member_of(f, 1, slot=None)
    watcher = Delivery(box)
    watcher.refresh(f.roster, listener)
    assert sent(box) == [] and watcher.current is DeliveryClass.AUDIENCE
    f.roster.apply_ops([op_deputy(listener)])
    watcher.refresh(f.roster, listener)  # the deputy must hear PEER_LEFT (spec §12.2)
    (change,) = sent(box)
    assert change.payload == bytes((DeliveryClass.STAGE,))
    assert watcher.current is DeliveryClass.STAGE
    watcher.join()  # a new link asks for the class held
    assert [e.payload for e in sent(box)] == [bytes((DeliveryClass.STAGE,))]


def opened_controls(f: Founded, box: Outbox) -> list[tuple[EnvelopeType, int, ControlType, tuple]]:
    """``(envelope type, slot, control type, args)`` of each control message queued."""
    out = []
    for env in sent(box):
        msg = inbound.open_epoch_payload(f.keys, 0, 0, 0.0, ROOM, env.payload)
        assert isinstance(msg, Control)
        out.append((env.type, env.slot, msg.type, msg.args))
    return out


def test_a_listener_announces_to_each_moderator_it_can_reach_and_the_stage_to_the_room() -> None:
    box, member = Outbox(TAG, Counter()), SessionState.MEMBER
    f = founded(box)
    sender = ControlSender(ControlOut(SIGNER, b"\x31" * 32, ROOM), f.keys, f.chain, box, rng_for(3))
    listener, _ = a_member_of(f, 1, slot=4)
    mod2, _ = a_member_of(f, 2, slot=None)
    f.roster.apply_ops([op_role(mod2, Role.MODERATOR)])
    heard = Announcements(listener, sender, f.slots)
    heard.ours(member, 4, f.roster)
    assert opened_controls(f, box) == [(EnvelopeType.UNICAST, 1, ControlType.ANNOUNCE, (4, True))]
    stage = Announcements(SIGNER.public, sender, f.slots)
    stage.ours(member, 1, f.roster)  # on stage: to the room
    stage.to_room(member, 1, ask=False)
    stage.to_slot(4, member, 1, ask=True)
    stage.to_slot(4, member, None, ask=True)  # no slot of our own yet: nothing
    stage.to_room(member, None, ask=True)
    stage.stage(4, member, 1, f.roster)
    assert opened_controls(f, box) == [
        (EnvelopeType.CONTROL, 0, ControlType.ANNOUNCE, (1, True)),
        (EnvelopeType.CONTROL, 0, ControlType.ANNOUNCE, (1, False)),
        (EnvelopeType.UNICAST, 4, ControlType.ANNOUNCE, (1, True)),
        (EnvelopeType.UNICAST, 4, ControlType.SLOTS, ([[SIGNER.public, 1]],)),
    ]


def test_moving_to_an_epoch_holds_its_key_releases_its_payloads_and_starts_the_old_grace() -> None:
    chain, ek, held, rng = (
        Chain(sync_after=2.0),
        EpochKeys(ROOM, grace=1.0),
        PendingPayloads(),
        rng_for(40),
    )
    install = EpochInstall(chain, ek, held)
    install.advance(0, b"\x00" * 32, b"\x10" * 32, now=0.0)
    probe = EpochKeys(ROOM, grace=1.0)
    probe.install(1, b"\x11" * 32)
    early = seal.seal_epoch(seal.Kind.CONTROL, probe.control[1], ROOM, 1, b"early", rng)
    held.add(EnvelopeType.CONTROL, 3, early)
    install.advance(1, b"\x01" * 32, None, now=5.0)  # a re-key: its secret has not come
    assert (chain.epoch, chain.head) == (1, b"\x01" * 32) and ek.get(1) is None
    assert ek.superseded_at(0) == 5.0 and held.next_released() is None
    install.install(1, b"\x01" * 32, b"\x11" * 32)  # the fresh secret arrived
    assert ek.get(1) == b"\x11" * 32 and held.next_released() == [(EnvelopeType.CONTROL, 3, early)]
    install.install(0, b"\x00" * 32, b"\x10" * 32)  # an older epoch's key: not current again
    assert (chain.epoch, chain.head) == (1, b"\x01" * 32)


CatchUpSide = tuple[CatchUpKeys, Outbox, Counter[str], Chain, EpochKeys, FreshSecrets]


def catch_up_keys_at(epoch: int) -> CatchUpSide:
    """Catch-up keys over a chain at ``epoch`` (head ``epoch`` bytes) and no key held."""
    counters = Counter[str]()
    box, chain, ek = Outbox(TAG, counters), Chain(sync_after=2.0), EpochKeys(ROOM, grace=1.0)
    chain.advance(epoch, bytes([epoch]) * 32)
    fresh = FreshSecrets(first_ask=0.5, retry=2.0)
    install = EpochInstall(chain, ek, PendingPayloads())
    return CatchUpKeys(box, counters, chain, ek, fresh, install), box, counters, chain, ek, fresh


def test_a_fresh_secret_keys_its_epoch_only_if_it_matches_and_a_wrong_one_alerts() -> None:
    ck, box, _, _, ek, fresh = catch_up_keys_at(7)
    prev, head, secret = b"\x01" * 32, bytes([7]) * 32, b"\x03" * 32
    fresh.wait(7, head, prev, key_confirmation(prev, secret), b"\x04" * 32, now=0.0)
    assert not ck.fresh_received(7, head, b"\x09" * 32)
    assert [e.kind for e in box.events if isinstance(e, SecurityAlert)] == ["key_mismatch"]
    assert not ck.fresh_received(9, head, secret)  # a later epoch's: held early, no key yet
    assert ck.fresh_received(7, head, secret)
    assert ek.get(7) == keys.next_epoch_key(prev, head, secret)
    assert box.events[-1] == KeysRotated(7) and fresh.awaiting is None


def test_a_sync_key_is_held_unless_stale_or_another_than_the_one_we_derived() -> None:
    ck, _, counters, chain, ek, fresh = catch_up_keys_at(5)
    assert not ck.sync_key(4, b"\x0a" * 32, applied=False)  # for an older epoch
    assert counters["stale_sync"] == 1 and ek.get(5) is None
    fresh.wait(5, chain.head, b"\x01" * 32, b"\x02" * 32, b"\x04" * 32, now=0.0)
    assert ck.sync_key(None, b"\x0a" * 32, applied=False)  # no commits, no key held: take it
    assert ek.get(5) == b"\x0a" * 32 and fresh.awaiting is None
    assert not ck.sync_key(5, b"\x0a" * 32, applied=False)  # the very key we hold
    assert not ck.sync_key(5, b"\x0b" * 32, applied=True)  # another one: a lie
    assert counters["alert_key_mismatch"] == 1 and ek.get(5) == b"\x0a" * 32


def test_a_chunked_welcome_is_opened_whole_and_only_a_founder_backed_verdict_counts() -> None:
    box = Outbox(TAG, Counter())
    jr, _, _, roster, _ = a_moderator_side(box)
    joiner_id, joiner_key, joiner = a_joiner()
    roster.apply_ops([op_add(joiner_id.public, joiner_key.public, "J", Role.LISTENER)])
    jr.welcome(5, joiner_id.public, joiner_key.public, roster, ADMISSION)
    (welcome,) = sent(box)
    counters, authority = Counter[str](), Authority(SIGNER.public, ROOM)
    inbox = WelcomeIn(joiner, authority, ChunkAssembler(), joiner_key, ROOM, counters)
    big = b"\x05" * (seal.CHUNK_DATA + 1)  # sealed, it takes two pieces
    first, second = seal.split_chunks(
        seal.seal_to(joiner_key.public, ROOM, big, rng_for(4)), b"t" * 8
    )
    assert inbox.chunk(first, SessionState.MEMBER, 0.0) is None
    assert counters["unexpected_chunk"] == 1  # only a joiner reassembles
    assert inbox.chunk(first, SessionState.JOINING, 0.0) is None
    assert inbox.chunk(second, SessionState.JOINING, 0.1) == big
    verdict = inbox.verdict(seal.open_sealed(joiner_key, ROOM, welcome.payload))
    assert isinstance(verdict, Welcome) and verdict.moderator == SIGNER.public
    jr.deny(5, joiner_key.public)
    (denial,) = sent(box)
    assert inbox.verdict(seal.open_sealed(joiner_key, ROOM, denial.payload)) == Denied()
    with pytest.raises(RemoteProtocolError):
        inbox.verdict(b"\x00not a verdict")
    assert counters["rejected_verdict"] == 1


def test_a_pair_message_counts_only_from_a_current_moderators_current_session() -> None:
    rng = rng_for(41)
    me, mod, spk = (IdentityKey(bytes([b]) * 32) for b in (0x11, 0x12, 0x13))
    my_key, mod_key, spk_key = (SessionKey(bytes([b]) * 32) for b in (0x21, 0x22, 0x23))
    roster = a_roster_with(
        (me, my_key, Role.LISTENER), (mod, mod_key, Role.MODERATOR), (spk, spk_key, Role.SPEAKER)
    )
    mine = Pairs(my_key, me.public, ROOM)
    rekey = canonical.encode([int(PairType.REKEY), 4, b"\x04" * 32, b"\x05" * 32])

    def from_(ident: IdentityKey, key: SessionKey) -> tuple[PairChannel, bytes]:
        theirs = Pairs(key, ident.public, ROOM).channel(me.public, my_key.public)[0]
        return mine.channel(ident.public, key.public)[0], theirs.seal(rekey, rng)

    ch, payload = from_(mod, mod_key)
    assert open_pair_message(ch, payload, roster, mine, ROOM) == Rekey(
        4, b"\x04" * 32, b"\x05" * 32
    )
    old_session = SessionKey(b"\x24" * 32)
    for ident, key in ((spk, spk_key), (mod, old_session)):  # not a moderator; not current
        ch, payload = from_(ident, key)
        with pytest.raises(RemoteProtocolError) as exc:
            open_pair_message(ch, payload, roster, mine, ROOM)
        assert exc.value.code is ErrorCode.UNAUTHORIZED


def test_audio_counts_only_from_a_stage_members_slot_while_we_are_a_member() -> None:
    box, counters, member = Outbox(TAG, Counter()), Counter[str](), SessionState.MEMBER
    f = founded(box)
    listener, _ = a_member_of(f, 1, slot=4)
    replies = SyncReplies(f.chair, f.authority, f.chain, f.keys, f.slots, f.post)
    stale = StaleSenders(
        listener, ROOM, rng_for(37), box, counters, f.chair, f.chain, f.keys, f.slots, replies
    )
    media = Media(IdentityKey(bytes([0x81]) * 32), ROOM, AuthConfig(), 0.5, counters)
    frames_in = FramesIn(listener, media, f.slots, f.keys, f.chain, stale, box)
    speaker = Media(SIGNER, ROOM, AuthConfig(), 0.5, Counter())
    (frame,) = speaker.send(b"opus", 0.0, f.keys, 0, None, True)
    frames_in.received(1, frame, SessionState.JOINING, f.roster, 0.0)
    frames_in.received(1, frame, member, None, 0.0)
    assert counters == Counter()  # not a member: not even looked at
    frames_in.received(9, frame, member, f.roster, 0.0)
    frames_in.received(4, frame, member, f.roster, 0.0)  # a listener's slot
    assert counters == Counter(audio_rejected_unknown_slot=1, audio_rejected_role=1)
    for i in range(1, 60):  # the speaker's proof follows: its frames are then heard
        now = i * 0.02
        for payload in speaker.send(b"opus", now, f.keys, 0, None, True) + speaker.proofs_due(now):
            frames_in.received(1, payload, member, f.roster, now)
    heard = [e for e in box.events if isinstance(e, AudioReceived)]
    assert heard and {e.member for e in heard} == {SIGNER.public}
    assert counters["audio_received"] == len(heard) and len(box.events) == len(heard)


def test_a_new_moderator_is_paired_at_once_and_a_listener_tells_it_its_slot() -> None:
    box, member = Outbox(TAG, Counter()), SessionState.MEMBER
    f = founded(box)
    sender = ControlSender(ControlOut(SIGNER, b"\x31" * 32, ROOM), f.keys, f.chain, box, rng_for(3))
    listener, _ = a_member_of(f, 1, slot=4)
    speaker, _ = a_member_of(f, 2, slot=6)
    f.roster.apply_ops([op_role(speaker, Role.SPEAKER)])
    pairs = Pairs(SessionKey(b"\x91" * 32), listener, ROOM)
    post = PairOut(rng_for(42), box, f.slots, pairs, PendingPayloads())
    ours = Promotion(listener, post, f.slots, Announcements(listener, sender, f.slots))
    f.roster.apply_ops([op_role(speaker, Role.MODERATOR)])
    ours.promoted(speaker, f.roster, member, None)  # no slot of our own yet: pairs only
    assert (
        sent(box) == []
        and pairs.channel(speaker, f.roster.members[speaker].session_key)[1] is False
    )
    ours.promoted(speaker, f.roster, member, 4)
    assert opened_controls(f, box) == [(EnvelopeType.UNICAST, 6, ControlType.ANNOUNCE, (4, False))]
    f.roster.apply_ops([op_role(listener, Role.MODERATOR)])
    ours.promoted(listener, f.roster, member, 4)  # we are the new moderator: pair with all
    assert sent(box) == []
    assert pairs.channel(SIGNER.public, f.roster.members[SIGNER.public].session_key)[1] is False
