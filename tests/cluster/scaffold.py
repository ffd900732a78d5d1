"""Cluster nodes over the in-memory engine with recording outboxes (spec §24)."""

from __future__ import annotations

from dataclasses import dataclass, field

from e2ee.envelope import (
    DeliveryClass,
    Envelope,
    EnvelopeType,
    RelayErrorCode,
    decode_envelope,
    parse_error,
)
from relay.cluster.memory import MemoryEngine
from relay.cluster.node import ClusterRouter
from relay.config import RelayConfig
from relay.router import Link, Room

TAG = b"T" * 16


@dataclass
class Outbox:
    """Everything a node delivered, per link; an audience batch goes to every audience link."""

    got: dict[Link, list[tuple[str, Envelope]]] = field(default_factory=dict)
    closed: dict[Link, RelayErrorCode] = field(default_factory=dict)

    def _add(self, link: Link, kind: str, data: bytes) -> None:
        self.got.setdefault(link, []).append((kind, decode_envelope(data)))

    def send_media(self, link: Link, data: bytes, tag: bytes, by_datagram: bool) -> None:
        self._add(link, "media", data)

    def send_reliable(self, link: Link, data: bytes, tag: bytes) -> None:
        self._add(link, "reliable", data)

    def audience_batch(self, room: Room, data: bytes) -> None:
        for member in room.audience.values():
            self._add(member.link, "batch", data)

    def close(self, link: Link, code: RelayErrorCode, reason: str) -> None:
        self.closed[link] = code


class Cluster:
    """``n`` nodes sharing one in-memory engine; every call settles the engine."""

    def __init__(self, n: int = 3, **config: float) -> None:
        self.engine = MemoryEngine()
        self.config = RelayConfig(**config)  # type: ignore[arg-type]
        self.outboxes = [Outbox() for _ in range(n)]
        self.nodes = [
            ClusterRouter(self.config, box, self.engine, bytes([i + 1]) * 16)
            for i, box in enumerate(self.outboxes)
        ]
        self._node_of: dict[Link, int] = {}

    def link(self, node: int) -> Link:
        conn = self.nodes[node].open_link(0.0)
        self._node_of[conn] = node
        return conn

    def send(self, link: Link, etype: EnvelopeType, slot: int = 0, payload: bytes = b"") -> None:
        self.nodes[self._node_of[link]].receive(link, [Envelope(etype, TAG, slot, payload)], 0.0)
        self.engine.pump()

    def join(self, node: int, cls: DeliveryClass = DeliveryClass.STAGE) -> Link:
        link = self.link(node)
        self.send(link, EnvelopeType.JOIN, 0, bytes((cls,)))
        return link

    def close(self, link: Link) -> None:
        self.nodes[self._node_of[link]].close_link(link)
        self.engine.pump()

    def take(self, link: Link) -> list[tuple[str, Envelope]]:
        return self.outboxes[self._node_of[link]].got.pop(link, [])

    def slot(self, link: Link) -> int:
        return link.rooms[TAG].slot

    def closed(self, link: Link) -> RelayErrorCode | None:
        return self.outboxes[self._node_of[link]].closed.get(link)


def kinds(got: list[tuple[str, Envelope]]) -> list[tuple[EnvelopeType, int]]:
    return [(env.type, env.slot) for _, env in got]


def refusal(got: list[tuple[str, Envelope]]) -> int | None:
    """The code of the last ERROR in ``got``, if any."""
    errors = [env for _, env in got if env.type is EnvelopeType.ERROR]
    return parse_error(errors[-1])[0] if errors else None
