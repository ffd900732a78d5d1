"""The relay's datagram channels without sockets (spec §23.2, §23.4, §23.6, §23.8)."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st
from test_relay_router import TAG, RecordingOutbox, join, send, setup

from e2ee import datagram as dg
from e2ee import datagram_red as red
from e2ee.datagram import DatagramChannel, DatagramGrant, Direction, Kind
from e2ee.envelope import EnvelopeType, decode_envelope, encode_envelope
from relay.config import RelayConfig
from relay.datagram_table import DatagramTable
from relay.router import Link, Router

T = EnvelopeType
ADDR = ("192.0.2.1", 5000)


class Rng:
    """Deterministic stand-in for the relay's CSPRNG."""

    def __init__(self, *forced: bytes) -> None:
        self.forced = list(forced)
        self.n = 0

    def __call__(self, n: int) -> bytes:
        if self.forced:
            return self.forced.pop(0)
        self.n += 1
        return hashlib.shake_256(f"rng {self.n}".encode()).digest(n)


def _wire(**overrides: float) -> tuple[Router, RecordingOutbox, DatagramTable]:
    router, outbox = setup(**overrides)
    table = DatagramTable(router.config, Rng(), 4433)
    router.datagrams = table
    return router, outbox, table


def _client(router: Router, outbox: RecordingOutbox, link: Link) -> DatagramChannel:
    send(router, link, T.DATAGRAM_OFFER, bytes(16))
    [(kind, accept)] = [e for e in outbox.take(link) if e[1].type is T.DATAGRAM_ACCEPT]
    assert kind == "reliable"
    grant = DatagramGrant.decode(accept.payload)
    assert grant.port == 4433
    return DatagramChannel(grant.link_key, grant.token, Direction.CLIENT_TO_RELAY)


def test_offer_without_an_endpoint_is_answered_with_an_empty_accept() -> None:
    router, outbox = setup()
    link = router.open_link(0.0)
    send(router, link, T.DATAGRAM_OFFER, bytes(16))
    [(_, accept)] = outbox.take(link)
    assert accept.type is T.DATAGRAM_ACCEPT and accept.payload == b""


def test_offers_take_the_join_bucket() -> None:
    router, outbox, _ = _wire(join_rate=1.0, join_burst=3.0)
    link = router.open_link(0.0)
    for _ in range(3):
        send(router, link, T.DATAGRAM_OFFER, bytes(16))
    assert link.id not in outbox.closed
    send(router, link, T.DATAGRAM_OFFER, bytes(16))
    assert outbox.closed[link.id].name == "RATE_LIMITED"


def test_one_channel_per_link_a_new_offer_replaces_it_and_the_end_forgets_it() -> None:
    router, outbox, table = _wire()
    link, _ = join(router, outbox, 0)
    old = _client(router, outbox, link)
    new = _client(router, outbox, link)
    assert len(table) == 1 and old.token != new.token
    assert table.receive(old.seal(Kind.PROBE, dg.probe_body(0)), ADDR, 0.0) is None
    assert table.counts["unknown_token"] == 1
    assert table.receive(new.seal(Kind.PROBE, dg.probe_body(0)), ADDR, 0.0) is not None
    router.close_link(link)
    assert len(table) == 0


def test_a_colliding_token_is_drawn_again() -> None:
    token = b"\x07" * 8
    router, _ = setup()
    table = DatagramTable(router.config, Rng(token, bytes(32), token, b"\x08" * 8), 1)
    router.datagrams = table
    a, b = router.open_link(0.0), router.open_link(0.0)
    assert DatagramGrant.decode(table.offer(a, 0.0)).token == token
    assert DatagramGrant.decode(table.offer(b, 0.0)).token == b"\x08" * 8


def test_probe_is_acked_with_a_datagram_of_the_same_size() -> None:
    router, outbox, table = _wire()
    link, _ = join(router, outbox, 0)
    client = _client(router, outbox, link)
    probe = client.seal(Kind.PROBE, dg.probe_body(42), dg.FLAG_RECEIVING, floor=192)
    got = table.receive(probe, ADDR, 0.0)
    assert got is not None and got.reply is not None and got.envelopes == ()
    assert len(got.reply) == len(probe) and got.address == ADDR
    ack = client.open(got.reply)
    assert ack.kind is Kind.PROBE_ACK and dg.probe_id(ack.body) == 42


def test_media_by_datagram_is_routed_as_if_it_came_over_the_link() -> None:
    router, outbox, table = _wire()
    a, _ = join(router, outbox, 0)
    b, _ = join(router, outbox, 0)
    client = _client(router, outbox, a)
    outbox.take(b)  # the PEER_JOINED notices
    env = encode_envelope(T.MEDIA, TAG, 0, b"frame")
    got = table.receive(client.seal(Kind.MEDIA, env), ADDR, 1.0)
    assert got is not None and got.link is a and len(got.envelopes) == 1
    router.receive(got.link, got.envelopes, 1.0)
    [(kind, forwarded)] = outbox.take(b)
    assert (kind, forwarded.type, forwarded.payload) == ("media", T.MEDIA, b"frame")


def test_a_non_media_envelope_inside_a_datagram_is_dropped() -> None:
    router, outbox, table = _wire()
    link, _ = join(router, outbox, 0)
    client = _client(router, outbox, link)
    for body in (encode_envelope(T.CONTROL, TAG, 0, b"x"), b"not an envelope"):
        assert table.receive(client.seal(Kind.MEDIA, body), ADDR, 0.0) is None
    assert table.counts["malformed"] == 2


def test_relay_sends_by_datagram_only_while_the_client_says_receiving() -> None:
    router, outbox, table = _wire(datagram_path_timeout=0.2)
    link, _ = join(router, outbox, 0)
    client = _client(router, outbox, link)
    media = encode_envelope(T.MEDIA, TAG, 3, b"frame")
    assert table.seal_media(link, media, 0.0) is None  # nothing heard yet
    table.receive(client.seal(Kind.PROBE, dg.probe_body(0), dg.FLAG_RECEIVING), ADDR, 1.0)
    sealed = table.seal_media(link, media, 1.2)  # at the timeout: still up
    assert sealed is not None and sealed[1] == ADDR
    opened = client.open(sealed[0])
    assert opened.kind is Kind.MEDIA and decode_envelope(opened.body).slot == 3
    assert table.seal_media(link, media, 1.21) is None  # past the timeout: the link
    table.receive(client.seal(Kind.PROBE, dg.probe_body(1), dg.FLAG_RECEIVING), ADDR, 2.0)
    assert table.seal_media(link, media, 2.0) is not None
    table.receive(client.seal(Kind.PROBE, dg.probe_body(2)), ADDR, 2.01)  # not receiving
    assert table.seal_media(link, media, 2.01) is None


def test_media_too_large_for_a_datagram_goes_over_the_link() -> None:
    router, outbox, table = _wire()
    link, _ = join(router, outbox, 0)
    client = _client(router, outbox, link)
    table.receive(client.seal(Kind.PROBE, dg.probe_body(0), dg.FLAG_RECEIVING), ADDR, 0.0)
    largest = encode_envelope(T.MEDIA, TAG, 1, bytes(dg.MAX_PLAINTEXT - 3 - 26))
    assert table.seal_media(link, largest, 0.0) is not None
    assert table.seal_media(link, largest + b"x", 0.0) is None


def test_the_reply_address_follows_the_highest_counter() -> None:
    router, outbox, table = _wire()
    link, _ = join(router, outbox, 0)
    client = _client(router, outbox, link)
    early = client.seal(Kind.PROBE, dg.probe_body(0), dg.FLAG_RECEIVING)
    late = client.seal(Kind.PROBE, dg.probe_body(1), dg.FLAG_RECEIVING)
    moved = ("198.51.100.7", 6000)
    table.receive(late, moved, 0.0)
    table.receive(early, ADDR, 0.0)  # older counter from the old address: no move back
    media = encode_envelope(T.MEDIA, TAG, 1, b"x")
    sealed = table.seal_media(link, media, 0.0)
    assert sealed is not None and sealed[1] == moved


def test_replays_forgeries_and_junk_are_dropped_and_counted() -> None:
    router, outbox, table = _wire()
    link, _ = join(router, outbox, 0)
    client = _client(router, outbox, link)
    probe = client.seal(Kind.PROBE, dg.probe_body(0))
    assert table.receive(probe, ADDR, 0.0) is not None
    assert table.receive(probe, ADDR, 0.0) is None  # replay
    fresh = client.seal(Kind.PROBE, dg.probe_body(1))
    assert table.receive(fresh[:-1] + bytes([fresh[-1] ^ 1]), ADDR, 0.0) is None  # forged
    assert table.receive(b"\x00" * (dg.MIN_DATAGRAM - 1), ADDR, 0.0) is None
    assert table.receive(b"\x00" * dg.MIN_DATAGRAM, ADDR, 0.0) is None
    assert table.counts["replay"] == table.counts["authentication"] == 1
    assert (table.counts["malformed"], table.counts["unknown_token"]) == (1, 1)
    assert table.counts["received"] == 5 and table.counts["accepted"] == 1


def test_datagrams_beyond_the_channel_bucket_are_dropped_unopened() -> None:
    router, outbox, table = _wire(datagram_rate=10.0, datagram_burst=5.0)
    link, _ = join(router, outbox, 0)
    client = _client(router, outbox, link)
    sent = [client.seal(Kind.PROBE, dg.probe_body(i)) for i in range(7)]
    opened = [table.receive(d, ADDR, 0.0) is not None for d in sent]
    assert opened == [True] * 5 + [False] * 2
    assert table.counts["over_rate"] == 2
    assert table.receive(client.seal(Kind.PROBE, dg.probe_body(9)), ADDR, 0.1) is not None


def test_defaults_match_the_spec_bounds() -> None:
    cfg = RelayConfig()
    assert (cfg.datagram_path_timeout, cfg.datagram_rate, cfg.datagram_burst) == (0.2, 2000, 4000)
    assert cfg.datagram_port is None


@given(st.binary(max_size=1200), st.booleans())
def test_hostile_datagrams_never_raise(data: bytes, known_token: bool) -> None:
    router, outbox, table = _wire()
    link, _ = join(router, outbox, 0)
    client = _client(router, outbox, link)
    datagram = (client.token + data) if known_token else data
    assert table.receive(datagram, ADDR, 0.0) is None
    drops = ("malformed", "unknown_token", "over_rate", "replay", "authentication")
    assert sum(table.counts[reason] for reason in drops) == 1


def test_relay_sends_copies_while_the_client_asks_and_asks_for_them_on_a_lossy_uplink() -> None:
    router, outbox, table = _wire()
    link, _ = join(router, outbox, 0)
    client = _client(router, outbox, link)
    flags = dg.FLAG_RECEIVING | dg.FLAG_REDUNDANT
    probe = client.seal(Kind.PROBE, dg.probe_body(0), flags)
    got = table.receive(probe, ADDR, 0.0)
    assert got is not None and got.reply is not None
    assert client.open(got.reply).flags == 0  # the uplink lost nothing yet
    kinds = []
    for i in range(red.DISTANCE + 1):
        sealed = table.seal_media(link, encode_envelope(T.MEDIA, TAG, 1, bytes([i]) * 90), 0.0)
        assert sealed is not None
        kinds.append(client.open(sealed[0]).kind)
    assert kinds == [Kind.MEDIA] * red.DISTANCE + [Kind.MEDIA_RED]
    # the client's datagrams lose one of WINDOW: the relay asks it for copies
    client.next_counter += 1
    for i in range(red.WINDOW):
        table.receive(client.seal(Kind.PROBE, dg.probe_body(i), dg.FLAG_RECEIVING), ADDR, 0.0)
    got = table.receive(client.seal(Kind.PROBE, dg.probe_body(0), dg.FLAG_RECEIVING), ADDR, 0.0)
    assert got is not None and got.reply is not None
    assert client.open(got.reply).flags == dg.FLAG_REDUNDANT
    sealed = table.seal_media(link, encode_envelope(T.MEDIA, TAG, 1, b"x" * 90), 0.0)
    assert sealed is not None and client.open(sealed[0]).kind is Kind.MEDIA  # no longer asked


def test_a_copy_of_a_lost_frame_is_routed_before_its_carrier_and_counted() -> None:
    router, outbox, table = _wire()
    a, _ = join(router, outbox, 0)
    b, _ = join(router, outbox, 0)
    client = _client(router, outbox, a)
    outbox.take(b)
    frames = [encode_envelope(T.MEDIA, TAG, 0, bytes([i]) * 90) for i in range(5)]
    first = client.seal(Kind.MEDIA, frames[0])
    client.seal(Kind.MEDIA, frames[1])  # lost on the way
    assert table.receive(first, ADDR, 1.0) is not None
    carrier = client.seal(Kind.MEDIA_RED, dg.red_body(1, frames[2], frames[1]))
    got = table.receive(carrier, ADDR, 1.0)
    assert got is not None
    assert [e.payload for e in got.envelopes] == [bytes([1]) * 90, bytes([2]) * 90]
    assert table.counts["recovered"] == 1
    router.receive(got.link, got.envelopes, 1.0)
    assert [e.payload[0] for _, e in outbox.take(b)] == [1, 2]
    again = client.seal(Kind.MEDIA_RED, dg.red_body(2, frames[3], frames[1]))
    got = table.receive(again, ADDR, 1.0)  # frame 1 is in already: only the carrier
    assert got is not None and [e.payload[0] for e in got.envelopes] == [3]
