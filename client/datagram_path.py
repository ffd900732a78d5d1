"""The client's datagram media channel for one relay link (spec §23), under trio.

:class:`DatagramMedia` asks for a channel over the link (DATAGRAM_OFFER),
takes the relay's DATAGRAM_ACCEPT out of the link's stream, and then runs the
sans-IO :class:`~e2ee.datagram_path.DatagramPath` on trio's clock with one
non-blocking UDP socket: it probes, keeps the NAT binding alive, and reports
whether the path is UP.  While it is, :meth:`DatagramMedia.divert` takes the
MEDIA envelopes out of what the room wants to send and sends each as one
datagram; everything else, and all audio in any other state, stays on the
link.  MEDIA that arrives by datagram is handed to ``deliver`` exactly as an
envelope from the link would be.  A network that drops all UDP leaves the
path DEAD and the link carries everything, as without a channel.

Which way each envelope goes is :func:`route` (spec §23.6): an audio frame
by datagram only, a speaker proof (§15.6) by ``PROOF_DATAGRAMS`` datagrams
*and* over the link, everything else over the link.

Redundancy (spec §23.6): the client measures the loss of the relay's
datagrams and sets REDUNDANT on its own while they are lossy; while the
relay's latest datagram had REDUNDANT set, each frame goes as MEDIA_RED with
a copy of an earlier one (:mod:`e2ee.datagram_red`).  Until its first loss
window has closed (the channel's *start*) it does both whatever it measured.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Callable

import trio

from e2ee import datagram as dg
from e2ee import is_speaker_proof
from e2ee.datagram import DatagramChannel, DatagramGrant, Direction, Kind
from e2ee.datagram_path import DatagramPath, PathState, PathTimers
from e2ee.datagram_red import CopyRing, LossWatch
from e2ee.envelope import (
    ZERO_TAG,
    Envelope,
    EnvelopeDecoder,
    EnvelopeType,
    decode_envelope,
    encode_envelope,
)
from e2ee.errors import HushroomError, LocalProtocolError

_RECV_SIZE = 2048
#: how often a client that may not use the channel yet checks again (spec §23.2)
WANTED_POLL = 0.5
#: datagrams that carry each speaker proof, besides its copy on the link (spec §23.6)
PROOF_DATAGRAMS = 2


def route(data: bytes) -> list[tuple[bytes, bool, int]]:
    """Each envelope of ``data`` with the way it goes while the path is UP (spec §23.6).

    ``(encoded envelope, over the link, datagrams that carry it)``: an audio
    frame that fits one datagram goes by one datagram only; a speaker proof
    that fits goes by ``PROOF_DATAGRAMS`` datagrams and over the link (the
    receivers drop the copies after the first, §15.6); everything else goes
    over the link only.
    """
    out: list[tuple[bytes, bool, int]] = []
    for env in EnvelopeDecoder().feed(data):
        encoded = encode_envelope(env.type, env.room_tag, env.slot, env.payload)
        if env.type is not EnvelopeType.MEDIA or not dg.fits(len(encoded)):
            out.append((encoded, True, 0))
        elif is_speaker_proof(env.payload):
            out.append((encoded, True, PROOF_DATAGRAMS))
        else:
            out.append((encoded, False, 1))
    return out


class DatagramMedia:
    """One link's datagram channel at the client (spec §23.2, §23.5)."""

    def __init__(
        self,
        host: str,
        deliver: Callable[[Envelope], None],
        timers: PathTimers | None = None,
        *,
        send_link: Callable[[bytes], None] | None = None,
        wanted: Callable[[], bool] = lambda: True,
    ) -> None:
        """``send_link``, if given, writes the DATAGRAM_OFFER to the link once ``wanted()``."""
        self.host = host
        self._deliver = deliver
        self._timers = timers
        self._send_link = send_link
        self._wanted = wanted
        self._granted = trio.Event()
        self._grant: DatagramGrant | None = None
        self._channel: DatagramChannel | None = None
        self._sock: socket.socket | None = None
        self._kick = trio.Event()
        self._floor = dg.DEFAULT_PROBE_FLOOR
        self._copies = CopyRing()
        #: the loss of the relay's datagrams: ask it for MEDIA_RED while lossy
        self.loss = LossWatch()
        #: the relay's latest datagram asked for MEDIA_RED
        self.redundant = False
        self.path: DatagramPath | None = None
        #: datagrams sent and received by kind, and drops by reason (aggregates only)
        self.counts: Counter[str] = Counter()

    # -- over the link (spec §23.2) -----------------------------------------------------

    @staticmethod
    def offer() -> bytes:
        """The DATAGRAM_OFFER envelope to write to the link once it is up."""
        return encode_envelope(EnvelopeType.DATAGRAM_OFFER, ZERO_TAG, 0)

    def intercept(self, envelope: Envelope) -> bool:
        """Take the relay's DATAGRAM_ACCEPT out of the link's stream; True if it was one."""
        if envelope.type is not EnvelopeType.DATAGRAM_ACCEPT:
            return False
        if envelope.payload and self._grant is None:
            try:
                self._grant = DatagramGrant.decode(envelope.payload)
            except HushroomError:
                self.counts["bad_accept"] += 1
        self._granted.set()  # an empty accept: no channel, stay on the link
        return True

    @property
    def state(self) -> PathState | None:
        """The path's state, None before the relay granted a channel."""
        return self.path.state if self.path is not None else None

    # -- sending (spec §23.3, §23.5) -------------------------------------------------

    def divert(self, data: bytes) -> bytes:
        """Send the MEDIA envelopes in ``data`` by datagram while UP; return what the link gets.

        ``data`` is what the room wants to write to the link: whole envelopes.
        """
        path = self.path
        if path is None or not path.uses_datagrams:
            return data
        keep: list[bytes] = []
        for encoded, on_link, datagrams in route(data):
            sent = 0
            for _ in range(datagrams):
                sent += self._send_media(encoded)
            if sent:
                self._floor = dg.padded_size(len(encoded) + 2)
            if on_link or not sent:  # a frame that could not be sealed goes by the link
                keep.append(encoded)
        return b"".join(keep)

    def _send_media(self, envelope: bytes) -> bool:
        """One frame as MEDIA, or as MEDIA_RED while the relay asks for it (spec §23.6)."""
        channel = self._channel
        if channel is None:
            return False
        redundant = self.redundant or not self.loss.measured  # the start (§23.6)
        kind, body = self._copies.wrap(channel.next_counter, envelope, redundant)
        return self._send(kind, body)

    def _send(self, kind: Kind, body: bytes, floor: int = 0) -> bool:
        """Seal and send one datagram; False if it could not be sealed (go by the link)."""
        channel, sock, path = self._channel, self._sock, self.path
        if channel is None or sock is None or path is None:
            return False
        asking = self.loss.wanted or not self.loss.measured  # from the start (§23.6)
        flags = path.flags | (dg.FLAG_REDUNDANT if asking else 0)
        try:
            datagram = channel.seal(kind, body, flags, floor)
        except LocalProtocolError:  # counter spent: this channel is over (spec §23.3)
            self.counts["spent"] += 1
            return False
        now = trio.current_time()
        path.sent(now)
        try:
            sock.send(datagram)
        except OSError:  # would block, unreachable, no route: a lost datagram
            self.counts["send_failed"] += 1
        else:
            self.counts[f"sent_{kind.name.lower()}"] += 1
        return True

    # -- the channel's life (spec §23.5) ------------------------------------------------

    async def run(self) -> None:
        """Offer once wanted (on stage), wait for the grant, then run the path until cancelled."""
        if self._send_link is not None:
            while not self._wanted():
                await trio.sleep(WANTED_POLL)
            self._send_link(self.offer())
        await self._granted.wait()
        grant = self._grant
        if grant is None:
            return
        try:
            infos = await trio.socket.getaddrinfo(self.host, grant.port, type=socket.SOCK_DGRAM)
            family, _, _, _, address = infos[0]
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect(address)
        except OSError:
            self.counts["no_socket"] += 1
            return
        self._sock = sock
        self._channel = DatagramChannel(grant.link_key, grant.token, Direction.CLIENT_TO_RELAY)
        self.path = DatagramPath(trio.current_time(), self._timers)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._reader, sock)
                await self._timer_loop(self.path)
        finally:
            self._sock = None
            sock.close()

    async def _timer_loop(self, path: DatagramPath) -> None:
        while True:
            self._kick = trio.Event()
            with trio.move_on_at(path.get_timer()):
                await self._kick.wait()
                continue
            probe = path.handle_timer(trio.current_time())
            if probe is not None:
                self._send(Kind.PROBE, dg.probe_body(probe), self._floor)

    async def _reader(self, sock: socket.socket) -> None:
        channel, path = self._channel, self.path
        assert channel is not None and path is not None
        while True:
            await trio.lowlevel.wait_readable(sock)
            while True:
                try:
                    data = sock.recv(_RECV_SIZE)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:  # ICMP unreachable reported on the socket
                    self.counts["unreachable"] += 1
                    continue
                self._received(channel, path, data)

    def _received(self, channel: DatagramChannel, path: DatagramPath, data: bytes) -> None:
        """One datagram from the relay (spec §23.4): heard, and MEDIA delivered."""
        try:
            opened = channel.open(data)
        except HushroomError:
            self.counts["refused"] += 1
            return
        was = path.state
        path.heard(trio.current_time())
        if path.state is not was:
            self._kick.set()  # the timers changed
        self.loss.heard(opened.counter)
        self.redundant = bool(opened.flags & dg.FLAG_REDUNDANT)
        self.counts[f"received_{opened.kind.name.lower()}"] += 1
        if opened.copy is not None:
            self.counts["recovered"] += 1
        for body in opened.media:
            try:
                envelope = decode_envelope(body)
            except HushroomError:
                envelope = None
            if envelope is None or envelope.type is not EnvelopeType.MEDIA:
                self.counts["refused"] += 1
                return
            self._deliver(envelope)
