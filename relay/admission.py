"""Admission of TCP connections before their TLS handshake (spec §17.5), sans-IO.

Every limit on connections applies at ``accept``, before the relay spends a
handshake, a TLS object or a task on the peer: links in total and per client
address count pending handshakes as well as established links, and pending
handshakes have their own caps in total and per address.  A refused
connection is closed at once; no TLS exists yet, so nothing can be said.

IPv6 addresses count per /64 prefix (one subscriber usually holds a whole
/64, so per-address limits would otherwise mean nothing); IPv4 per address.
"""

from __future__ import annotations

import ipaddress
from collections import Counter

from relay.config import RelayConfig


def address_key(address: str) -> str:
    """The unit the per-address limits count: an IPv4 address or an IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Admission:
    """Counts pending handshakes and established links, in total and per address key."""

    __slots__ = ("_config", "_links", "_pending", "links", "pending")

    def __init__(self, config: RelayConfig) -> None:
        self._config = config
        #: per address key: pending handshakes + established links
        self._links: Counter[str] = Counter()
        #: per address key: pending handshakes only
        self._pending: Counter[str] = Counter()
        self.links = 0
        self.pending = 0

    def admit(self, key: str) -> bool:
        """Register a just-accepted connection as pending, or refuse it (False)."""
        cfg = self._config
        per_address = cfg.max_connections_per_address
        if (
            self.links >= cfg.max_connections
            or self.pending >= cfg.max_pending_handshakes
            or self._pending[key] >= cfg.max_pending_per_address
            or (per_address and self._links[key] >= per_address)
        ):
            return False
        self.links += 1
        self.pending += 1
        self._links[key] += 1
        self._pending[key] += 1
        return True

    def established(self, key: str) -> None:
        """The handshake of an admitted connection finished: it is a link now."""
        self.pending -= 1
        _decrement(self._pending, key)

    def failed(self, key: str) -> None:
        """The handshake of an admitted connection failed or timed out."""
        self.established(key)
        self.closed(key)

    def closed(self, key: str) -> None:
        """An established link ended."""
        self.links -= 1
        _decrement(self._links, key)


def _decrement(counter: Counter[str], key: str) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
