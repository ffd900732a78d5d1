"""Per-connection bounded queues (spec §17.4), sans-IO."""

from __future__ import annotations

from e2ee.envelope import EnvelopeDecoder, EnvelopeType, encode_envelope, parse_loss
from relay.sendqueue import MERGE_LIMIT, SendQueue

TAG = b"T" * 16


def frame(i: int, size: int = 100) -> bytes:
    return encode_envelope(EnvelopeType.MEDIA, TAG, 1, i.to_bytes(4, "big") + bytes(size - 4))


def drain(queue: SendQueue) -> bytes:
    out = b""
    while queue:
        chunk = queue.next_chunk()
        queue.wrote(len(chunk))
        out += chunk
    return out


def test_slow_listener_loses_its_oldest_audio_and_is_told() -> None:
    f = [frame(i) for i in range(10)]
    queue = SendQueue(media_limit=3 * len(f[0]), reliable_limit=10_000)
    dropped = [queue.push_media(x, TAG, 1) for x in f]
    assert sum(d[0] for d in dropped) == 7
    assert queue.media_bytes == 3 * len(f[0])
    envs = EnvelopeDecoder().feed(drain(queue))
    assert envs[0].type == EnvelopeType.LOSS
    assert parse_loss(envs[0]) == (7, 7 * len(f[0]))
    # the newest three frames survive, in order
    assert [int.from_bytes(e.payload[:4], "big") for e in envs[1:]] == [7, 8, 9]
    assert queue.queued_bytes == 0


def test_batches_count_their_frames_when_dropped() -> None:
    batch = frame(0) + frame(1) + frame(2)
    queue = SendQueue(media_limit=len(batch), reliable_limit=10_000)
    queue.push_media(batch, TAG, 3)
    assert queue.push_media(batch, TAG, 3) == (3, len(batch))


def test_reliable_items_are_never_dropped_and_overflow_is_reported() -> None:
    queue = SendQueue(media_limit=100, reliable_limit=300)
    control = encode_envelope(EnvelopeType.CONTROL, TAG, 2, bytes(74))
    assert queue.push_reliable(control)
    for i in range(5):
        queue.push_media(frame(i), TAG, 1)
    assert queue.push_reliable(control)
    envs = EnvelopeDecoder().feed(drain(queue))
    assert [e.type for e in envs].count(EnvelopeType.CONTROL) == 2
    queue2 = SendQueue(media_limit=100, reliable_limit=300)
    assert queue2.push_reliable(bytes(200))
    assert not queue2.push_reliable(bytes(200))


def test_the_in_flight_head_is_retried_unchanged_and_never_dropped() -> None:
    f = [frame(i) for i in range(5)]
    queue = SendQueue(media_limit=len(f[0]), reliable_limit=10_000)
    queue.push_media(f[0], TAG, 1)
    head = queue.next_chunk()
    assert head == f[0] and queue.in_flight
    queue.push_media(f[1], TAG, 1)
    queue.push_media(f[2], TAG, 1)
    assert queue.next_chunk() is head  # same bytes for OpenSSL's retry
    queue.wrote(len(head))
    rest = EnvelopeDecoder().feed(drain(queue))
    assert rest[0].type == EnvelopeType.LOSS and parse_loss(rest[0])[0] == 1
    assert int.from_bytes(rest[1].payload[:4], "big") == 2


def test_partial_writes_keep_framing() -> None:
    queue = SendQueue(media_limit=10_000, reliable_limit=10_000)
    queue.push_reliable(frame(1))
    chunk = queue.next_chunk()
    queue.wrote(10)
    rest = queue.next_chunk()
    assert chunk[10:] == rest
    queue.wrote(len(rest))
    assert not queue


def test_waiting_items_are_merged_up_to_the_limit() -> None:
    queue = SendQueue(media_limit=10 * MERGE_LIMIT, reliable_limit=10 * MERGE_LIMIT)
    for i in range(1000):
        queue.push_media(frame(i), TAG, 1)
    first = queue.next_chunk()
    assert len(first) <= MERGE_LIMIT
    assert len(first) == (MERGE_LIMIT // len(frame(0))) * len(frame(0))


def test_close_discards_audio_but_keeps_reliable_and_in_flight() -> None:
    queue = SendQueue(media_limit=10_000, reliable_limit=10_000)
    queue.push_media(frame(0), TAG, 1)
    head = queue.next_chunk()
    queue.push_media(frame(1), TAG, 1)
    queue.push_reliable(b"R" * 30)
    queue.discard_for_close()
    assert queue.next_chunk() == head
    queue.wrote(len(head))
    assert drain(queue) == b"R" * 30
