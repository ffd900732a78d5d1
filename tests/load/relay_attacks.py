"""Misbehaving links against a real relay process while the fan-out bench measures.

The honest room is ``hushroom bench fanout`` itself (client/bench/fanout.py:
its relay process, speakers and listeners, its latency and drop figures).
An :class:`Attacker` runs beside it in threads of the test process with
plain blocking TLS sockets: it waits until every bench link is in, then
misbehaves as hard as it can for the measured window, reconnecting whenever
the relay closes it.  It samples the relay's RSS and error counters.
"""

from __future__ import annotations

import argparse
import re
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from client.bench import fanout
from client.link import client_ssl_context
from e2ee.envelope import EnvelopeType, encode_envelope

T = EnvelopeType
BENCH_TAG = bytes.fromhex(fanout._TAG_HEX)
OTHER_TAG = b"\xa7" * 16


def bench_args(listeners: int, speakers: int, seconds: float, relay_args: list[str]) -> Any:
    parser = argparse.ArgumentParser()
    fanout.register(parser)
    argv = ["--listeners", str(listeners), "--speakers", str(speakers)]
    argv += ["--seconds", str(seconds), *[f"--relay-arg={a}" for a in relay_args]]
    return parser.parse_args(argv)


@dataclass
class Attacker:
    """One attack against the relay listening on ``port`` (metrics on ``mport``)."""

    kind: str
    port: int
    mport: int
    bench_links: int
    seconds: float
    stop: threading.Event = field(default_factory=threading.Event)
    counts: Counter[str] = field(default_factory=Counter)
    rss_mb: list[float] = field(default_factory=list)
    errors: dict[str, float] = field(default_factory=dict)
    relay_alive: bool = True
    threads: list[threading.Thread] = field(default_factory=list)

    # -- plumbing ----------------------------------------------------------------

    def link(self, tag: bytes, cls: int, source: str = "127.0.0.1") -> ssl.SSLSocket:
        raw = socket.create_connection(
            ("127.0.0.1", self.port), timeout=10, source_address=(source, 0)
        )
        sock = client_ssl_context().wrap_socket(raw)  # an attacker needs no pin
        sock.sendall(encode_envelope(T.JOIN, tag, 0, bytes([cls])))
        return sock

    def relay_pid(self) -> int | None:
        needle = f"127.0.0.1:{self.port}".encode()
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    cmd = (proc / "cmdline").read_bytes()
                except OSError:
                    continue
                if b"relay" in cmd and needle in cmd:
                    return int(proc.name)
        return None

    def start(self) -> None:
        self.threads.append(threading.Thread(target=self._run, daemon=True))
        self.threads[-1].start()

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def _run(self) -> None:
        # wait for the bench to be set up, then attack for the measured window
        while not self.stop.is_set():
            try:
                m = fanout._metrics(self.mport)
            except OSError:
                time.sleep(0.2)
                continue
            if m.get("hushroom_relay_connections_open", 0) >= self.bench_links:
                break
            time.sleep(0.2)
        pid = self.relay_pid()
        end = time.monotonic() + 1.0 + self.seconds
        attack = getattr(self, "_" + self.kind.replace("-", "_"))
        workers = [
            threading.Thread(target=self._forever, args=(attack, i), daemon=True)
            for i in range(self._width())
        ]
        for w in workers:
            w.start()
        while time.monotonic() < end and not self.stop.is_set():
            time.sleep(0.25)
            if pid is not None:
                status = Path(f"/proc/{pid}/status")
                try:
                    text = status.read_text()
                except OSError:
                    self.relay_alive = False
                    break
                self.rss_mb.append(int(re.search(r"VmRSS:\s+(\d+)", text)[1]) / 1024)  # type: ignore[index]
            try:
                m = fanout._metrics(self.mport)
                self.errors = {
                    k: v for k, v in m.items() if k.startswith("hushroom_relay_errors_total")
                }
                self.errors["media_over_rate"] = m.get("hushroom_relay_media_over_rate_total", 0)
            except OSError:
                pass
        self.stop.set()
        for w in workers:
            w.join(timeout=30)

    def _width(self) -> int:
        return {"handshake-flood": 3, "join-flood": 4}.get(self.kind, 1)

    def _forever(self, attack: Any, index: int) -> None:
        while not self.stop.is_set():
            try:
                attack(index)
            except (OSError, ssl.SSLError):
                self.counts["closed_by_relay"] += 1
                time.sleep(0.01)

    # -- attacks -----------------------------------------------------------------

    def _control_flood(self, index: int) -> None:
        """256 KiB CONTROL envelopes as fast as possible into a room of 3 readers."""
        if "readers" not in self.counts:
            self.counts["readers"] = 3
            for _ in range(3):
                threading.Thread(target=self._honest_reader, daemon=True).start()
            time.sleep(0.5)
        sock = self.link(OTHER_TAG, 1)
        blob = encode_envelope(T.CONTROL, OTHER_TAG, 0, bytes(256 * 1024))
        while not self.stop.is_set():
            sock.sendall(blob)
            self.counts["sent_bytes"] += len(blob)

    def _honest_reader(self) -> None:
        sock = self.link(OTHER_TAG, 1)
        sock.settimeout(1.0)
        while not self.stop.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                sock.sendall(encode_envelope(T.PING, OTHER_TAG, 0))
                continue
            except (OSError, ssl.SSLError):
                data = b""
            if not data:
                self.counts["honest_closed"] += 1
                return
            self.counts["honest_bytes"] += len(data)

    def _media_flood(self, index: int) -> None:
        """1,000-byte MEDIA from a stage slot of the bench room as fast as possible."""
        sock = self.link(BENCH_TAG, 0)
        threading.Thread(target=self._drain, args=(sock,), daemon=True).start()
        blob = encode_envelope(T.MEDIA, BENCH_TAG, 0, bytes(1_000)) * 64
        while not self.stop.is_set():
            sock.sendall(blob)
            self.counts["sent_bytes"] += len(blob)

    def _drain(self, sock: ssl.SSLSocket) -> None:
        try:
            while not self.stop.is_set() and sock.recv(65536):
                pass
        except (OSError, ssl.SSLError):
            pass

    def _stalled_reader(self, index: int) -> None:
        """A stage member and an audience member of the bench room that never read."""
        socks = [self.link(BENCH_TAG, 0), self.link(BENCH_TAG, 1)]
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        while not self.stop.is_set():
            for s in socks:
                s.sendall(encode_envelope(T.PING, BENCH_TAG, 0))
            time.sleep(1.0)
        self.counts["stalled_links"] = len(socks)

    def _join_flood(self, index: int) -> None:
        """JOIN and LEAVE the bench room as fast as the relay takes it (PEER_JOINED/LEFT)."""
        sock = self.link(BENCH_TAG, 1)
        threading.Thread(target=self._drain, args=(sock,), daemon=True).start()
        pair = encode_envelope(T.LEAVE, BENCH_TAG, 0) + encode_envelope(
            T.JOIN, BENCH_TAG, 0, b"\x01"
        )
        while not self.stop.is_set():
            sock.sendall(pair * 100)
            self.counts["joins"] += 100
            time.sleep(0.1)  # 1,000 joins per second per link, inside the envelope rate

    def _oversized(self, index: int) -> None:
        """Envelopes announcing 1 MB payloads: TOO_LARGE, reconnect, again."""
        sock = self.link(OTHER_TAG, 1)
        header = encode_envelope(T.CONTROL, OTHER_TAG, 0, b"")[:22] + (10**6).to_bytes(4, "big")
        sock.sendall(header + bytes(65536))
        self.counts["oversized"] += 1
        sock.recv(65536)

    def _big_read(self, index: int) -> None:
        """CONTROL into a room of its own as fast as possible (no fan-out, all reading)."""
        sock = self.link(OTHER_TAG, 1)
        blob = encode_envelope(T.CONTROL, OTHER_TAG, 0, bytes(60_000)) * 16
        while not self.stop.is_set():
            sock.sendall(blob)
            self.counts["sent_bytes"] += len(blob)

    def _handshake_flood(self, index: int) -> None:
        """TCP connections that never start TLS, from three addresses, held open."""
        held: list[socket.socket] = []
        source = f"127.0.0.{index + 2}"
        while not self.stop.is_set() and len(held) < 1_500:
            s = socket.socket()
            s.setblocking(False)
            s.bind((source, 0))
            s.connect_ex(("127.0.0.1", self.port))
            held.append(s)
            self.counts["tcp_opened"] += 1
        while not self.stop.is_set():
            time.sleep(0.2)
        for s in held:
            s.close()


ATTACKS = (
    "control-flood",
    "media-flood",
    "stalled-reader",
    "join-flood",
    "oversized",
    "big-read",
    "handshake-flood",
)


def run_under_attack(
    kind: str | None, listeners: int = 500, speakers: int = 4, seconds: float = 10.0
) -> tuple[dict[str, Any], Attacker | None]:
    """One fan-out bench run with ``kind`` attacking beside it (None: no attack)."""
    ports = [fanout._free_port(), fanout._free_port()]
    original = fanout._free_port
    fanout._free_port = lambda: ports.pop(0)
    attacker = None
    if kind is not None:
        attacker = Attacker(kind, ports[0], ports[1], listeners + speakers, seconds)
        attacker.start()
    try:
        result = fanout.measure(bench_args(listeners, speakers, seconds, []))
    finally:
        fanout._free_port = original
        if attacker is not None:
            attacker.join()
    return result, attacker
