"""The emulator fixture: ``emulator(links, seed=...)`` starts a Network torn down after the test.

Tests that need it are marked ``netem`` and skipped, with the reason, where
the machine cannot run it (not root, no /dev/net/tun, no iproute2).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

import pytest

from client.bench.netem import Link, Network, unavailable_reason

StartNetwork = Callable[..., Network]

#: The probe's times are on the real-time clock, which time synchronisation
#: may move by microseconds while it runs: "never early" allows this much.
CLOCK_MS = 0.1
#: The probe stamps a datagram in user space after its send call returns; with both
#: cores busy the stamp can come that much after the datagram left, so a delay can
#: look shorter than the one drawn.  The exact bound is the model's (virtual clock).
STAMP_SLACK_MS = 5.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = unavailable_reason()
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("netem") is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def emulator() -> Iterator[StartNetwork]:
    """Start emulated networks; every one is stopped and deleted when the test ends."""
    with contextlib.ExitStack() as stack:

        def start(links: Mapping[str, Link], seed: int = 1) -> Network:
            return stack.enter_context(Network(links, seed=seed))

        yield start
