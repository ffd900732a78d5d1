"""``hushroom relay --cluster``: three relay processes, one Redis, clients on different nodes.

Real TLS links with the real pin, real processes, real time (spec §24): every
wait is for a condition, with a deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from client.link import RelayClosed, RelayLink, connect_relay
from e2ee.envelope import DeliveryClass, Envelope, EnvelopeType
from relay.wire.pin import decode_pin

from .redis_server import needs_redis

pytestmark = needs_redis
T = EnvelopeType
TAG = bytes(range(16))
ROOT = Path(__file__).resolve().parents[2]


class Nodes:
    """Relay processes sharing one state directory (one key, one pin) and one engine."""

    def __init__(self, url: str, state: Path) -> None:
        self.url = url
        self.state = state
        self.procs: list[subprocess.Popen[str]] = []
        self.ports: list[int] = []
        self.pin = b""

    def start(self, *extra: str) -> int:
        """One more node; ``extra``: more ``hushroom relay`` flags (``--udp-port 0``)."""
        cmd = [sys.executable, "-m", "client", "relay", "--listen", "127.0.0.1:0",
               "--state-dir", str(self.state), "--cluster", self.url, *extra]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, (line, proc.stderr.read() if proc.stderr else "")
        words = line.split()
        self.procs.append(proc)
        self.ports.append(int(words[4].rpartition(":")[2]))
        self.pin = decode_pin(words[-1])
        return len(self.procs) - 1

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Client:
    def __init__(self, link: RelayLink) -> None:
        self.link = link
        self.got: list[Envelope] = []
        self.slot = -1

    async def wait_for(self, pred: Callable[[Envelope], bool], timeout: float = 20.0) -> Envelope:
        with trio.fail_after(timeout):
            while True:
                for env in self.got:
                    if pred(env):
                        self.got.remove(env)
                        return env
                self.got += await self.link.receive()


async def join(nodes: Nodes, i: int, cls: DeliveryClass = DeliveryClass.STAGE) -> Client:
    client = Client(await connect_relay("127.0.0.1", nodes.ports[i], nodes.pin))
    await client.link.send_envelope(T.JOIN, TAG, 0, bytes((cls,)))
    client.slot = (await client.wait_for(lambda e: e.type is T.WELCOME)).slot
    return client


def is_(etype: EnvelopeType, slot: int, payload: bytes | None = None) -> Callable[[Envelope], bool]:
    return lambda e: e.type is etype and e.slot == slot and payload in (None, e.payload)


async def test_clients_on_three_nodes_exchange_control_unicast_and_media(nodes: Nodes) -> None:
    a = await join(nodes, 0)
    b = await join(nodes, 1)
    c = await join(nodes, 2, DeliveryClass.AUDIENCE)
    assert sorted((a.slot, b.slot, c.slot)) == [0, 1, 2]
    await a.wait_for(is_(T.PEER_JOINED, c.slot))
    await a.link.send_envelope(T.CONTROL, TAG, 0, b"hello room")
    await b.wait_for(is_(T.CONTROL, a.slot, b"hello room"))
    await c.wait_for(is_(T.CONTROL, a.slot, b"hello room"))
    await c.link.send_envelope(T.UNICAST, TAG, b.slot, b"to b")
    await b.wait_for(is_(T.UNICAST, c.slot, b"to b"))
    await b.link.send_envelope(T.MEDIA, TAG, 0, b"opus from b")
    await a.wait_for(is_(T.MEDIA, b.slot, b"opus from b"))
    await c.wait_for(is_(T.MEDIA, b.slot, b"opus from b"))
    await c.link.send_envelope(T.MEDIA, TAG, 0, b"from the floor")
    await a.wait_for(is_(T.MEDIA, c.slot, b"from the floor"))


async def _kill_and_resume(nodes: Nodes, timeout: float) -> tuple[float, float]:
    """SIGKILL node 2: its client comes back through node 0, and the others see the old
    seat go; ``(seconds to resume, seconds until the old seat is freed)``."""
    a = await join(nodes, 0)
    b = await join(nodes, 1)
    c = await join(nodes, 2)
    nodes.procs[2].send_signal(signal.SIGKILL)
    start = trio.current_time()
    with pytest.raises(RelayClosed):
        await c.wait_for(lambda e: False, timeout)
    # the client comes back through another node (one pin for all), and the room is one
    again = await join(nodes, 0)
    await again.link.send_envelope(T.CONTROL, TAG, 0, b"back")
    await b.wait_for(is_(T.CONTROL, again.slot, b"back"), timeout)
    resumed = trio.current_time() - start
    await a.wait_for(is_(T.PEER_LEFT, c.slot), timeout)  # once the node's TTL ran out
    return resumed, trio.current_time() - start


async def test_a_killed_nodes_client_resumes_on_another_node(nodes: Nodes) -> None:
    await _kill_and_resume(nodes, timeout=30)


@pytest.mark.load
async def test_a_killed_nodes_client_resumes_within_5_s(nodes: Nodes) -> None:
    resumed, left = await _kill_and_resume(nodes, timeout=30)
    print(f"resumed after {resumed:.2f} s, old seat freed after {left:.2f} s")
    assert resumed < 5.0 and left < 5.0, (resumed, left)


def test_an_unreachable_engine_is_one_clear_line_without_the_password(tmp_path: Path) -> None:
    from .redis_server import free_port

    port = free_port()
    cmd = [sys.executable, "-m", "client", "relay", "--listen", "127.0.0.1:0",
           "--state-dir", str(tmp_path), "--cluster", f"redis://:hunter2@127.0.0.1:{port}"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode != 0
    assert f"cannot reach the cluster engine at 127.0.0.1:{port}" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_a_cluster_url_of_another_scheme_is_refused(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "client", "relay", "--listen", "127.0.0.1:0",
           "--state-dir", str(tmp_path), "--cluster", "http://127.0.0.1:80"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode != 0
    assert "--cluster takes redis://HOST:PORT" in done.stderr
