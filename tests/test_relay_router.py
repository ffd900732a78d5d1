"""Sans-IO routing and accounting (spec §17): no sockets, a recording outbox."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from e2ee.envelope import (
    Envelope,
    EnvelopeType,
    RelayErrorCode,
    decode_envelope,
    encode_envelope,
    parse_error,
)
from relay.config import RelayConfig
from relay.router import Link, Room, Router

T = EnvelopeType
TAG = b"A" * 16
OTHER = b"B" * 16


@dataclass
class RecordingOutbox:
    sent: dict[int, list[tuple[str, Envelope]]] = field(default_factory=dict)
    batches: list[tuple[bytes, Envelope]] = field(default_factory=list)
    closed: dict[int, RelayErrorCode] = field(default_factory=dict)

    def _add(self, link: Link, kind: str, data: bytes) -> None:
        self.sent.setdefault(link.id, []).append((kind, decode_envelope(data)))

    def send_media(self, link: Link, data: bytes, tag: bytes, by_datagram: bool) -> None:
        self._add(link, "media", data)

    def send_reliable(self, link: Link, data: bytes, tag: bytes) -> None:
        self._add(link, "reliable", data)

    def audience_batch(self, room: Room, data: bytes) -> None:
        self.batches.append((room.tag, decode_envelope(data)))

    def close(self, link: Link, code: RelayErrorCode, reason: str) -> None:
        self.closed[link.id] = code

    def take(self, link: Link) -> list[tuple[str, Envelope]]:
        return self.sent.pop(link.id, [])


def setup(**overrides: float) -> tuple[Router, RecordingOutbox]:
    outbox = RecordingOutbox()
    return Router(RelayConfig(**overrides), outbox), outbox  # type: ignore[arg-type]


def send(
    router: Router,
    link: Link,
    etype: EnvelopeType,
    tag: bytes = TAG,
    slot: int = 0,
    payload: bytes = b"",
    now: float = 0.0,
) -> None:
    router.receive(link, [Envelope(etype, tag, slot, payload)], now)


def join(router: Router, outbox: RecordingOutbox, cls: int, tag: bytes = TAG) -> tuple[Link, int]:
    link = router.open_link(0.0)
    send(router, link, T.JOIN, tag, payload=bytes([cls]))
    events = outbox.take(link)
    assert events and events[0][1].type == T.WELCOME
    if events[1:]:
        outbox.sent[link.id] = events[1:]
    return link, events[0][1].slot


def types(events: list[tuple[str, Envelope]]) -> list[tuple[EnvelopeType, int]]:
    return [(e.type, e.slot) for _, e in events]


def test_slots_are_lowest_free_per_room_tag() -> None:
    router, outbox = setup()
    a, sa = join(router, outbox, 1)
    b, sb = join(router, outbox, 1)
    _c, sc = join(router, outbox, 1)
    assert (sa, sb, sc) == (0, 1, 2)
    send(router, b, T.LEAVE)
    _d, sd = join(router, outbox, 1)
    assert sd == 1
    # the same link gets an independent slot in another tag
    send(router, a, T.JOIN, OTHER, payload=b"\x01")
    assert types(outbox.take(a)) == [(T.WELCOME, 0)]


def test_stage_learns_joins_and_leaves_audience_does_not() -> None:
    router, outbox = setup()
    listener, sl = join(router, outbox, 1)
    speaker, _ss = join(router, outbox, 0)
    # a stage joiner is told every occupied slot
    assert types(outbox.take(speaker)) == [(T.PEER_JOINED, sl)]
    late, slate = join(router, outbox, 1)
    assert types(outbox.take(speaker)) == [(T.PEER_JOINED, slate)]
    assert outbox.take(listener) == []
    router.close_link(late)
    assert types(outbox.take(speaker)) == [(T.PEER_LEFT, slate)]
    assert outbox.take(listener) == []
    assert TAG in router.rooms


def test_media_stage_first_audience_batched_never_echoed() -> None:
    router, outbox = setup()
    s1, slot1 = join(router, outbox, 0)
    s2, _ = join(router, outbox, 0)
    aud, _ = join(router, outbox, 1)
    outbox.take(s1)
    outbox.take(s2)
    send(router, s1, T.MEDIA, payload=b"frame")
    assert outbox.take(s1) == []  # not echoed
    assert [(k, e.type, e.slot, e.payload) for k, e in outbox.take(s2)] == [
        ("media", T.MEDIA, slot1, b"frame")
    ]
    assert outbox.take(aud) == []
    assert [(tag, e.slot, e.payload) for tag, e in outbox.batches] == [(TAG, slot1, b"frame")]


def test_media_from_an_audience_member_skips_the_batch_and_itself() -> None:
    router, outbox = setup()
    a1, s1 = join(router, outbox, 1)
    a2, _ = join(router, outbox, 1)
    send(router, a1, T.MEDIA, payload=b"x")
    assert outbox.batches == []
    assert outbox.take(a1) == []
    assert [(e.type, e.slot) for _, e in outbox.take(a2)] == [(T.MEDIA, s1)]


def test_no_batch_for_a_room_without_audience() -> None:
    router, outbox = setup()
    s1, _ = join(router, outbox, 0)
    send(router, s1, T.MEDIA, payload=b"x")
    assert outbox.batches == []


def test_control_is_reliable_to_every_member_its_sender_included() -> None:
    router, outbox = setup()
    s1, _slot1 = join(router, outbox, 0)
    a1, slot_a1 = join(router, outbox, 1)
    a2, _ = join(router, outbox, 1)
    outbox.take(s1)
    send(router, a1, T.CONTROL, payload=b"hand")
    for link in (s1, a1, a2):  # the sender's echo, stamped with its own slot (spec §17.3)
        assert [(k, e.type, e.slot, e.payload) for k, e in outbox.take(link)] == [
            ("reliable", T.CONTROL, slot_a1, b"hand")
        ]


def test_a_broadcasts_echo_takes_its_place_in_the_one_reliable_order() -> None:
    router, outbox = setup()
    links = [join(router, outbox, 0)[0] for _ in range(3)]
    for link in links:
        outbox.take(link)
    send(router, links[0], T.CONTROL, payload=b"first")
    send(router, links[1], T.CONTROL, payload=b"second")
    send(router, links[0], T.UNICAST, slot=2, payload=b"third")
    send(router, links[2], T.CONTROL, payload=b"fourth")
    orders = [[e.payload for _, e in outbox.take(link)] for link in links]
    assert orders[0] == orders[1] == [b"first", b"second", b"fourth"]
    assert orders[2] == [b"first", b"second", b"third", b"fourth"]


def test_unicast_is_stamped_with_the_source_slot() -> None:
    router, outbox = setup()
    a, sa = join(router, outbox, 1)
    b, sb = join(router, outbox, 1)
    # the client cannot choose its source: slot carries the destination
    send(router, a, T.UNICAST, slot=sb, payload=b"key")
    got = outbox.take(b)
    assert [(k, e.type, e.slot, e.payload) for k, e in got] == [("reliable", T.UNICAST, sa, b"key")]
    send(router, a, T.UNICAST, slot=99, payload=b"key")
    [(_, err)] = outbox.take(a)
    assert err.type == T.ERROR and parse_error(err)[0] == RelayErrorCode.NO_SUCH_SLOT
    assert a.id not in outbox.closed


def test_not_joined_and_refusals_keep_the_link_open() -> None:
    router, outbox = setup(max_rooms_per_connection=1, max_members_per_room=1)
    link = router.open_link(0.0)
    send(router, link, T.MEDIA, payload=b"x")
    send(router, link, T.JOIN, payload=b"\x00")
    send(router, link, T.JOIN, payload=b"\x00")
    send(router, link, T.JOIN, OTHER, payload=b"\x00")
    other = router.open_link(0.0)
    send(router, other, T.JOIN, payload=b"\x00")
    codes = [parse_error(e)[0] for _, e in outbox.take(link) if e.type == T.ERROR]
    assert codes == [
        RelayErrorCode.NOT_JOINED,
        RelayErrorCode.ALREADY_JOINED,
        RelayErrorCode.TOO_MANY_ROOMS,
    ]
    assert [parse_error(e)[0] for _, e in outbox.take(other)] == [RelayErrorCode.ROOM_FULL]
    assert outbox.closed == {}


def test_relay_types_from_a_client_close_the_link() -> None:
    router, outbox = setup()
    link = router.open_link(0.0)
    send(router, link, T.WELCOME)
    assert outbox.closed == {link.id: RelayErrorCode.UNEXPECTED_TYPE}
    assert router.stats.errors["UNEXPECTED_TYPE"] == 1


def test_nonzero_broadcast_slot_is_malformed() -> None:
    router, outbox = setup()
    link, _ = join(router, outbox, 0)
    send(router, link, T.MEDIA, slot=5, payload=b"x")
    assert outbox.closed == {link.id: RelayErrorCode.MALFORMED}


def test_rate_limit_is_a_token_bucket() -> None:
    router, outbox = setup(envelope_rate=10.0, envelope_burst=5.0)
    link = router.open_link(0.0)
    ping = Envelope(T.PING, TAG, 0, b"")
    router.receive(link, [ping] * 5, 0.0)
    assert outbox.closed == {}
    router.receive(link, [ping], 0.1)  # one token refilled
    assert outbox.closed == {}
    router.receive(link, [ping, ping], 0.1)
    assert outbox.closed == {link.id: RelayErrorCode.RATE_LIMITED}
    pongs = [e for _, e in outbox.take(link) if e.type == T.PONG]
    assert len(pongs) == 6


def test_ping_is_answered_with_the_same_payload() -> None:
    router, outbox = setup()
    link = router.open_link(0.0)
    send(router, link, T.PING, payload=b"token")
    [(kind, pong)] = outbox.take(link)
    assert (kind, pong.type, pong.payload) == ("reliable", T.PONG, b"token")


def test_set_class_moves_between_stage_and_audience() -> None:
    router, outbox = setup()
    speaker, ss = join(router, outbox, 0)
    listener, _sl = join(router, outbox, 1)
    outbox.take(speaker)
    send(router, listener, T.SET_CLASS, payload=b"\x00")  # promoted to speaker
    assert types(outbox.take(listener)) == [(T.PEER_JOINED, ss)]
    send(router, speaker, T.MEDIA, payload=b"f")
    assert [e.type for _, e in outbox.take(listener)] == [T.MEDIA]
    assert outbox.batches == []
    send(router, listener, T.SET_CLASS, payload=b"\x01")
    send(router, speaker, T.MEDIA, payload=b"g")
    assert outbox.take(listener) == []
    assert len(outbox.batches) == 1


def test_room_disappears_with_its_last_member() -> None:
    router, outbox = setup()
    a, _ = join(router, outbox, 0)
    assert router.stats.rooms_open == 1
    router.close_link(a)
    assert router.rooms == {} and router.stats.rooms_open == 0


def test_envelopes_after_a_close_are_ignored() -> None:
    router, outbox = setup()
    link = router.open_link(0.0)
    bad = Envelope(T.PONG, TAG, 0, b"")
    router.receive(link, [bad, Envelope(T.PING, TAG, 0, b"")], 0.0)
    assert outbox.closed == {link.id: RelayErrorCode.UNEXPECTED_TYPE}
    assert outbox.take(link) == []


def test_encoded_forward_matches_the_wire_format() -> None:
    router, outbox = setup()
    a, sa = join(router, outbox, 0)
    b, _ = join(router, outbox, 0)
    outbox.take(a)
    outbox.take(b)
    send(router, a, T.MEDIA, payload=b"abc")
    [(_, env)] = outbox.take(b)
    assert encode_envelope(env.type, env.room_tag, env.slot, env.payload) == (
        b"\x01\x10" + TAG + sa.to_bytes(4, "big") + b"\x00\x00\x00\x03abc"
    )


def test_metrics_render_is_aggregate_prometheus_text() -> None:
    from relay.stats import RelayStats

    stats = RelayStats()
    stats.observe_batch_delay(0.004)
    stats.observe_batch_delay(0.04)
    stats.observe_batch_delay(5.0)
    stats.errors["RATE_LIMITED"] += 2
    text = stats.render()
    assert 'hushroom_relay_audience_batch_delay_seconds_bucket{le="0.005"} 1' in text
    assert 'hushroom_relay_audience_batch_delay_seconds_bucket{le="0.05"} 2' in text
    assert 'hushroom_relay_audience_batch_delay_seconds_bucket{le="2.0"} 2' in text
    assert 'hushroom_relay_audience_batch_delay_seconds_bucket{le="+Inf"} 3' in text
    assert "hushroom_relay_audience_batch_delay_seconds_count 3" in text
    assert 'hushroom_relay_errors_total{code="RATE_LIMITED"} 2' in text
    for line in text.splitlines():
        assert line.startswith(
            ("# HELP hushroom_relay_", "# TYPE hushroom_relay_", "hushroom_relay_")
        )


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 7), st.integers(0, 1)), max_size=60))
def test_slots_stay_unique_and_lowest_free(ops: list[tuple[bool, int, int]]) -> None:
    """Any sequence of joins and leaves: slots unique per tag, each JOIN gets the lowest free."""
    router, outbox = setup()
    links = [router.open_link(0.0) for _ in range(8)]
    tags = [TAG, OTHER]
    for join_op, who, which in ops:
        link, tag = links[who], tags[which]
        if join_op and tag not in link.rooms:
            room = router.rooms.get(tag)
            taken = set(room.members) if room else set()
            expected = min(set(range(len(taken) + 1)) - taken)
            send(router, link, T.JOIN, tag, payload=b"\x01")
            assert link.rooms[tag].slot == expected
        elif not join_op and tag in link.rooms:
            send(router, link, T.LEAVE, tag)
        outbox.sent.clear()
    for tag, room in router.rooms.items():
        assert room.members, "empty rooms are forgotten"
        assert {m.slot for m in room.members.values()} == set(room.members)
        assert set(room.stage) | set(room.audience) == set(room.members)
        for slot, member in room.members.items():
            assert member.link.rooms[tag] is member and member.slot == slot
