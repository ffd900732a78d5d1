"""Room tests on the real relay: :class:`relay.router.Router` with an in-memory outbox.

Every envelope a :class:`RoomSession` writes is decoded and handed to the real
sans-IO router (spec §17: slots, delivery classes, PEER_JOINED to the stage
only, rate limits, refusals); whatever the router tells its outbox to deliver
lands in the recipient's FIFO inbox, and :meth:`Router.pump` feeds inboxes to
their sessions one envelope per link per round.  What a room test proves is
therefore what the real relay does.  The only thing the harness adds is the
clock (``now``, moved by :meth:`Router.advance`) and the links' lifetime
(:meth:`Router.drop_link`, :meth:`Router.reconnect`, :meth:`Router.restart`).

With ``Router.nodes`` > 1 (the ``topology`` fixture of tests/room and
tests/attack) the relay is a cluster of that many real routers sharing rooms
through the in-memory engine (relay/cluster, spec §24): clients are spread
over the nodes in turn, a reconnecting client comes back on the next node.

:meth:`Router._deliver` is the single point every delivery passes through;
tests (and the hostile relay in tests/attack/) override or wrap it to drop,
hold back, duplicate or rewrite envelopes.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from e2ee.envelope import (
    HEADER_LEN,
    DeliveryClass,
    Envelope,
    EnvelopeDecoder,
    EnvelopeType,
    RelayErrorCode,
    decode_envelope,
    encode_envelope,
    encode_error,
)
from e2ee.identity import IdentityKey
from e2ee.invite import RoomSecrets
from e2ee.room import RoomSession
from e2ee.room.events import Event
from relay import router as relay_router
from relay.cluster.memory import MemoryEngine
from relay.cluster.node import ClusterRouter
from relay.config import RelayConfig
from relay.stats import RelayStats


@dataclass(frozen=True)
class Invite:
    """Stands in for the core invite (spec §6): the values a room session needs."""

    room_tag: bytes
    admission_key: bytes
    room_id: bytes
    founder: bytes


def make_invite(secret: bytes, founder: bytes) -> Invite:
    s = RoomSecrets.derive(secret, founder)
    return Invite(s.room_tag, s.admission_key, s.room_id, founder)


def rng_for(seed: int):  # type: ignore[no-untyped-def]
    return random.Random(seed).randbytes


@dataclass(eq=False)
class Link:
    """One client: its session, its relay connection, its inbox and the events it saw."""

    session: RoomSession
    decoder: EnvelopeDecoder = field(default_factory=EnvelopeDecoder)
    inbox: deque[Envelope] = field(default_factory=deque)
    events: list[Event] = field(default_factory=list)
    up: bool = True
    bytes_in: int = 0
    #: the real router's state for this client's current connection
    conn: relay_router.Link | None = None

    @property
    def slot(self) -> int | None:
        """The slot the relay gave this client in its room, or None (spec §17.1)."""
        if self.conn is None:
            return None
        membership = self.conn.rooms.get(self.session.room_tag)
        return membership.slot if membership is not None else None


class _Outbox:
    """The router's outbox (relay/router.py ``Outbox``): every delivery goes to ``_deliver``."""

    def __init__(self, relay: Router) -> None:
        self.relay = relay

    def _to(self, conn: relay_router.Link, data: bytes) -> None:
        link = conn.transport
        if isinstance(link, Link):  # a parked stranger (``first_slot``) has no client
            self.relay._deliver(link, decode_envelope(data, self.relay.config.max_payload))

    def send_media(
        self, link: relay_router.Link, data: bytes, tag: bytes, by_datagram: bool
    ) -> None:
        self._to(link, data)

    def send_reliable(self, link: relay_router.Link, data: bytes, tag: bytes) -> None:
        self._to(link, data)

    def audience_batch(self, room: relay_router.Room, data: bytes) -> None:
        # The server writes the batch to every audience member; in memory, at once.
        for member in list(room.audience.values()):
            self._to(member.link, data)

    def close(self, link: relay_router.Link, code: RelayErrorCode, reason: str) -> None:
        self._to(link, encode_error(bytes(16), code, reason))
        self.relay._closing.append(link)


class Router:
    """The real relay router with in-memory links and a clock, for room tests.

    ``first_slot``: the first ``first_slot`` slots of every room are held by
    idle strangers, so that members' slots start there (the real relay starts
    at 0).  ``config`` is the relay's (its defaults by default).
    """

    #: relay processes: 1 is the single relay, more a cluster over the in-memory engine
    nodes = 1

    def __init__(
        self, now: float = 0.0, first_slot: int = 0, config: RelayConfig | None = None
    ) -> None:
        self.links: list[Link] = []
        self.now = now
        self.config = config or RelayConfig()
        self.drop_to: set[int] = set()  # slots whose inbound CONTROL is silently dropped
        #: every envelope delivered: (recipient slot or -1, envelope)
        self.log: list[tuple[int, Envelope]] = []
        self._closing: list[relay_router.Link] = []
        self._start(first_slot)

    def _start(self, first_slot: int) -> None:
        self.stats = RelayStats()
        outbox = _Outbox(self)
        self.engine: MemoryEngine | None = None
        if self.nodes == 1:
            self.routers = [relay_router.Router(self.config, outbox, self.stats)]
        else:
            self.engine = MemoryEngine()
            self.routers = [
                ClusterRouter(self.config, outbox, self.engine, bytes([i + 1]) * 16, self.stats)
                for i in range(self.nodes)
            ]
        self.relay = self.routers[0]
        self._node_of: dict[relay_router.Link, relay_router.Router] = {}
        self._turn = 0
        self._first_slot = first_slot
        self._parked: set[bytes] = set()

    def _open(self, link: Link | None) -> relay_router.Link:
        """A new connection on the next node in turn (the only node of a single relay)."""
        node = self.routers[self._turn % len(self.routers)]
        self._turn += 1
        conn = node.open_link(self.now)
        conn.transport = link
        self._node_of[conn] = node
        return conn

    def _close(self, conn: relay_router.Link) -> None:
        node = self._node_of.pop(conn, None)
        if node is not None:
            node.close_link(conn)
            self._settle_engine()

    # -- clients ---------------------------------------------------------------
    def attach(self, session: RoomSession) -> Link:
        link = Link(session)
        link.conn = self._open(link)
        self.links.append(link)
        return link

    @property
    def by_slot(self) -> dict[int, Link]:
        """Slot -> client, over every room of this relay."""
        return {
            slot: m.link.transport
            for node in self.routers
            for room in node.rooms.values()
            for slot, m in room.members.items()
            if isinstance(m.link.transport, Link)
        }

    def _park_strangers(self, envelopes: list[Envelope]) -> None:
        for env in envelopes:
            tag = env.room_tag
            if env.type is EnvelopeType.JOIN and tag not in self._parked:
                self._parked.add(tag)
                if not any(tag in node.rooms for node in self.routers):
                    for _ in range(self._first_slot):
                        stranger = self.relay.open_link(self.now)
                        self._node_of[stranger] = self.relay
                        join = Envelope(EnvelopeType.JOIN, tag, 0, bytes((DeliveryClass.AUDIENCE,)))
                        self.relay.receive(stranger, [join], self.now)

    def _take_output(self, link: Link) -> bool:
        data = link.session.data_to_send()
        if not data or not link.up or link.conn is None:
            return bool(data)
        self._route_envelopes(link, list(link.decoder.feed(data)))
        return True

    def _route_envelopes(self, link: Link, envelopes: list[Envelope]) -> None:
        """What ``link``'s client wrote goes to the real router."""
        assert link.conn is not None
        self._park_strangers(envelopes)
        self._node_of[link.conn].receive(link.conn, envelopes, self.now)
        self._settle_engine()
        self._close_refused()

    def _settle_engine(self) -> None:
        """A cluster applies what a client's output caused before anything else moves, so
        that each delivery is still caused by the output being routed (tests/attack)."""
        if self.engine is not None:
            self.engine.pump()

    def _close_refused(self) -> None:
        while self._closing:
            conn = self._closing.pop()
            self._close(conn)
            link = conn.transport
            if isinstance(link, Link) and link.conn is conn:
                link.up = False
                link.conn = None

    def _deliver(self, to: Link, env: Envelope) -> None:
        """Every envelope the relay sends passes here on its way to ``to``'s inbox."""
        slot = to.slot
        if env.type is EnvelopeType.CONTROL and slot in self.drop_to:
            return
        self.log.append((-1 if slot is None else slot, env))
        to.inbox.append(env)

    # -- running -------------------------------------------------------------------
    def pump(self, max_steps: int = 1_000_000) -> None:
        """Deliver until nothing moves: the relay's FIFO order, one envelope at a time."""
        for _ in range(max_steps):
            moved = False
            for link in list(self.links):
                moved |= self._take_output(link)
            for link in list(self.links):
                if link.inbox and link.up:
                    env = link.inbox.popleft()
                    link.bytes_in += HEADER_LEN + len(env.payload)
                    link.session.envelope_received(env, self.now)
                    self._drain_events(link)
                    moved = True
            if not moved:
                return
        raise AssertionError("router did not settle")

    def _drain_events(self, link: Link) -> None:
        while (ev := link.session.next_event()) is not None:
            link.events.append(ev)

    def advance(self, dt: float) -> None:
        """Move the clock and run every due timer, then settle."""
        target = self.now + dt
        while True:
            due = [
                (t, link)
                for link in self.links
                if link.up and (t := link.session.get_timer()) is not None and t <= target
            ]
            if not due:
                break
            t, link = min(due, key=lambda x: x[0])
            self.now = max(self.now, t)
            link.session.handle_timer(self.now)
            self._drain_events(link)
            self.pump()
        self.now = target
        self.pump()

    # -- link faults -------------------------------------------------------------------
    def drop_link(self, link: Link) -> None:
        """The link of ``link`` dies (no LEAVE from the client): the stage sees PEER_LEFT."""
        if link.conn is not None:
            self._close(link.conn)
        link.conn = None
        link.up = False
        link.inbox.clear()
        link.decoder = EnvelopeDecoder()

    def reconnect(self, link: Link) -> None:
        """A new connection for ``link``: the session rejoins (spec §16.4)."""
        if link.conn is not None:
            self.drop_link(link)
        link.session.link_reset(self.now)
        link.conn = self._open(link)
        link.up = True
        self._drain_events(link)

    def restart(self, slot_base: int = 0) -> None:
        """The relay restarts: every link drops, slot numbers start again (and collide)."""
        for link in self.links:
            link.inbox.clear()
            link.conn = None
            link.up = False
            link.decoder = EnvelopeDecoder()
        self._closing.clear()
        self._start(slot_base)


def new_identity(seed: int) -> IdentityKey:
    return IdentityKey(random.Random(seed).randbytes(32))


def envelope(t: EnvelopeType, tag: bytes, slot: int, payload: bytes) -> bytes:
    return encode_envelope(t, tag, slot, payload)
