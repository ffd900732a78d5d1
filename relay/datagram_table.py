"""The relay's datagram channels (spec §23.2, §23.4, §23.6), sans-IO.

One channel per link: DATAGRAM_OFFER draws a fresh token and key and
replaces the link's previous channel; the link's end forgets it.  Received
datagrams are looked up by token, rationed by a per-channel bucket before
any decryption, opened with :class:`e2ee.datagram.DatagramChannel`, and
turned into what the I/O layer must do: a PROBE_ACK to send, a MEDIA
envelope to route as if it came over the link.  Nothing here touches a
socket or a clock: the caller passes ``now`` and the source address.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from e2ee import datagram as dg
from e2ee.datagram import DatagramChannel, DatagramGrant, Direction, Kind
from e2ee.envelope import Envelope, EnvelopeType, decode_envelope
from e2ee.errors import HushroomError
from relay.buckets import TokenBucket
from relay.config import RelayConfig
from relay.router import Link

Address = tuple[object, ...]


class _Channel:
    """Relay-side state of one link's channel (spec §23.8: well under 1 KiB)."""

    __slots__ = ("address", "bucket", "crypto", "highest", "link", "receiving_at")

    def __init__(self, link: Link, crypto: DatagramChannel, bucket: TokenBucket) -> None:
        self.link = link
        self.crypto = crypto
        self.bucket = bucket
        #: reply address: the source of the accepted datagram with the highest counter
        self.address: Address | None = None
        self.highest = -1
        #: when the latest accepted client datagram carried RECEIVING; None if it did not
        self.receiving_at: float | None = None


@dataclass(frozen=True, slots=True)
class Received:
    """What one accepted datagram asks of the I/O layer (spec §23.4)."""

    link: Link
    #: a sealed PROBE_ACK to send back to ``address``
    reply: bytes | None
    address: Address
    #: a MEDIA envelope to route exactly as if it had come over ``link``
    envelope: Envelope | None


class DatagramTable:
    """Token → channel, at most one channel per link (spec §23.2, §23.8)."""

    def __init__(self, config: RelayConfig, rng: Callable[[int], bytes], port: int) -> None:
        self.config = config
        self.port = port
        self._rng = rng
        self._by_token: dict[bytes, _Channel] = {}
        self._by_link: dict[int, _Channel] = {}
        #: why datagrams were dropped, and how many were sent (aggregates only, spec §23.7)
        self.counts: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._by_link)

    # -- over the link (spec §23.2) ---------------------------------------------------

    def offer(self, link: Link, now: float) -> bytes:
        """Answer DATAGRAM_OFFER: a new channel for ``link``, replacing its old one."""
        self.forget(link)
        token = self._rng(dg.TOKEN_LEN)
        while token in self._by_token:
            token = self._rng(dg.TOKEN_LEN)
        key = self._rng(dg.KEY_LEN)
        cfg = self.config
        channel = _Channel(
            link,
            DatagramChannel(key, token, Direction.RELAY_TO_CLIENT),
            TokenBucket(cfg.datagram_rate, cfg.datagram_burst, now),
        )
        self._by_token[token] = channel
        self._by_link[link.id] = channel
        return DatagramGrant(self.port, token, key).encode()

    def forget(self, link: Link) -> None:
        """The link ended or offered again: its channel is gone (spec §23.2)."""
        channel = self._by_link.pop(link.id, None)
        if channel is not None:
            del self._by_token[channel.crypto.token]

    # -- datagrams (spec §23.4) ----------------------------------------------------------

    def receive(self, data: bytes, address: Address, now: float) -> Received | None:
        """Process one datagram from ``address``; None when it is dropped (and counted)."""
        if not dg.MIN_DATAGRAM <= len(data) <= dg.MAX_DATAGRAM:
            self.counts["malformed"] += 1
            return None
        channel = self._by_token.get(data[: dg.TOKEN_LEN])
        if channel is None:
            self.counts["unknown_token"] += 1
            return None
        if not channel.bucket.take(1.0, now):
            self.counts["over_rate"] += 1
            return None
        try:
            opened = channel.crypto.open(data)
        except HushroomError:
            self.counts["refused"] += 1
            return None
        if opened.counter > channel.highest:
            channel.highest = opened.counter
            channel.address = address
        channel.receiving_at = now if opened.flags & dg.FLAG_RECEIVING else None
        if opened.kind is Kind.PROBE:
            return Received(channel.link, self._ack(channel, opened.body, len(data)), address, None)
        try:
            envelope = decode_envelope(opened.body, self.config.max_payload)
        except HushroomError:
            envelope = None
        if envelope is None or envelope.type is not EnvelopeType.MEDIA:
            self.counts["malformed"] += 1
            return None
        return Received(channel.link, None, address, envelope)

    def _ack(self, channel: _Channel, body: bytes, probe_len: int) -> bytes | None:
        """PROBE_ACK as large as the PROBE (spec §23.3); None once the counter is spent."""
        if channel.crypto.next_counter > dg.MAX_COUNTER:
            return None
        floor = probe_len - dg.OVERHEAD
        return channel.crypto.seal(Kind.PROBE_ACK, body, floor=floor)

    def seal_media(self, link: Link, data: bytes, now: float) -> tuple[bytes, Address] | None:
        """One MEDIA envelope as one datagram, if §23.6 allows it now; else None (use the link)."""
        channel = self._by_link.get(link.id)
        if channel is None or channel.address is None or channel.receiving_at is None:
            return None
        if now - channel.receiving_at > self.config.datagram_path_timeout:
            return None
        if not dg.fits(len(data)) or channel.crypto.next_counter > dg.MAX_COUNTER:
            return None
        return channel.crypto.seal(Kind.MEDIA, data), channel.address
