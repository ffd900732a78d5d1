"""A catch-up reply is proportional to what the asker can be missing (spec §16.4, §16.7).

A sync request is believed only as far as the epoch key it is sealed under; a
request under a key superseded longer than the grace ago is refused; a member
that is further behind learns it from a beacon and is sent a snapshot, at most
one per SNAPSHOT_INTERVAL.
"""

from __future__ import annotations

from attack.hostile import insider_kind
from attack.scene import Scene, build

from e2ee.envelope import HEADER_LEN, Envelope, EnvelopeType
from e2ee.room import seal
from e2ee.room.control import ControlType, sign_control
from e2ee.room.session import RoomConfig
from e2ee.room.sync_pacer import SNAPSHOT_INTERVAL


def churn(room: Scene, times: int) -> None:
    """``times`` hand raises and lowers by the second listener: 2 x ``times`` commits."""
    hand = room.listeners[1]
    for _ in range(times):
        hand.session.raise_hand()
        room.relay.pump()
        hand.session.lower_hand()
        room.relay.pump()


def request_sealed_under(room: Scene, epoch: int, key: bytes) -> bytes:
    """A SYNC_REQUEST from the first listener that claims epoch 0, sealed under ``epoch``."""
    s, mod = room.listener.session, room.moderator.session
    s._control_out.seq += 1
    signed = sign_control(
        s._identity, s._session_key.public, s.room_id, ControlType.SYNC_REQUEST,
        s._control_out.seq - 1, 0, mod._chain.heads[0], [],
    )  # fmt: skip
    return seal.seal_epoch(seal.Kind.CONTROL, key, s.room_id, epoch, signed, s._rng)


def bytes_back(room: Scene, payload: bytes) -> int:
    """Send ``payload`` from the first listener to the moderator; the bytes sent back."""
    asker, mod = room.listener, room.moderator
    assert mod.slot is not None
    mark = len(room.relay.seen)
    room.relay.client_sends(asker, Envelope(EnvelopeType.UNICAST, asker.session.room_tag,
                                            mod.slot, payload))  # fmt: skip
    room.relay.pump()
    return sum(
        HEADER_LEN + len(d.env.payload)
        for d in room.relay.seen[mark:]
        if d.src is mod and d.to is asker
    )


def test_a_request_sealed_within_the_grace_gets_only_the_commits_since_its_seal() -> None:
    room = build(listeners=2, config=RoomConfig(key_grace=5.0))
    start = room.moderator.session.epoch
    old_key = room.listener.session._keys.control[start]
    churn(room, 10)  # 20 commits, all within the grace (the clock does not move)
    mod = room.moderator.session
    assert mod.epoch == start + 20
    two_back = mod.epoch - 2
    near = bytes_back(room, request_sealed_under(room, two_back, mod._keys.control[two_back]))
    room.run(1.0)  # the sync pacer's interval
    far = bytes_back(room, request_sealed_under(room, start, old_key))
    assert 0 < near < far, "the reply grows with the commits made since the seal, not the claim"
    assert mod.counters["sync_not_behind"] == 0


def test_a_request_sealed_under_an_expired_key_is_refused() -> None:
    room = build(listeners=2)
    start = room.moderator.session.epoch
    old_key = room.listener.session._keys.control[start]
    churn(room, 1)
    mod = room.moderator.session
    # the superseded key has passed its grace, but no timer has run to drop it yet
    room.relay.now += mod.config.key_grace + 0.1
    refused = mod.counters["stale_key"]
    assert bytes_back(room, request_sealed_under(room, start, old_key)) == 0
    assert mod.counters["stale_key"] == refused + 1


def test_a_far_behind_members_beacon_earns_one_snapshot_per_interval() -> None:
    room = build(listeners=2)
    late = room.listener
    cut = room.relay.withhold(to=late, types=(EnvelopeType.CONTROL, EnvelopeType.UNICAST))
    churn(room, 2)
    room.run(room.moderator.session.config.head_beacon + 1)  # late's beacon to the moderator
    cut.lift()
    beacons = [d for d in room.relay.seen if d.src is late and insider_kind(d) == "beacon"]
    assert beacons, "the late listener sent its beacon"
    snapshots = [d for d in cut.held if insider_kind(d) == "pairwise"]
    assert len(snapshots) == 1, "the beacon earned one catch-up over the pair channel"
    replay = room.relay.withhold(to=late, src=room.moderator)
    for _ in range(20):  # the relay (or the member) repeats the beacon
        room.relay.replay(beacons[-1:])
        room.relay.pump()
        room.run(SNAPSHOT_INTERVAL / 20)
    assert len([d for d in replay.held if insider_kind(d) == "pairwise"]) <= 2
    replay.release()
    cut.release()
    room.relay.pump()
    assert late.session.head == room.moderator.session.head
