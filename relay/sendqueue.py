"""Per-connection bounded send queue (spec §17.4), sans-IO.

Items are whole encoded envelopes or audience batches.  Audio (``media``) is
droppable: past ``media_limit`` bytes the OLDEST audio that is not already
being written is dropped and counted per room tag, and a LOSS notice is
emitted before the next item.  Everything else is reliable: if reliable bytes
exceed ``reliable_limit`` the queue reports overflow and the connection must
be closed with SLOW_CONSUMER; it is never dropped silently.

TLS note: once a chunk has been handed to a non-blocking ``SSLSocket.send``
that raised "want write", OpenSSL requires the retry to carry the same bytes,
so the head becomes *in flight* and can no longer be dropped or merged.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from e2ee.envelope import encode_loss

#: Most bytes merged into one write when several items are waiting.
MERGE_LIMIT = 65_536


@dataclass(slots=True)
class _Item:
    data: bytes
    media: bool
    tag: bytes
    frames: int


class SendQueue:
    """Bounded queue of bytes to write to one connection (spec §17.4)."""

    __slots__ = (
        "_items",
        "in_flight",
        "media_bytes",
        "media_limit",
        "pending_loss",
        "reliable_bytes",
        "reliable_limit",
    )

    def __init__(self, media_limit: int, reliable_limit: int) -> None:
        self.media_limit = media_limit
        self.reliable_limit = reliable_limit
        self._items: deque[_Item] = deque()
        self.media_bytes = 0
        self.reliable_bytes = 0
        self.in_flight = False
        self.pending_loss: dict[bytes, list[int]] = {}

    def __bool__(self) -> bool:
        return bool(self._items) or bool(self.pending_loss)

    def __len__(self) -> int:
        return len(self._items)

    def push_media(self, data: bytes, tag: bytes, frames: int) -> tuple[int, int]:
        """Queue droppable audio; returns (frames, bytes) dropped to stay in bound."""
        self._items.append(_Item(data, True, tag, frames))
        self.media_bytes += len(data)
        if self.media_bytes <= self.media_limit:
            return 0, 0
        return self._drop_oldest_media()

    def push_reliable(self, data: bytes, tag: bytes = b"") -> bool:
        """Queue reliable bytes; returns False if the reliable bound is exceeded."""
        self._items.append(_Item(data, False, tag, 0))
        self.reliable_bytes += len(data)
        return self.reliable_bytes <= self.reliable_limit

    def _drop_oldest_media(self) -> tuple[int, int]:
        dropped_frames = dropped_bytes = 0
        kept: deque[_Item] = deque()
        items = self._items
        if self.in_flight and items:
            kept.append(items.popleft())
        # Drop from the oldest end; never the newest item, so a listener always
        # hears the most recent audio.
        while items:
            item = items.popleft()
            if item.media and self.media_bytes > self.media_limit and items:
                self.media_bytes -= len(item.data)
                dropped_frames += item.frames
                dropped_bytes += len(item.data)
                loss = self.pending_loss.setdefault(item.tag, [0, 0])
                loss[0] += item.frames
                loss[1] += len(item.data)
            else:
                kept.append(item)
        self._items = kept
        return dropped_frames, dropped_bytes

    def next_chunk(self) -> bytes:
        """The bytes to hand to the next write (call only when the queue is non-empty).

        An in-flight head is returned unchanged.  Otherwise pending LOSS
        notices come first, then up to MERGE_LIMIT bytes of queued items are
        merged into one chunk.  The returned chunk becomes the in-flight head.
        """
        items = self._items
        if self.in_flight:
            return items[0].data
        if self.pending_loss:
            for tag, (frames, nbytes) in self.pending_loss.items():
                notice = encode_loss(tag, frames, nbytes)
                items.appendleft(_Item(notice, False, tag, 0))
                self.reliable_bytes += len(notice)
            self.pending_loss.clear()
        head = items[0]
        if len(items) > 1 and len(head.data) < MERGE_LIMIT:
            parts = [items.popleft()]
            size = len(parts[0].data)
            while items and size + len(items[0].data) <= MERGE_LIMIT:
                item = items.popleft()
                parts.append(item)
                size += len(item.data)
            merged = _Item(b"".join(p.data for p in parts), False, b"", 0)
            # Merged bytes are accounted as reliable: they can no longer be dropped.
            moved = sum(len(p.data) for p in parts if p.media)
            self.media_bytes -= moved
            self.reliable_bytes += moved
            items.appendleft(merged)
            head = merged
        self.in_flight = True
        return head.data

    def wrote(self, n: int) -> None:
        """Record that ``n`` bytes of the in-flight chunk were written."""
        head = self._items[0]
        size = len(head.data)
        if n >= size:
            self._items.popleft()
            if head.media:
                self.media_bytes -= size
            else:
                self.reliable_bytes -= size
            self.in_flight = False
        elif n > 0:
            # A plain socket (or partial-write mode) wrote a prefix: the rest is
            # an ordinary in-flight chunk.
            rest = head.data[n:]
            if head.media:
                self.media_bytes -= n
            else:
                self.reliable_bytes -= n
            head.data = rest

    def discard_for_close(self) -> None:
        """Drop queued audio (not the in-flight head) before the final ERROR (spec §17.6)."""
        items = self._items
        kept: deque[_Item] = deque()
        if self.in_flight and items:
            kept.append(items.popleft())
        kept.extend(i for i in items if not i.media)
        self._items = kept
        self.media_bytes = sum(len(i.data) for i in kept if i.media)
        self.pending_loss.clear()

    @property
    def queued_bytes(self) -> int:
        """All bytes waiting, droppable or not."""
        return self.media_bytes + self.reliable_bytes
