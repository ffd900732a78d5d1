"""The emulator starts and stops cleanly (docs/netem.md, "Life cycle")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from client.bench.netem import Link, NetemError, Network, netns
from client.bench.netem import network as network_module
from client.bench.netem.netns import NETNS_DIR, ip
from client.bench.netem.tun import open_tun

pytestmark = pytest.mark.netem


def gone(pid: int, within_s: float = 5.0) -> bool:
    """True once ``pid`` no longer runs (exited, or a zombie nobody reaped yet)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.02)
    return False


def root_devices() -> str:
    return ip("-o", "link", "show")


def test_leaving_after_an_error_deletes_namespaces_and_stops_the_forwarder() -> None:
    with pytest.raises(RuntimeError, match="the test body failed"), Network({"a": Link()}) as net:
        names = [net.namespace("hub"), net.namespace("a")]
        pid = net.forwarder_pid
        assert pid is not None
        assert all((NETNS_DIR / name).exists() for name in names)
        raise RuntimeError("the test body failed")
    assert not any((NETNS_DIR / name).exists() for name in names)
    assert gone(pid)
    assert net.forwarder_pid is None
    net.close()  # closing twice is harmless


def test_a_start_that_fails_half_way_deletes_what_it_created(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened: list[int] = []

    def second_tun_fails() -> tuple[int, str]:
        if opened:
            raise NetemError("no more TUN devices")
        fd, name = open_tun()
        opened.append(fd)
        return fd, name

    monkeypatch.setattr(network_module, "open_tun", second_tun_fails)
    net = Network({"a": Link()})
    with pytest.raises(NetemError, match="no more TUN devices"), net:
        pass
    assert not (NETNS_DIR / net.namespace("hub")).exists()
    assert not (NETNS_DIR / net.namespace("a")).exists()
    with pytest.raises(OSError):
        os.fstat(opened[0])  # the descriptor was closed: its device is gone


def test_start_sweeps_the_namespaces_of_dead_processes_only() -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    stale = f"hnetem-{finished.pid}-1-hub"
    live = f"hnetem-{os.getpid()}-999999-hub"
    ip("netns", "add", stale)
    ip("netns", "add", live)
    try:
        with Network({"a": Link()}):
            assert not (NETNS_DIR / stale).exists()
            assert (NETNS_DIR / live).exists()
    finally:
        for name in (stale, live):
            if (NETNS_DIR / name).exists():
                ip("netns", "delete", name)


def test_a_sweep_that_another_emulator_beats_to_a_stale_namespace_moves_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    stale = f"hnetem-{finished.pid}-1-hub"
    ip("netns", "add", stale)

    def racing_ip(*args: str) -> str:
        if args == ("netns", "delete", stale):
            ip(*args)  # the other emulator deletes it just before this one does
        return ip(*args)

    monkeypatch.setattr(netns, "ip", racing_ip)
    try:
        assert stale not in netns.sweep_stale()
        assert not (NETNS_DIR / stale).exists()
    finally:
        if (NETNS_DIR / stale).exists():
            ip("netns", "delete", stale)


_HOLDER = """
import json, sys, time
from client.bench.netem import Link, Network
net = Network({"a": Link()}).__enter__()
print(json.dumps([net.namespace("hub"), net.namespace("a"), net.forwarder_pid]), flush=True)
time.sleep(60)
"""


def test_a_killed_owner_takes_its_forwarder_and_devices_along_and_is_swept_later() -> None:
    owner = subprocess.Popen([sys.executable, "-c", _HOLDER], stdout=subprocess.PIPE)
    assert owner.stdout is not None
    hub, leaf, forwarder = json.loads(owner.stdout.readline())
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    assert gone(forwarder)  # its control channel closed: it exits on its own
    assert "netem" not in ip("-n", hub, "-o", "link", "show")
    assert (NETNS_DIR / hub).exists() and (NETNS_DIR / leaf).exists()
    with Network({"a": Link()}):
        assert not (NETNS_DIR / hub).exists() and not (NETNS_DIR / leaf).exists()


@pytest.mark.parametrize("realtime", [True, False])
def test_the_forwarder_runs_real_time_unless_asked_not_to(realtime: bool) -> None:
    with Network({"a": Link()}, realtime=realtime) as net:
        assert net.forwarder_pid is not None
        policy = os.sched_getscheduler(net.forwarder_pid)
        assert net.realtime is realtime
        assert policy == (os.SCHED_FIFO if realtime else os.SCHED_OTHER)
