"""Hushroom's sans-IO protocol core (spec/protocol.md).

Bytes and events in, bytes and events out.  Nothing in this package performs
I/O, reads a clock or draws randomness by itself: callers pass ``now`` and a
``rng`` (a callable returning *n* random bytes) wherever they are needed.
"""
