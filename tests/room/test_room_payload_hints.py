"""Room payload v2 (spec §14.1, §16.7): the hint picks the key; a payload costs bounded work.

Each bound is tested at its value: :data:`hints.MAX_HINT_TRIALS` candidate
keys and :data:`hints.MAX_EPOCH_TRIALS` held epochs; and a payload that no
key opens costs one hash per candidate and at most one X25519.
"""

from __future__ import annotations

import random

import pytest
from attack.scene import Scene, build

from e2ee import canonical, identity
from e2ee.envelope import Envelope, EnvelopeType
from e2ee.room import hints, seal
from e2ee.room.control import PairType, encode_beacon
from e2ee.room.roster import Policy, op_policy
from e2ee.room.session import RoomConfig
from room.harness import Link

ROOM = bytes(32)


def test_the_key_is_found_among_at_most_max_hint_trials_candidates() -> None:
    rng = random.Random(4).randbytes
    keys = [rng(32) for _ in range(hints.MAX_HINT_TRIALS + 1)]
    last_tried = seal.seal_keyed(keys[-2], ROOM, seal.Kind.CONTROL, b"x", rng)
    beyond = seal.seal_keyed(keys[-1], ROOM, seal.Kind.CONTROL, b"x", rng)
    assert hints.find_key(last_tried, enumerate(keys)) == hints.MAX_HINT_TRIALS - 1
    assert isinstance(hints.find_key(beyond, enumerate(keys)), hints.NoMatch)


def test_a_hint_never_opens_under_another_key_and_never_repeats() -> None:
    rng = random.Random(5).randbytes
    key = rng(32)
    payloads = [seal.seal_keyed(key, ROOM, seal.Kind.BEACON, b"b", rng) for _ in range(200)]
    assert len({p[: seal.HINT_LEN] for p in payloads}) == 200
    assert not any(seal.hint_matches(rng(32), p) for p in payloads)
    assert {len(p) for p in payloads} == {32 + 256 + 16}


def count_work(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    work = {"hint": 0, "x25519": 0}
    real_hint, real_exchange = seal.hint, identity.SessionKey.exchange

    def hint(key: bytes, nonce: bytes) -> bytes:
        work["hint"] += 1
        return real_hint(key, nonce)

    def exchange(self: identity.SessionKey, peer: bytes) -> bytes:
        work["x25519"] += 1
        return real_exchange(self, peer)

    monkeypatch.setattr(seal, "hint", hint)
    monkeypatch.setattr(identity.SessionKey, "exchange", exchange)
    return work


def test_a_payload_no_key_opens_costs_one_hash_per_candidate_and_one_x25519(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    room = build(listeners=1)
    s = room.listener.session
    candidates = len(list(s._hint_candidates()))
    assert candidates == len(list(s._keys.control)) + 1 + 1  # epochs, admission key, one moderator
    work = count_work(monkeypatch)
    junk = random.Random(6).randbytes(304)
    s.envelope_received(_unicast(room, junk), room.relay.now)
    assert work == {"hint": candidates, "x25519": 1}


def _unicast(room: Scene, payload: bytes) -> Envelope:
    return Envelope(EnvelopeType.UNICAST, room.listener.session.room_tag, 1, payload)


def test_a_payload_of_no_payload_size_costs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    room = build(listeners=1)
    s = room.listener.session
    work = count_work(monkeypatch)
    s.envelope_received(_unicast(room, bytes(305)), room.relay.now)
    assert work == {"hint": 0, "x25519": 0} and s.counters["malformed"] == 1


def test_held_epochs_are_tried_up_to_max_epoch_trials() -> None:
    room = build(listeners=1, config=RoomConfig(key_grace=1000.0))
    mod, s = room.moderator.session, room.listener.session
    for i in range(hints.MAX_EPOCH_TRIALS):
        mod._moderator_action([op_policy(Policy.KNOCK if i % 2 == 0 else Policy.OPEN)])
        room.relay.pump()
    held = sorted(s._keys.control, reverse=True)
    assert len(held) > hints.MAX_EPOCH_TRIALS
    tried, untried = held[hints.MAX_EPOCH_TRIALS - 1], held[hints.MAX_EPOCH_TRIALS]
    for epoch in (tried, untried):
        p = seal.seal_epoch(
            seal.Kind.CONTROL, s._keys.control[epoch], s.room_id, epoch, b"", s._rng
        )
        found = hints.find_key(p, s._hint_candidates())
        assert found == epoch if epoch == tried else isinstance(found, hints.NoMatch)


def beacon_from(author: Link, mac_key: bytes | None) -> bytes:
    """``author``'s beacon, MAC'd under ``mac_key`` (None: the 32 zero bytes of no key)."""
    s = author.session
    pt = encode_beacon(s._identity, s.room_id, s.epoch, [s.head])
    mac = bytes(32) if mac_key is None else seal.beacon_mac(mac_key, s.room_id, pt)
    body = pt + mac
    return seal.seal_admission(s._admission_key, s.room_id, body, s._rng, seal.Kind.BEACON)


def test_a_beacon_naming_our_head_must_prove_our_epoch_key() -> None:
    room = build(listeners=2)
    a, b = room.listeners
    assert b.session.epoch == a.session.epoch
    # zero MAC: what a member that does not hold the key sends; it confirms nothing
    room.relay.inject_as(a, b, EnvelopeType.CONTROL, beacon_from(a, None))
    room.relay.pump()
    assert b.session.counters["unauthorized"] == 1 and not room.alerts(b)
    real = a.session._keys.epoch_keys[a.session.epoch]
    room.relay.inject_as(a, b, EnvelopeType.CONTROL, beacon_from(a, real))
    room.relay.pump()
    assert b.session.counters["unauthorized"] == 1 and not room.alerts(b)
    room.relay.inject_as(a, b, EnvelopeType.CONTROL, beacon_from(a, bytes(32)))  # another key
    room.relay.pump()
    assert b.session.counters["unauthorized"] == 2 and room.alerts(b) == ["key_mismatch"]


def test_a_key_from_an_unverifiable_sync_is_caught_by_the_next_beacon() -> None:
    """A member waiting for a re-key secret takes a sync's K_e on trust: the commit's
    key confirmation covers the secret, not K_e (spec §16.2).  A wrong one shows at the
    first beacon of a member on the same head."""
    room = build(listeners=3)
    victim = room.listener
    lost = room.relay.drop(src=room.moderator, to=victim, insider=["pairwise"])
    room.moderator.session.kick(room.listeners[-1].session.me)
    room.relay.pump()
    lost.lift()
    epoch = room.moderator.session.epoch
    assert victim.session._keys.epoch_keys.get(epoch) is None
    mod = room.moderator.session
    message = canonical.encode([int(PairType.SYNC), [], b"\x09" * 32])
    payload = mod._p.pair_out.channel(mod.roster, victim.session.me).seal(message, mod._rng)
    room.relay.inject_as(room.moderator, victim, EnvelopeType.UNICAST, payload)
    room.relay.pump()
    assert victim.session._keys.epoch_keys[epoch] == b"\x09" * 32, "the sync key was taken on trust"
    assert room.alerts(victim) == []
    room.run(room.moderator.session.config.head_beacon + 1)
    assert "key_mismatch" in room.alerts(victim)
