"""A packet-level network emulator on network namespaces and TUN devices (docs/netem.md).

For tests and benchmarks: leaf namespaces joined to a hub namespace by links
that delay, jitter, lose (randomly or in bursts), reorder, duplicate and
rate-limit IP packets, per direction, TCP and UDP alike.  Needs root.

    from client.bench.netem import Impairment, Link, Network

    with Network({"alice": Link(up=Impairment(delay_ms=50, loss_pct=5))}) as net:
        sock = net.socket("alice")          # a UDP socket inside alice's namespace
        sock.sendto(b"hi", (net.hub_address("alice"), 9000))
"""

from client.bench.netem.errors import NetemError
from client.bench.netem.model import Direction, DirectionStats
from client.bench.netem.network import HUB, Link, Network, unavailable_reason
from client.bench.netem.settings import GilbertElliott, Impairment

__all__ = [
    "HUB",
    "Direction",
    "DirectionStats",
    "GilbertElliott",
    "Impairment",
    "Link",
    "NetemError",
    "Network",
    "unavailable_reason",
]
