"""Attack scenarios run on one relay and on a cluster."""

from room.topology import topology

__all__ = ["topology"]
