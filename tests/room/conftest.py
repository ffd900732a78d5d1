"""Room tests run on one relay and on a cluster."""

from .topology import topology

__all__ = ["topology"]
