"""The ``topology`` fixture: room tests on one relay and on a three-node cluster (spec §24).

Every test of tests/room and tests/attack runs twice: on the single relay
(``node``) and on three cluster nodes over the in-memory engine
(``cluster3``), with the clients spread over the nodes.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .harness import Router


@pytest.fixture(autouse=True, params=[1, 3], ids=["node", "cluster3"])
def topology(request: pytest.FixtureRequest) -> Iterator[int]:
    nodes: int = request.param
    saved = Router.nodes
    Router.nodes = nodes
    try:
        yield nodes
    finally:
        Router.nodes = saved
