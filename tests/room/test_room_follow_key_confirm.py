"""Every commit confirms the epoch key and the fresh secret it builds on (spec §12.3, §15.2).

A moderator that hands one member a different fresh secret, or a sync with a
different key, under the same chain head is caught by that member.
"""

from __future__ import annotations

from attack.scene import Scene, build

from e2ee import canonical
from e2ee.canonical import Value
from e2ee.envelope import EnvelopeType
from e2ee.room import seal
from e2ee.room.commit import key_confirmation, sign_commit
from e2ee.room.control import PairType
from e2ee.room.roster import Policy, op_policy
from room.harness import Link


def moderator_says(room: Scene, to: Link, message: list[Value]) -> None:
    """The moderator itself sends ``message`` over its pair channel with ``to``."""
    mod = room.moderator
    channel = mod.session._p.pair_out.channel(mod.session.roster, to.session.me)
    payload = channel.seal(canonical.encode(message), mod.session._rng)
    room.relay.inject_as(mod, to, EnvelopeType.UNICAST, payload)
    room.relay.pump()


def kick_without_secret_for(room: Scene, victim: Link) -> int:
    """Kick the last listener; ``victim`` gets the commit but not its fresh secret."""
    lost = room.relay.drop(src=room.moderator, to=victim, insider=["pairwise"])
    room.moderator.session.kick(room.listeners[-1].session.me)
    room.relay.pump()
    lost.lift()
    assert lost.hits == 1
    return room.moderator.session.epoch


def test_a_different_fresh_secret_under_the_same_commit_is_refused() -> None:
    room = build(listeners=3)
    victim = room.listener
    epoch = kick_without_secret_for(room, victim)
    head = room.moderator.session.head
    moderator_says(room, victim, [int(PairType.REKEY), epoch, head, b"\x07" * 32])
    assert "key_mismatch" in room.alerts(victim)
    assert victim.session._keys.epoch_keys.get(epoch) is None, "the other secret was not installed"
    room.run(1.0)  # the member asks for a sync and gets the real key
    assert victim.session._keys.epoch_keys[epoch] == room.moderator.session._keys.epoch_keys[epoch]


def test_a_sync_with_another_key_than_the_confirmed_one_is_refused() -> None:
    room = build(listeners=2)
    member = room.listener
    key = member.session._keys.epoch_keys[member.session.epoch]
    moderator_says(room, member, [int(PairType.SYNC), [], b"\x09" * 32])
    assert "key_mismatch" in room.alerts(member)
    assert member.session._keys.epoch_keys[member.session.epoch] == key


def test_a_commit_that_confirms_another_key_is_not_applied() -> None:
    room = build(listeners=2)
    mod, member = room.moderator.session, room.listener
    e = mod.epoch
    ops = [op_policy(Policy.KNOCK)]
    wrong = sign_commit(mod._identity, mod.room_id, e + 1, mod.head, ops, False,
                        key_confirm=key_confirmation(b"\x05" * 32, b""))  # fmt: skip
    sealed = seal.seal_epoch(
        seal.Kind.COMMIT, mod._keys.control[e], mod.room_id, e, wrong.encode(), mod._rng
    )
    room.relay.inject_as(room.moderator, member, EnvelopeType.CONTROL, sealed)
    room.relay.pump()
    assert "key_mismatch" in room.alerts(member)
    assert member.session.epoch == e, "the commit was not applied"
