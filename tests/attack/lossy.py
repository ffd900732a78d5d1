"""The hostile relay on lossy networks: stage audio by datagram, the rest over TCP links.

:class:`LossyRelay` is :class:`~attack.hostile.HostileRelay` (the real router,
with its rules) whose clients reach it over emulated networks once
:meth:`LossyRelay.lossy` is called.  Every client has a link (a TCP stream:
in order, each envelope lost with the network's probability and then
retransmitted after a retransmission timeout that doubles while it is lost
again, holding back everything behind it); a client given a datagram channel
also has the two datagram hops of spec §23, with the real channel code
(:class:`~e2ee.datagram.DatagramChannel`, MEDIA_RED from
:class:`~e2ee.datagram_red.CopyRing` while the receiving end's
:class:`~e2ee.datagram_red.LossWatch` asks for it, the receiver's replay
window).  What the client sends goes the way :func:`client.datagram_path.route`
says (its path is taken as UP throughout); the router's ``by_datagram`` says
which way a delivery goes back (spec §23.6).  Each way, each packet is lost
independently with the network's probability, and takes 50 ms ± 10 ms,
never overtaking the one before.

A hop also carries MEDIA_RED until the client's own first loss window (on
its downlink) has closed, as a client does at the start of a channel (§23.6).
Simplifications: the REDUNDANT request reaches the sender at once (in the
protocol it rides the next datagram back, a one-way delay later), probes are
not modelled (so a client that hears no audio keeps its start redundancy),
and envelopes the relay makes up itself (:meth:`inject_as`) skip the
network: they reach their target before anything else.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable

from room.harness import Link, Router, _Outbox

from client.datagram_path import route
from e2ee.datagram import DatagramChannel, Direction
from e2ee.datagram_red import CopyRing, LossWatch
from e2ee.envelope import Envelope, EnvelopeType, decode_envelope, encode_envelope

from .hostile import HostileRelay

ONE_WAY = 0.05
JITTER = 0.01
RTO = 0.3  # a lost segment's first retransmission timeout: 200 ms floor plus the 100 ms RTT

Arrival = Callable[[Envelope], None]


class _Stream:
    """One direction of a TCP link: in order, a lost segment stalls all behind it."""

    def __init__(self, net: LossyRelay) -> None:
        self.net = net
        self.last = float("-inf")

    def send(self, env: Envelope, arrive: Arrival) -> None:
        net = self.net
        t = net.now + ONE_WAY + net.rng.uniform(-JITTER, JITTER)
        rto = RTO
        while net.rng.random() < net.loss:  # lost, and each retransmission may be lost again
            t += rto
            rto *= 2
        self.last = max(self.last, t)
        net.at(self.last, lambda: arrive(env))


class _Hop:
    """One direction of a datagram channel (spec §23.3, §23.6): seal, lose, delay, open."""

    def __init__(self, net: LossyRelay, direction: Direction) -> None:
        other = (
            Direction.RELAY_TO_CLIENT
            if direction is Direction.CLIENT_TO_RELAY
            else Direction.CLIENT_TO_RELAY
        )
        key, token = net.rng.randbytes(32), net.rng.randbytes(8)
        self.net = net
        self.seal = DatagramChannel(key, token, direction)
        self.open = DatagramChannel(key, token, other)
        self.ring = CopyRing()
        self.watch = LossWatch()  # the receiving end's: it asks the sender for MEDIA_RED
        self.last = float("-inf")
        self.sent = 0
        self.lost = 0

    def send(self, encoded: bytes, arrive: Arrival, starting: bool) -> None:
        net = self.net
        redundant = self.watch.wanted or starting
        kind, body = self.ring.wrap(self.seal.next_counter, encoded, redundant)
        datagram = self.seal.seal(kind, body)
        self.sent += 1
        if net.rng.random() < net.loss:
            self.lost += 1
            return
        self.last = max(self.last, net.now + ONE_WAY + net.rng.uniform(-JITTER, JITTER))
        net.at(self.last, lambda: self._opened(datagram, arrive))

    def _opened(self, datagram: bytes, arrive: Arrival) -> None:
        opened = self.open.open(datagram)
        self.watch.heard(opened.counter)
        for body in opened.media:
            arrive(decode_envelope(body))


class _LossyOutbox(_Outbox):
    """The router's outbox, noting whether a MEDIA delivery may leave by datagram (§23.6)."""

    relay: LossyRelay

    def send_media(self, link: object, data: bytes, tag: bytes, by_datagram: bool) -> None:
        self.relay.by_datagram = by_datagram
        try:
            super().send_media(link, data, tag, by_datagram)  # type: ignore[arg-type]
        finally:
            self.relay.by_datagram = False


class LossyRelay(HostileRelay):
    """The hostile relay whose clients reach it over lossy networks (module docstring)."""

    def __init__(self, now: float = 0.0, first_slot: int = 0) -> None:
        self.loss = 0.0
        self.rng = random.Random(0)
        self.by_datagram = False
        self.channels: set[Link] = set()
        #: when each MEDIA payload reached each client: (client, payload) -> time
        self.arrived: dict[tuple[Link, bytes], float] = {}
        self._lossy = False
        self._proofs_by_datagram = True
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._streams: dict[tuple[Link, Direction], _Stream] = {}
        self.hops: dict[tuple[Link, Direction], _Hop] = {}
        super().__init__(now, first_slot)

    def _start(self, first_slot: int) -> None:
        super()._start(first_slot)
        for node in self.routers:
            node.outbox = _LossyOutbox(self)

    def lossy(
        self, loss: float, seed: int, channels: set[Link], proofs_by_datagram: bool = True
    ) -> None:
        """From now on every packet is lost with probability ``loss``; ``channels`` use datagrams.

        ``proofs_by_datagram=False``: clients send speaker proofs over the link
        only, as the datagram channel's first version did (to show what that cost).
        """
        self.loss, self.rng, self.channels, self._lossy = loss, random.Random(seed), channels, True
        self._proofs_by_datagram = proofs_by_datagram

    def at(self, t: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, (t, next(self._seq), action))

    def _stream(self, link: Link, d: Direction) -> _Stream:
        return self._streams.setdefault((link, d), _Stream(self))

    def _hop(self, link: Link, d: Direction) -> _Hop:
        return self.hops.setdefault((link, d), _Hop(self, d))

    # -- client -> relay ---------------------------------------------------------------
    def _route_envelopes(self, link: Link, envelopes: list[Envelope]) -> None:
        if not self._lossy:
            super()._route_envelopes(link, envelopes)
            return
        self._note_authored(link, envelopes)
        data = b"".join(encode_envelope(e.type, e.room_tag, e.slot, e.payload) for e in envelopes)
        up = Direction.CLIENT_TO_RELAY
        for encoded, on_link, datagrams in route(data):
            env = decode_envelope(encoded)
            if link not in self.channels or (on_link and not self._proofs_by_datagram):
                on_link, datagrams = True, 0
            if on_link:
                self._stream(link, up).send(env, lambda e: self._at_relay(link, e, False))
            starting = not self._hop(link, Direction.RELAY_TO_CLIENT).watch.measured
            for _ in range(datagrams):
                self._hop(link, up).send(encoded, lambda e: self._at_relay(link, e, True), starting)

    def _at_relay(self, link: Link, env: Envelope, by_datagram: bool) -> None:
        if link.conn is None or not link.up:
            return
        self._source = link
        try:
            self._node_of[link.conn].receive(link.conn, [env], self.now, by_datagram)
            self._settle_engine()
            self._close_refused()
        finally:
            self._source = None

    # -- relay -> client ---------------------------------------------------------------
    def send(self, to: Link, env: Envelope) -> None:
        if not self._lossy:
            super().send(to, env)
            return
        if self.by_datagram and to in self.channels:
            hop = self._hop(to, Direction.RELAY_TO_CLIENT)
            encoded = encode_envelope(env.type, env.room_tag, env.slot, env.payload)
            hop.send(encoded, lambda e: self._at_client(to, e), not hop.watch.measured)
        else:
            self._stream(to, Direction.RELAY_TO_CLIENT).send(env, lambda e: self._at_client(to, e))

    def inject_as(self, member: Link, to: Link, etype: EnvelopeType, payload: bytes) -> None:
        assert member.slot is not None
        Router._deliver(self, to, Envelope(etype, member.session.room_tag, member.slot, payload))

    def _at_client(self, to: Link, env: Envelope) -> None:
        if env.type is EnvelopeType.MEDIA:
            self.arrived.setdefault((to, env.payload), self.now)
        Router._deliver(self, to, env)

    # -- the clock ---------------------------------------------------------------------
    def advance(self, dt: float) -> None:
        """Move the clock, handing on each packet when it arrives."""
        target = self.now + dt
        while self._events and self._events[0][0] <= target:
            super().advance(max(0.0, self._events[0][0] - self.now))
            while self._events and self._events[0][0] <= self.now:
                heapq.heappop(self._events)[2]()
            self.pump()
        super().advance(max(0.0, target - self.now))
