"""When the emulator can run, what a Network accepts, its wake-up alarm: no root needed."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

import pytest

from client.bench.netem import Link, Network, unavailable_reason
from client.bench.netem import network as network_module
from client.bench.netem.alarm import Alarm
from client.bench.netem.network import MAX_LINKS


def test_without_root_the_reason_says_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert unavailable_reason() == (
        "the network emulator needs root (network namespaces, TUN devices)"
    )


def test_without_the_tun_device_the_reason_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(network_module, "TUN_PATH", "/nonexistent/tun")
    assert unavailable_reason() == "the network emulator needs /nonexistent/tun"


def test_without_iproute2_the_reason_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(network_module, "TUN_PATH", "/")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert unavailable_reason() == "the network emulator needs the 'ip' command (iproute2)"


def test_importing_the_emulator_loads_no_async_framework() -> None:
    code = (
        "import sys, client.bench.netem, client.bench.netem.accuracy, "
        "client.bench.netem.forward; "
        "print(sorted(m for m in ('trio', 'asyncio') if m in sys.modules))"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]"


def readable(alarm: Alarm) -> bool:
    return bool(select.select([alarm], [], [], 0)[0])


def test_the_alarm_fires_for_a_passed_time_and_not_for_a_future_one() -> None:
    alarm = Alarm()
    try:
        alarm.arm(time.monotonic() + 3_600)
        assert not readable(alarm)
        alarm.arm(time.monotonic() - 0.001)
        assert readable(alarm)
        alarm.acknowledge()
        assert not readable(alarm) and alarm.armed is None
        alarm.arm(time.monotonic() - 0.001)
        alarm.arm(None)  # disarming before the loop looked: nothing to read
        assert not readable(alarm)
    finally:
        alarm.close()


@pytest.mark.parametrize(
    "links",
    [
        {},
        {"hub": Link()},
        {"Alice": Link()},
        {"a" * 17: Link()},
        {f"l{i}": Link() for i in range(MAX_LINKS + 1)},
    ],
)
def test_a_network_refuses_bad_leaf_names_and_link_counts(links: dict[str, Link]) -> None:
    with pytest.raises(ValueError):
        Network(links)


def test_a_network_of_the_most_links_is_addressed_within_its_plan() -> None:
    net = Network({f"l{i}": Link() for i in range(MAX_LINKS)})
    assert net.address("l0") == "10.77.1.2" and net.hub_address("l0") == "10.77.1.1"
    assert net.address(f"l{MAX_LINKS - 1}") == f"10.77.{MAX_LINKS}.2"
    assert net.forwarder_pid is None  # nothing starts before the context is entered
