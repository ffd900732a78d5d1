"""Byte-rate limits and the per-source MEDIA allowance (spec §17.3, §17.5), sans-IO.

The envelope bucket alone let one link send 2,000 envelopes of 256 KiB per
second: a CONTROL flood closed honest members as slow consumers, and a
MEDIA flood pushed the speakers' audio out of the listeners' queues.
"""

from __future__ import annotations

from hypothesis import given, seed, settings
from hypothesis import strategies as st
from test_relay_router import TAG, RecordingOutbox, join, send, setup

from e2ee.envelope import (
    CLIENT_TYPES,
    HEADER_LEN,
    EnvelopeDecoder,
    EnvelopeType,
    RelayErrorCode,
    encode_envelope,
)
from e2ee.errors import RemoteProtocolError
from relay.config import RelayConfig
from relay.router import Link, Router

T = EnvelopeType
BIG = 256 * 1024


def room_of(router: Router, outbox: RecordingOutbox, members: int, cls: int = 1) -> list[Link]:
    links = [join(router, outbox, cls)[0] for _ in range(members)]
    for link in links:
        outbox.take(link)
    return links


class CountingOutbox(RecordingOutbox):
    """Counts reliable bytes per link instead of keeping them (a flood is gigabytes)."""

    def __init__(self) -> None:
        super().__init__()
        self.reliable_bytes: dict[int, int] = {}

    def send_reliable(self, link: Link, data: bytes, tag: bytes) -> None:
        self.reliable_bytes[link.id] = self.reliable_bytes.get(link.id, 0) + len(data)


def test_control_flood_is_closed_by_the_byte_bucket_and_honest_members_stay() -> None:
    outbox = CountingOutbox()
    router = Router(RelayConfig(), outbox)
    cfg = router.config
    honest = [router.open_link(0.0) for _ in range(3)]
    flooder = router.open_link(0.0)
    for link in [*honest, flooder]:
        send(router, link, T.JOIN, payload=b"\x01")
    outbox.reliable_bytes.clear()
    payload = bytes(BIG)
    sent = 0
    for i in range(20_000):  # 10 s at 2,000/s: inside the envelope rate
        send(router, flooder, T.CONTROL, payload=payload, now=i / 2_000)
        if flooder.id in outbox.closed:
            break
        sent += 1
    assert outbox.closed == {flooder.id: RelayErrorCode.RATE_LIMITED}
    delivered = max(outbox.reliable_bytes[link.id] for link in honest)
    seconds = sent / 2_000
    # each honest member got at most the flooder's byte allowance, split three ways
    assert delivered * 3 <= cfg.byte_burst + cfg.byte_rate * seconds
    assert router.stats.errors == {"RATE_LIMITED": 1}


def rekey(router: Router, moderator: Link, others: list[Link], now: float) -> None:
    """A kick at 5,000 members (spec §16.6): one commit broadcast, one fresh secret each."""
    send(router, moderator, T.CONTROL, payload=bytes(COMMIT), now=now)
    for slot in range(1, len(others) + 1):
        send(router, moderator, T.UNICAST, slot=slot, payload=bytes(FRESH), now=now)


#: sealed commit and pairwise re-key payloads, rounded up from spec §16.6
#: (635 kB sent by the moderator for 4,999 re-key messages: 127 B each on the wire)
COMMIT, FRESH = 320, 127 - HEADER_LEN


def rekey_charge(members: int) -> int:
    """Byte-bucket cost of one re-key: the commit once per member (its echo to the
    moderator included, spec §17.3), each UNICAST once."""
    return (HEADER_LEN + COMMIT) * members + (HEADER_LEN + FRESH) * (members - 1)


def test_moderator_rekeying_5000_members_passes_the_byte_bucket() -> None:
    router, outbox = setup()
    moderator, _ = join(router, outbox, 0)
    others = room_of(router, outbox, 4_999)
    outbox.take(moderator)
    for kick in range(4):  # four kicks in quick succession
        rekey(router, moderator, others, now=kick * 0.25)
    assert outbox.closed == {}
    assert all(len(outbox.take(link)) == 8 for link in others)


def test_byte_burst_is_exact_at_its_bound() -> None:
    charge = rekey_charge(50)
    for burst, closed in ((charge, False), (charge - 1, True)):
        router, outbox = setup(byte_burst=float(burst), byte_rate=1.0)
        links = [router.open_link(0.0) for _ in range(50)]
        full = 2.0 * burst  # a new link's bucket starts with one second's worth; wait until full
        for link in links:
            send(router, link, T.JOIN, payload=b"\x01", now=full)
        moderator = links[0]
        # the JOIN took HEADER_LEN + 1 tokens: the bucket is full again that much later
        rekey(router, moderator, links[1:], now=full + HEADER_LEN + 1)
        assert (moderator.id in outbox.closed) is closed
        assert set(outbox.closed) <= {moderator.id}


def test_a_new_links_byte_bucket_holds_one_second_not_the_burst() -> None:
    router, outbox = setup(byte_rate=1_000.0, byte_burst=1e9)
    link = router.open_link(0.0)
    send(router, link, T.JOIN, payload=b"\x01")
    send(router, link, T.CONTROL, payload=bytes(1_000 - 2 * HEADER_LEN - 1))
    assert outbox.closed == {}
    send(router, link, T.CONTROL, payload=b"x")
    assert outbox.closed == {link.id: RelayErrorCode.RATE_LIMITED}


def test_one_source_cannot_crowd_other_speakers_out_of_the_audience() -> None:
    router, outbox = setup()
    cfg = router.config
    speaker, s_slot = join(router, outbox, 0)
    flooder, f_slot = join(router, outbox, 0)
    room_of(router, outbox, 20)
    for tick in range(50):  # one second: the speaker sends 50 Opus-sized frames
        now = tick / 50
        send(router, speaker, T.MEDIA, payload=b"s%03d" % tick + bytes(156), now=now)
        for _ in range(40):  # the flooder sends 2,000 frames of 1,000 bytes
            send(router, flooder, T.MEDIA, payload=bytes(1_000), now=now)
    heard = [e for _, e in outbox.batches if e.slot == s_slot]
    flood = [e for _, e in outbox.batches if e.slot == f_slot]
    assert [e.payload[:4] for e in heard] == [b"s%03d" % t for t in range(50)]
    flood_bytes = sum(HEADER_LEN + len(e.payload) for e in flood)
    assert flood_bytes <= cfg.media_byte_burst + cfg.media_byte_rate * 1.0
    assert len(flood) <= cfg.media_burst + cfg.media_rate * 1.0
    assert router.stats.media_over_rate == 2_000 - len(flood)
    # the stage hears the same bound
    to_speaker = [e for _, e in outbox.take(speaker) if e.type == T.MEDIA]
    assert len(to_speaker) == len(flood)
    assert outbox.closed == {}


def test_media_allowance_is_per_room_tag_member() -> None:
    config = RelayConfig()
    router, outbox = setup(media_burst=3.0, media_rate=2.0)
    assert config.media_burst != router.config.media_burst
    a, a_slot = join(router, outbox, 0)
    b, b_slot = join(router, outbox, 0)
    room_of(router, outbox, 1)
    for _ in range(4):  # a new membership starts with one second's worth: 2
        send(router, a, T.MEDIA, payload=b"a")
        send(router, b, T.MEDIA, payload=b"b")
    slots = [e.slot for _, e in outbox.batches]
    assert slots.count(a_slot) == 2 and slots.count(b_slot) == 2
    for _ in range(4):  # ten seconds later the bucket holds the burst, not more
        send(router, a, T.MEDIA, payload=b"a", now=10.0)
    assert [e.slot for _, e in outbox.batches].count(a_slot) == 2 + 3
    assert TAG in router.rooms


def test_join_and_set_class_are_rate_limited_at_the_burst() -> None:
    """Each JOIN notifies the whole stage; a JOIN/LEAVE loop used to swamp it (spec §17.5)."""
    for late, closed in ((0.0, True), (0.1, False)):  # 0.1 s refills one token at 10/s
        router, outbox = setup()
        speaker, _ = join(router, outbox, 0)
        link = router.open_link(0.0)
        for i in range(50):  # the burst: 25 JOIN/LEAVE pairs and 25 SET_CLASS
            if i % 2 == 0:
                send(router, link, T.JOIN, payload=b"\x01")
            else:
                send(router, link, T.SET_CLASS, payload=b"\x00")
                send(router, link, T.LEAVE)
        assert outbox.closed == {}
        send(router, link, T.JOIN, payload=b"\x01", now=late)
        assert (outbox.closed.get(link.id) == RelayErrorCode.RATE_LIMITED) is closed
        notices = [e.type for _, e in outbox.take(speaker)]
        assert notices.count(T.PEER_JOINED) == 25 + (not closed)


CLIENT_SENDS = [T.MEDIA, T.CONTROL, T.UNICAST, T.PING, T.JOIN, T.LEAVE, T.SET_CLASS]
ANY_ENVELOPE = st.tuples(
    st.integers(0, 5),  # which link (5: the link ends instead)
    st.sampled_from(CLIENT_SENDS),
    st.sampled_from([TAG, b"B" * 16]),
    st.integers(0, 6),
    st.binary(max_size=40) | st.sampled_from([b"\x00", b"\x01", bytes(600)]),
)


@seed(90_017)
@settings(max_examples=300, deadline=None)
@given(st.lists(ANY_ENVELOPE, max_size=120), st.floats(0.0, 0.05))
def test_any_client_envelope_sequence_keeps_the_router_consistent(
    script: list[tuple[int, EnvelopeType, bytes, int, bytes]], step: float
) -> None:
    """Whatever decodes, from any link in any order, with links ending at any point (§17)."""
    router, outbox = setup(
        envelope_burst=30.0, byte_burst=4_000.0, byte_rate=4_000.0, media_burst=3.0, join_burst=6.0
    )
    links = [router.open_link(0.0) for _ in range(5)]
    for i, (who, etype, tag, slot, payload) in enumerate(script):
        now = i * step
        if who == 5:
            victim = links[i % 5]
            router.close_link(victim)
            links[i % 5] = router.open_link(now)
            continue
        decoder = EnvelopeDecoder(allowed=CLIENT_TYPES)
        try:
            envelopes = decoder.feed(encode_envelope(etype, tag, slot, payload))
        except RemoteProtocolError:
            continue  # the server closes such a link before the router sees anything
        router.receive(links[who], envelopes, now)
    for tag, room in router.rooms.items():
        assert room.members, "an empty room is forgotten"
        assert set(room.members) == set(room.stage) | set(room.audience)
        assert not set(room.stage) & set(room.audience)
        for slot, m in room.members.items():
            assert m.slot == slot and m.room is room and m.link.rooms[tag] is m
    for link in links:
        for tag, m in link.rooms.items():
            assert router.rooms[tag].members[m.slot] is m
        if link.id in outbox.closed:
            assert link.closing
