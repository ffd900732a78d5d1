"""Cluster nodes over the in-memory engine behave as one relay (spec §17, §24.3)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from e2ee.envelope import DeliveryClass, Envelope, EnvelopeType, RelayErrorCode
from relay.cluster.records import Seat

from .scaffold import TAG, Cluster, kinds, refusal

T = EnvelopeType
STAGE = DeliveryClass.STAGE
AUDIENCE = DeliveryClass.AUDIENCE


def _control(payload: bytes) -> Envelope:
    return Envelope(T.CONTROL, TAG, 0, payload)


def _join(cls: DeliveryClass) -> Envelope:
    return Envelope(T.JOIN, TAG, 0, bytes((cls,)))


def test_slots_are_unique_across_nodes_and_the_lowest_free_is_reused() -> None:
    c = Cluster()
    links = [c.join(i % 3) for i in range(6)]
    assert [c.slot(link) for link in links] == list(range(6))
    c.close(links[1])
    c.close(links[4])
    again = c.join(2)
    assert c.slot(again) == 1
    for node in (c.nodes[0], c.nodes[2]):
        assert sorted(node.seats(TAG)) == [0, 1, 2, 3, 5]
    assert c.nodes[1].seats(TAG) == {}  # no link left there: it no longer follows the room


def test_welcome_comes_with_the_order_and_the_stage_joiner_gets_the_roster() -> None:
    c = Cluster()
    a = c.join(0)
    b = c.join(1, AUDIENCE)
    c.take(a), c.take(b)
    s = c.join(2)
    assert kinds(c.take(s)) == [(T.WELCOME, 2), (T.PEER_JOINED, 0), (T.PEER_JOINED, 1)]
    assert kinds(c.take(a)) == [(T.PEER_JOINED, 2)]
    assert c.take(b) == []  # PEER_JOINED goes to the stage only


def test_every_node_delivers_one_order_its_own_links_included() -> None:
    c = Cluster()
    links = [c.join(i) for i in range(3)]
    for link in links:
        c.take(link)
    # two senders on two nodes write before the engine runs: one order for everybody
    c.nodes[0].receive(links[0], [_control(b"from 0")], 0.0)
    c.nodes[1].receive(links[1], [_control(b"from 1")], 0.0)
    assert c.take(links[0]) == [] and c.take(links[1]) == []  # nothing before the order
    c.engine.pump()
    # every member, each sender included (its echo, spec §17.3), sees the same order
    for link in links:
        assert [(e.slot, e.payload) for _, e in c.take(link)] == [(0, b"from 0"), (1, b"from 1")]


def test_unicast_reaches_a_slot_on_another_node_stamped_with_the_source() -> None:
    c = Cluster()
    a, b = c.join(0), c.join(2)
    c.take(a), c.take(b)
    c.send(a, T.UNICAST, c.slot(b), b"hi")
    assert kinds(c.take(b)) == [(T.UNICAST, c.slot(a))]
    c.send(a, T.UNICAST, 7, b"nobody")
    assert refusal(c.take(a)) == RelayErrorCode.NO_SUCH_SLOT


def test_peer_left_reaches_the_stage_on_every_node_when_a_link_closes() -> None:
    c = Cluster()
    a, b, gone = c.join(0), c.join(1), c.join(2)
    c.take(a), c.take(b)
    c.close(gone)
    assert kinds(c.take(a)) == kinds(c.take(b)) == [(T.PEER_LEFT, 2)]


def test_media_goes_to_the_stage_one_by_one_and_to_the_audience_in_batches_on_every_node() -> None:
    c = Cluster()
    speaker, stage = c.join(0), c.join(1)
    listeners = [c.join(i, AUDIENCE) for i in range(3)]
    for link in (speaker, stage, *listeners):
        c.take(link)
    c.send(speaker, T.MEDIA, 0, b"opus")
    assert c.take(speaker) == []
    assert [(k, e.slot) for k, e in c.take(stage)] == [("media", 0)]
    for link in listeners:
        assert [(k, e.slot, e.payload) for k, e in c.take(link)] == [("batch", 0, b"opus")]
    # a sender in the audience does not hear itself, on its node or another
    c.send(listeners[0], T.MEDIA, 0, b"from the floor")
    assert c.take(listeners[0]) == []
    assert [k for k, _ in c.take(listeners[1])] == ["media"]
    assert [k for k, _ in c.take(listeners[2])] == ["media"]


def test_set_class_moves_a_member_on_every_node_and_sends_the_roster() -> None:
    c = Cluster()
    a = c.join(0)
    b = c.join(1, AUDIENCE)
    c.take(a), c.take(b)
    c.send(b, T.SET_CLASS, 0, bytes((STAGE,)))
    assert kinds(c.take(b)) == [(T.PEER_JOINED, 0)]
    for node in c.nodes[:2]:  # node 2 has no link in the room
        assert node.seats(TAG)[1].cls == STAGE
    c.send(a, T.MEDIA, 0, b"x")
    assert [k for k, _ in c.take(b)] == ["media"]


def test_a_room_full_across_nodes_refuses_the_next_join() -> None:
    c = Cluster(max_members_per_room=3)
    for i in range(3):
        c.join(i)
    late = c.join(1)
    assert refusal(c.take(late)) == RelayErrorCode.ROOM_FULL
    assert TAG not in late.rooms


def test_a_link_that_closes_before_its_join_is_ordered_frees_its_slot() -> None:
    c = Cluster()
    a = c.join(0)
    c.take(a)
    quick = c.link(1)
    c.nodes[1].receive(quick, [_join(STAGE)], 0.0)
    c.nodes[1].close_link(quick)
    c.engine.pump()
    assert kinds(c.take(a)) == [(T.PEER_JOINED, 1), (T.PEER_LEFT, 1)]
    assert sorted(c.nodes[0].seats(TAG)) == [0]
    assert TAG not in c.nodes[1].rooms and c.nodes[1].seats(TAG) == {}


def test_a_second_join_while_the_first_is_in_flight_is_refused() -> None:
    c = Cluster()
    link = c.link(0)
    c.nodes[0].receive(link, [_join(STAGE), _join(STAGE)], 0.0)
    c.engine.pump()
    got = c.take(link)
    assert refusal(got) == RelayErrorCode.ALREADY_JOINED
    assert [e.type for _, e in got].count(T.WELCOME) == 1


def test_a_dead_nodes_members_leave_the_room_on_the_others() -> None:
    c = Cluster()
    a, b, d = c.join(0), c.join(1), c.join(2)
    c.take(a), c.take(b)
    c.engine.node_died(c.nodes[2].node_id)
    c.engine.pump()
    assert kinds(c.take(a)) == kinds(c.take(b)) == [(T.PEER_LEFT, 2)]
    assert c.slot(d) == 2  # the dead node itself is not told (it is gone)


def test_a_node_whose_seat_was_freed_by_the_others_closes_that_link() -> None:
    c = Cluster()
    a, b = c.join(0), c.join(1)
    c.take(a)
    # node 1 was taken for dead, but is still running: the engine freed its seats
    c.engine._free(TAG, c.slot(b), c.nodes[1].node_id)
    assert c.closed(b) == RelayErrorCode.SHUTTING_DOWN
    assert TAG not in b.rooms
    assert kinds(c.take(a)) == [(T.PEER_LEFT, 1)]


def test_a_late_node_starts_from_the_seats_in_the_snapshot() -> None:
    c = Cluster()
    c.join(0), c.join(1, AUDIENCE)
    late = c.join(2)
    assert c.nodes[2].seats(TAG) == {
        0: Seat(c.nodes[0].node_id, STAGE),
        1: Seat(c.nodes[1].node_id, AUDIENCE),
        2: Seat(c.nodes[2].node_id, STAGE),
    }
    assert kinds(c.take(late)) == [(T.WELCOME, 2), (T.PEER_JOINED, 0), (T.PEER_JOINED, 1)]


def test_the_control_byte_cost_counts_members_on_every_node() -> None:
    c = Cluster(byte_rate=1000.0, byte_burst=1000.0)
    links = [c.join(i % 3) for i in range(9)]
    size = 26 + 100
    # 8 recipients: 8 * 126 > 1000, although only 2 others are on the sender's node
    c.send(links[0], T.CONTROL, 0, bytes(100))
    assert c.closed(links[0]) == RelayErrorCode.RATE_LIMITED
    assert 8 * size > 1000 > 2 * size


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.booleans()), min_size=1, max_size=25))
def test_every_member_sees_the_same_order_whatever_the_interleaving(
    steps: list[tuple[int, bool]],
) -> None:
    c = Cluster()
    links = [c.join(i) for i in range(3)]
    for link in links:
        c.take(link)
    for n, (who, settle) in enumerate(steps):
        c.nodes[who].receive(links[who], [_control(b"%d" % n)], 0.0)
        if settle:
            c.engine.pump()
    c.engine.pump()
    seen = [[e.payload for _, e in c.take(link) if e.type is T.CONTROL] for link in links]
    # one order for every member, its own broadcasts (their echoes) included (spec §17.3)
    assert seen[0] == seen[1] == seen[2]
    assert sorted(seen[0], key=int) == [b"%d" % n for n in range(len(steps))]
