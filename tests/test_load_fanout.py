"""Load test (excluded by default; run with ``pytest -m load``).

Runs the real fan-out benchmark — a relay process and load-generator processes
over TLS on loopback — for a 2,000-listener room and checks what must hold at
any speed: no audio dropped without a slow consumer, everything delivered, and
audience latency that does not grow over the run.  Timing goals themselves are
reported by ``hushroom bench fanout``, not asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.load
def test_two_thousand_listeners_lose_nothing_and_stay_bounded() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "client",
            "bench",
            "fanout",
            "--speakers",
            "4",
            "--listeners",
            "2000",
            "--seconds",
            "15",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["listeners"] == 2000
    assert result["dropped_frames"] == 0
    assert result["delivered_ratio"] >= 0.99
    first, last = result["latency_trend_ms"]
    assert last <= 3 * first + 50, result["latency_trend_ms"]
