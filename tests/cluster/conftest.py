"""Fixtures shared by the cluster tests that run real node processes (spec §24)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .redis_server import redis_server
from .test_cluster_processes import Nodes


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    """Three `hushroom relay --cluster` processes over one fresh redis-server."""
    with redis_server() as (url, _):
        cluster = Nodes(url, tmp_path / "relay")
        try:
            for _ in range(3):
                cluster.start()
            yield cluster
        finally:
            cluster.stop()
