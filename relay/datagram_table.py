"""The relay's datagram channels (spec §23.2, §23.4, §23.6), sans-IO.

One channel per link: DATAGRAM_OFFER draws a fresh token and key and
replaces the link's previous channel; the link's end forgets it.  Received
datagrams are looked up by token, rationed by a per-channel bucket before
any decryption, opened with :class:`e2ee.datagram.DatagramChannel`, and
turned into what the I/O layer must do: a PROBE_ACK to send, MEDIA
envelopes to route as if they came over the link (a MEDIA_RED's copy as
well when its original never arrived).  Each channel measures the loss of
what it hears and asks the client for MEDIA_RED while it is lossy; it sends
MEDIA_RED itself while the client asks for it (spec §23.6).  Nothing here
touches a socket or a clock: the caller passes ``now`` and the source address.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from e2ee import datagram as dg
from e2ee.datagram import DatagramChannel, DatagramGrant, Direction, Kind
from e2ee.datagram_red import CopyRing, LossWatch
from e2ee.envelope import Envelope, EnvelopeType, decode_envelope
from e2ee.errors import DecryptionFailed, ErrorCode, HushroomError, RemoteProtocolError
from relay.buckets import TokenBucket
from relay.config import RelayConfig
from relay.router import Link

Address = tuple[object, ...]


class _Channel:
    """Relay-side state of one link's channel (spec §23.8: a few KiB at most)."""

    __slots__ = (
        "address",
        "bucket",
        "copies",
        "crypto",
        "highest",
        "link",
        "loss",
        "receiving_at",
        "redundant",
    )

    def __init__(self, link: Link, crypto: DatagramChannel, bucket: TokenBucket) -> None:
        self.link = link
        self.crypto = crypto
        self.bucket = bucket
        #: reply address: the source of the accepted datagram with the highest counter
        self.address: Address | None = None
        self.highest = -1
        #: when the latest accepted client datagram carried RECEIVING; None if it did not
        self.receiving_at: float | None = None
        #: the latest accepted client datagram carried REDUNDANT: send it MEDIA_RED
        self.redundant = False
        self.loss = LossWatch()
        self.copies = CopyRing()

    @property
    def flags(self) -> int:
        """Flags of the relay's datagrams: REDUNDANT while the client's are lossy (§23.6)."""
        return dg.FLAG_REDUNDANT if self.loss.wanted else 0


@dataclass(frozen=True, slots=True)
class Received:
    """What one accepted datagram asks of the I/O layer (spec §23.4)."""

    link: Link
    #: a sealed PROBE_ACK to send back to ``address``
    reply: bytes | None
    address: Address
    #: MEDIA envelopes to route exactly as if they had come over ``link``, oldest first
    envelopes: tuple[Envelope, ...]


class DatagramTable:
    """Token → channel, at most one channel per link (spec §23.2, §23.8)."""

    def __init__(self, config: RelayConfig, rng: Callable[[int], bytes], port: int) -> None:
        self.config = config
        self.port = port
        self._rng = rng
        self._by_token: dict[bytes, _Channel] = {}
        self._by_link: dict[int, _Channel] = {}
        #: datagrams and bytes in and out, and why datagrams were dropped (aggregates
        #: only, spec §23.7); the relay's metrics render them (relay.metrics)
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
        self.counts["received"] += 1
        self.counts["received_bytes"] += len(data)
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
        except DecryptionFailed:
            self.counts["authentication"] += 1
            return None
        except RemoteProtocolError as exc:
            replay = exc.code in (ErrorCode.REPLAY, ErrorCode.TOO_FAR)
            self.counts["replay" if replay else "malformed"] += 1
            return None
        self.counts["accepted"] += 1
        if opened.counter > channel.highest:
            channel.highest = opened.counter
            channel.address = address
        channel.receiving_at = now if opened.flags & dg.FLAG_RECEIVING else None
        channel.redundant = bool(opened.flags & dg.FLAG_REDUNDANT)
        channel.loss.heard(opened.counter)
        if opened.kind is Kind.PROBE:
            return Received(channel.link, self._ack(channel, opened.body, len(data)), address, ())
        envelopes = []
        for body in opened.media:
            try:
                envelope = decode_envelope(body, self.config.max_payload)
            except HushroomError:
                envelope = None
            if envelope is None or envelope.type is not EnvelopeType.MEDIA:
                self.counts["malformed"] += 1
                return None
            envelopes.append(envelope)
        if opened.copy is not None:
            self.counts["recovered"] += 1
        return Received(channel.link, None, address, tuple(envelopes))

    def _ack(self, channel: _Channel, body: bytes, probe_len: int) -> bytes | None:
        """PROBE_ACK as large as the PROBE (spec §23.3); None once the counter is spent."""
        if channel.crypto.next_counter > dg.MAX_COUNTER:
            return None
        floor = probe_len - dg.OVERHEAD
        return channel.crypto.seal(Kind.PROBE_ACK, body, channel.flags, floor)

    def seal_media(self, link: Link, data: bytes, now: float) -> tuple[bytes, Address] | None:
        """One MEDIA envelope as one datagram, if §23.6 allows it now; else None (use the link)."""
        channel = self._by_link.get(link.id)
        if channel is None or channel.address is None or channel.receiving_at is None:
            return None
        if now - channel.receiving_at > self.config.datagram_path_timeout:
            return None
        counter = channel.crypto.next_counter
        if not dg.fits(len(data)) or counter > dg.MAX_COUNTER:
            return None
        kind, body = channel.copies.wrap(counter, data, channel.redundant)
        return channel.crypto.seal(kind, body, channel.flags), channel.address
