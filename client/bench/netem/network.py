"""A hub namespace and leaf namespaces joined by emulated links (docs/netem.md).

Each leaf is joined to the hub by one link: a TUN device in the leaf, one in
the hub, and the forwarding process between them applying the link's ``up``
(leaf -> hub) and ``down`` (hub -> leaf) impairments.  Link number ``i``
(1-based, in the order given) is the point-to-point pair 10.77.i.2 on device
``netem0`` in the leaf -- 10.77.i.1 on device ``netem<i>`` in the hub; the hub
forwards between links, so leaves reach each other through it (crossing both
links' impairments).

:class:`Network` is a context manager: entering sweeps stale namespaces,
builds everything and starts the forwarder; leaving (also after an error,
also when building failed half-way) stops the forwarder and deletes every
namespace it created.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from client.bench.netem import netns
from client.bench.netem.errors import NetemError
from client.bench.netem.settings import Impairment
from client.bench.netem.tun import TUN_PATH, open_tun

T = TypeVar("T")

HUB = "hub"
#: Most leaves one emulator joins to its hub (one /24 of 10.77.0.0/16 each).
MAX_LINKS = 250
_LEAF_NAME = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0
_CONTROL_TIMEOUT = 5.0
MTU = 1500


@dataclass(frozen=True, slots=True)
class Link:
    """The impairments of one leaf's link: ``up`` leaf -> hub, ``down`` hub -> leaf."""

    up: Impairment = field(default_factory=Impairment)
    down: Impairment = field(default_factory=Impairment)


def unavailable_reason() -> str | None:
    """Why this machine cannot run the emulator, or None when it can."""
    if os.geteuid() != 0:
        return "the network emulator needs root (network namespaces, TUN devices)"
    if not Path(TUN_PATH).exists():
        return f"the network emulator needs {TUN_PATH}"
    if shutil.which("ip") is None:
        return "the network emulator needs the 'ip' command (iproute2)"
    return None


def _write_sysctl(path: str, value: str) -> None:
    Path("/proc/sys", path).write_text(value)


class Network:
    """Emulated links between a hub namespace and named leaf namespaces."""

    def __init__(self, links: Mapping[str, Link], *, seed: int = 0, realtime: bool = True) -> None:
        if not 1 <= len(links) <= MAX_LINKS:
            raise ValueError(f"a network has 1 to {MAX_LINKS} links")
        for leaf in links:
            if not _LEAF_NAME.match(leaf) or leaf == HUB:
                raise ValueError(f"bad leaf name {leaf!r}")
        self.links = dict(links)
        self.seed = seed
        self.want_realtime = realtime
        #: whether the forwarder runs under SCHED_FIFO (set once started)
        self.realtime = False
        self._index = {leaf: i for i, leaf in enumerate(self.links, start=1)}
        self._names = netns.new_names([HUB, *self.links])
        self._created: list[str] = []
        self._fds: list[int] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    # -- addresses and ways in ------------------------------------------------

    def namespace(self, where: str) -> str:
        """The namespace name of ``"hub"`` or a leaf."""
        return self._names[where]

    def address(self, leaf: str) -> str:
        """The leaf's IPv4 address."""
        return f"10.77.{self._index[leaf]}.2"

    def hub_address(self, leaf: str) -> str:
        """The hub's IPv4 address on the link to ``leaf`` (reachable from every leaf)."""
        return f"10.77.{self._index[leaf]}.1"

    @property
    def forwarder_pid(self) -> int | None:
        """The forwarding process's pid (to watch its CPU use), None when stopped."""
        return None if self._proc is None else self._proc.pid

    def command(self, where: str, argv: list[str]) -> list[str]:
        """``argv`` wrapped to run inside ``where``'s namespace (for ``subprocess``)."""
        return netns.command(self.namespace(where), argv)

    def call(self, where: str, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` run on a thread inside ``where``'s namespace."""
        return netns.call_in(self.namespace(where), fn, *args)

    def socket(
        self, where: str, family: int = socket.AF_INET, kind: int = socket.SOCK_DGRAM
    ) -> socket.socket:
        """A new socket inside ``where``'s namespace, usable from any thread."""
        return self.call(where, socket.socket, family, kind)

    # -- control --------------------------------------------------------------

    def configure(
        self, leaf: str, *, up: Impairment | None = None, down: Impairment | None = None
    ) -> None:
        """Change a link's impairments; packets already held keep their times."""
        self._ask(
            {
                "op": "set",
                "link": leaf,
                "up": None if up is None else up.to_json(),
                "down": None if down is None else down.to_json(),
            }
        )
        old = self.links[leaf]
        self.links[leaf] = Link(up=up or old.up, down=down or old.down)

    def stats(self) -> dict[str, dict[str, dict[str, int]]]:
        """Per leaf, per direction (``up``, ``down``): the forwarder's packet counts."""
        links: dict[str, dict[str, dict[str, int]]] = self._ask({"op": "stats"})["links"]
        return links

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            proc = self._proc
            if proc is None or proc.stdin is None or proc.stdout is None:
                raise NetemError("the network emulator is not running")
            try:
                proc.stdin.write(json.dumps(request).encode() + b"\n")
                proc.stdin.flush()
            except BrokenPipeError:
                raise NetemError("the forwarding process has exited") from None
            reply: dict[str, Any] = json.loads(_read_line(proc, _CONTROL_TIMEOUT))
        if "error" in reply:
            raise NetemError(f"the forwarding process refused {request['op']}: {reply['error']}")
        return reply

    # -- life cycle -----------------------------------------------------------

    def __enter__(self) -> Network:
        reason = unavailable_reason()
        if reason is not None:
            raise NetemError(reason)
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self) -> None:
        netns.sweep_stale()
        for role in (HUB, *self.links):
            netns.add(self._names[role])
            self._created.append(self._names[role])
            self.call(role, _write_sysctl, "net/ipv6/conf/all/disable_ipv6", "1")
            self.call(role, _write_sysctl, "net/ipv6/conf/default/disable_ipv6", "1")
            netns.ip("-n", self._names[role], "link", "set", "dev", "lo", "up")
        self.call(HUB, _write_sysctl, "net/ipv4/ip_forward", "1")
        config_links = []
        for leaf, link in self.links.items():
            index = self._index[leaf]
            hub_fd = self._tun(HUB, f"netem{index}", self.hub_address(leaf), self.address(leaf))
            leaf_fd = self._tun(leaf, "netem0", self.address(leaf), self.hub_address(leaf))
            netns.ip(
                "-n",
                self.namespace(leaf),
                "route",
                "add",
                "10.77.0.0/16",
                "via",
                self.hub_address(leaf),
            )
            config_links.append(
                {
                    "name": leaf,
                    "hub_fd": hub_fd,
                    "leaf_fd": leaf_fd,
                    "up": link.up.to_json(),
                    "down": link.down.to_json(),
                }
            )
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "client.bench.netem.forward"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            pass_fds=self._fds,
        )
        assert self._proc.stdin is not None
        config = {"seed": self.seed, "realtime": self.want_realtime, "links": config_links}
        self._proc.stdin.write(json.dumps(config).encode() + b"\n")
        self._proc.stdin.flush()
        ready = json.loads(_read_line(self._proc, _START_TIMEOUT))
        if ready.get("ready") is not True:
            raise NetemError("the forwarding process did not start")
        self.realtime = bool(ready.get("realtime"))
        self._close_fds()  # the forwarder holds them now: the devices die with it

    def _tun(self, where: str, device: str, local: str, peer: str) -> int:
        """A TUN device moved into ``where`` as ``device``, ``local`` with ``peer``, up."""
        fd, created = open_tun()
        self._fds.append(fd)
        ns = self.namespace(where)
        netns.ip("link", "set", "dev", created, "netns", ns, "name", device)
        netns.ip("-n", ns, "addr", "add", local, "peer", peer, "dev", device)
        netns.ip(
            "-n", ns, "link", "set", "dev", device, "mtu", str(MTU), "txqueuelen", "10000", "up"
        )
        return fd

    def _close_fds(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()

    def close(self) -> None:
        """Stop the forwarder and delete every namespace created (idempotent)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self._close_fds()
        failures = []
        while self._created:
            name = self._created.pop()
            try:
                netns.delete(name)
            except NetemError as exc:
                failures.append(str(exc))
        if failures:
            raise NetemError("; ".join(failures))


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """One line from the forwarder's stdout within ``timeout`` seconds."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else b""
    if not line:
        raise NetemError("the forwarding process did not answer")
    return line
