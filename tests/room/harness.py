"""A tiny in-memory relay that follows the envelope contract (spec §8, §17), for room tests.

It assigns slots on JOIN, sends WELCOME / PEER_JOINED / PEER_LEFT, forwards
CONTROL and MEDIA broadcasts to every other member of the room tag and UNICAST
to the destination slot, stamping the SOURCE slot, with one FIFO per
recipient.  ``restart()`` drops every link (all slots change) the way a relay
restart does.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from e2ee.envelope import Envelope, EnvelopeDecoder, EnvelopeType, encode_envelope
from e2ee.identity import IdentityKey
from e2ee.invite import RoomSecrets
from e2ee.room import RoomSession
from e2ee.room.events import Event


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


@dataclass
class Link:
    session: RoomSession
    decoder: EnvelopeDecoder = field(default_factory=EnvelopeDecoder)
    slot: int | None = None
    inbox: deque[Envelope] = field(default_factory=deque)
    events: list[Event] = field(default_factory=list)
    up: bool = True
    bytes_in: int = 0


class Router:
    def __init__(self, now: float = 0.0, first_slot: int = 1) -> None:
        self.links: list[Link] = []
        self.by_slot: dict[int, Link] = {}
        self.next_slot = first_slot
        self.now = now
        self.drop_to: set[int] = set()  # slots whose inbound CONTROL is silently dropped
        self.log: list[tuple[int, Envelope]] = []

    def attach(self, session: RoomSession) -> Link:
        link = Link(session)
        self.links.append(link)
        return link

    def _take_output(self, link: Link) -> bool:
        data = link.session.data_to_send()
        if not data or not link.up:
            return bool(data)
        for env in link.decoder.feed(data):
            self._route(link, env)
        return True

    def _deliver(self, to: Link, env: Envelope) -> None:
        to.inbox.append(env)

    def _route(self, src: Link, env: Envelope) -> None:
        t = env.type
        tag = env.room_tag
        if t is EnvelopeType.JOIN:
            slot = self.next_slot
            self.next_slot += 1
            src.slot = slot
            self.by_slot[slot] = src
            self._deliver(src, Envelope(EnvelopeType.WELCOME, tag, slot, b""))
            for other in self._room(src):
                self._deliver(other, Envelope(EnvelopeType.PEER_JOINED, tag, slot, b""))
            return
        if src.slot is None:
            return
        if t is EnvelopeType.LEAVE:
            self._leave(src)
        elif t in (EnvelopeType.CONTROL, EnvelopeType.MEDIA):
            out = Envelope(t, tag, src.slot, env.payload)
            for other in self._room(src):
                self._deliver(other, out)
        elif t is EnvelopeType.UNICAST:
            dest = self.by_slot.get(env.slot)
            if dest is not None and dest.up:
                self._deliver(dest, Envelope(t, tag, src.slot, env.payload))

    def _room(self, src: Link) -> list[Link]:
        return [x for x in self.links if x is not src and x.up and x.slot is not None]

    def _leave(self, link: Link) -> None:
        if link.slot is None:
            return
        slot = link.slot
        del self.by_slot[slot]
        link.slot = None
        for other in self._room(link):
            self._deliver(other, Envelope(EnvelopeType.PEER_LEFT, link.session.room_tag, slot, b""))

    def pump(self, max_steps: int = 1_000_000) -> None:
        """Deliver until nothing moves: the relay's FIFO order, one envelope at a time."""
        for _ in range(max_steps):
            moved = False
            for link in list(self.links):
                moved |= self._take_output(link)
            for link in list(self.links):
                if link.inbox and link.up:
                    env = link.inbox.popleft()
                    link.bytes_in += 26 + len(env.payload)
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

    def drop_link(self, link: Link) -> None:
        """The link of ``link`` dies (no LEAVE from the client): peers see PEER_LEFT."""
        self._leave(link)
        link.inbox.clear()
        link.decoder = EnvelopeDecoder()

    def reconnect(self, link: Link) -> None:
        link.session.link_reset(self.now)
        link.up = True
        self._drain_events(link)

    def restart(self, slot_base: int = 1) -> None:
        """The relay restarts: every link drops, slot numbers start again (and collide)."""
        for link in self.links:
            link.inbox.clear()
            link.slot = None
            link.decoder = EnvelopeDecoder()
        self.by_slot.clear()
        self.next_slot = slot_base


def new_identity(seed: int) -> IdentityKey:
    return IdentityKey(random.Random(seed).randbytes(32))


def envelope(t: EnvelopeType, tag: bytes, slot: int, payload: bytes) -> bytes:
    return encode_envelope(t, tag, slot, payload)
