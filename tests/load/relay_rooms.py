"""Many rooms on one relay process: a load generator and its orchestration.

``run_rooms(rooms, members, seconds)`` starts a real relay process (the
fan-out bench's way: ``hushroom relay`` on loopback with its metrics
endpoint), then generator processes that each hold a share of the rooms in
one epoll loop over plain blocking-mode TLS sockets: in every room the first
member is on stage and sends one timestamped 100-byte MEDIA envelope every
20 ms, the others are audience and drain their links; one listener per room
is decoded for latency.  Reports relay RSS and CPU, errors and latency.
"""

from __future__ import annotations

import json
import os
import select
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

from client.bench import fanout

_STAMP = struct.Struct(">d")
_FPS = 50.0


def _tag(room: int) -> bytes:
    return b"rooms-load" + room.to_bytes(6, "big")


def generator(argv: list[str]) -> None:
    """Worker process: hold rooms [first, first + count) of ``members`` links each."""
    from client.link import certificate_pin, client_ssl_context
    from e2ee.envelope import RELAY_TYPES, EnvelopeDecoder, EnvelopeType, encode_envelope

    port, first, count, members = (int(x) for x in argv[:4])
    pin = bytes.fromhex(argv[4])
    fanout._raise_nofile()
    ctx = client_ssl_context()
    rooms: list[list[ssl.SSLSocket]] = []
    for room in range(first, first + count):
        links = []
        for i in range(members):
            for attempt in range(50):
                try:
                    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
                    sock = ctx.wrap_socket(raw, server_hostname=None)
                    break
                except OSError:
                    if attempt == 49:
                        raise
                    time.sleep(0.1 * (attempt + 1))
            cert = sock.getpeercert(binary_form=True)
            assert cert is not None and certificate_pin(cert) == pin
            sock.sendall(
                encode_envelope(EnvelopeType.JOIN, _tag(room), 0, bytes([0 if i == 0 else 1]))
            )
            links.append(sock)
        rooms.append(links)
    t0, t1 = fanout._wait_go()
    ep = select.epoll()
    socks: dict[int, ssl.SSLSocket] = {}
    decoders: dict[int, EnvelopeDecoder] = {}
    for links in rooms:
        for i, s in enumerate(links):
            s.setblocking(False)
            socks[s.fileno()] = s
            ep.register(s.fileno(), select.EPOLLIN)
            if i == 1:
                decoders[s.fileno()] = EnvelopeDecoder(allowed=RELAY_TYPES)
    latency: array[float] = array("d")
    errors = closed = unsent = 0
    next_send = t0
    seq = 0
    media = EnvelopeType.MEDIA
    pad = bytes(100 - _STAMP.size)
    while True:
        now = time.monotonic()
        if now >= t1 + 1.0:
            break
        if next_send <= now <= t1:
            for r, links in enumerate(rooms):
                env = encode_envelope(media, _tag(first + r), 0, _STAMP.pack(now) + pad)
                try:
                    links[0].send(env)
                except (ssl.SSLWantWriteError, BlockingIOError):
                    unsent += 1
                except OSError:
                    pass
            seq += 1
            next_send = t0 + seq / _FPS
        for fd, _ in ep.poll(max(0.0, min(0.005, next_send - time.monotonic()))):
            s = socks[fd]
            dec = decoders.get(fd)
            while True:
                try:
                    data = s.recv(65536)
                except (ssl.SSLWantReadError, BlockingIOError):
                    break
                except (ssl.SSLError, OSError):
                    data = b""
                if not data:
                    ep.unregister(fd)
                    closed += 1
                    break
                if dec is not None:
                    stamp_now = time.monotonic()
                    for env in dec.feed(data):
                        if env.type == media:
                            sent = _STAMP.unpack_from(env.payload)[0]
                            if t0 <= sent <= t1:
                                latency.append(stamp_now - sent)
                        elif env.type == EnvelopeType.ERROR:
                            errors += 1
    ordered = sorted(latency)
    print(
        json.dumps(
            {
                "samples": len(ordered),
                "p50_ms": fanout._percentile(ordered, 0.5) * 1000,
                "p99_ms": fanout._percentile(ordered, 0.99) * 1000,
                "errors": errors,
                "closed": closed,
                "unsent": unsent,
            }
        ),
        flush=True,
    )


def run_rooms(rooms: int, members: int, seconds: float, procs: int = 2) -> dict[str, Any]:
    """A relay process, ``procs`` generators sharing ``rooms`` rooms; the merged result."""
    from relay.wire.pin import decode_pin

    fanout._raise_nofile()
    port, mport = fanout._free_port(), fanout._free_port()
    relay = subprocess.Popen(
        [
            *(sys.executable, "-m", "client", "relay", "--listen", f"127.0.0.1:{port}"),
            *("--state-dir", tempfile.mkdtemp(prefix="hushroom-rooms-")),
            *("--metrics", f"127.0.0.1:{mport}", "--max-per-address", "0"),
            *("--idle-timeout", "3600", "--handshake-timeout", "120"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    workers: list[subprocess.Popen[str]] = []
    try:
        assert relay.stdout is not None
        pin_hex = decode_pin(relay.stdout.readline().split()[-1]).hex()
        share = [rooms // procs + (1 if i < rooms % procs else 0) for i in range(procs)]
        first = 0
        for count in filter(None, share):
            argv = [str(port), str(first), str(count), str(members), pin_hex]
            workers.append(
                subprocess.Popen(
                    [sys.executable, __file__, *argv],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
                )
            )
            first += count
        setup = time.monotonic()
        for w in workers:
            fanout._expect_ready(w, "room generator")
        setup_s = time.monotonic() - setup
        t0 = time.monotonic() + 1.0
        t1 = t0 + seconds
        for w in workers:
            assert w.stdin is not None
            w.stdin.write(f"GO {t0!r} {t1!r}\n")
            w.stdin.flush()
        time.sleep(max(0.0, t0 - time.monotonic()))
        m0, c0 = fanout._metrics(mport), fanout._cpu_seconds(relay.pid)
        time.sleep(max(0.0, t1 - time.monotonic()))
        m1, c1 = fanout._metrics(mport), fanout._cpu_seconds(relay.pid)
        rss = fanout._rss_mb(relay.pid)
        results = []
        for w in workers:
            assert w.stdout is not None
            results.append(json.loads(w.stdout.readline()))
            w.wait(timeout=60)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
        relay.terminate()
        relay.wait(timeout=10)
    errors = {k: v for k, v in m1.items() if k.startswith("hushroom_relay_errors_total")}
    forwarded = "hushroom_relay_frames_forwarded_total"
    return {
        "rooms": rooms,
        "members": members,
        "links": int(m1["hushroom_relay_connections_open"]),
        "seconds": seconds,
        "setup_s": round(setup_s, 1),
        "relay_rss_mb": round(rss, 1),
        "relay_cpu_pct": round(100 * (c1 - c0) / seconds, 1),
        "forwarded_per_s": round((m1[forwarded] - m0[forwarded]) / seconds),
        "dropped_frames": int(m1["hushroom_relay_frames_dropped_total"]),
        "relay_errors": errors,
        "listener_p50_ms": round(max(r["p50_ms"] for r in results), 2),
        "listener_p99_ms": round(max(r["p99_ms"] for r in results), 2),
        "samples": sum(r["samples"] for r in results),
        "closed": sum(r["closed"] for r in results),
        "client_errors": sum(r["errors"] for r in results),
        "unsent": sum(r["unsent"] for r in results),
    }


if __name__ == "__main__":
    generator(sys.argv[1:])
