"""The one error the network emulator raises when it cannot set up or run."""

from __future__ import annotations


class NetemError(Exception):
    """The emulator could not be started, configured or asked (docs/netem.md)."""
