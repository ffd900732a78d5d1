"""``hushroom bench fanout``: a real relay and load-generating client processes.

By default the relay is a process started here on 127.0.0.1; with
``--relay HOST:PORT --pin=PIN`` the load goes to a relay that is already
running (as ``lk load-test --url`` does), in a room tag of its own, and the
relay-side figures (CPU, memory, metrics) are ``null``.  Links are the real
link (TLS 1.3, pinned key) with real envelopes.  ``--speakers`` stage members
each send one MEDIA envelope every 20 ms carrying a CLOCK_MONOTONIC timestamp,
by default of the size of a real protected frame (:func:`media_payload_len`),
and with ``--auth optimistic`` (the default) or ``hold`` also a speaker proof
of its real size after every batch of frames (:func:`auth_plan`, spec §15.6);
``--listeners`` audience members (held by one or a few cheap
processes: one epoll loop over thousands of TLS sockets, decoding only a
sample of them) drain their links.  Latency is receive time minus the
timestamp in the payload (the monotonic clock is shared by all processes on
one Linux machine).  Progress goes to stderr (:mod:`client.bench.progress`).

The relay's CPU comes from /proc, drops and forwarded frames from its
``--metrics`` endpoint.  Timing goals live here, never in unit tests.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import secrets
import select
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from client.bench.progress import Progress

HELP = "real relay process + load clients on loopback: latency, CPU, drops"

_STAMP = struct.Struct(">dII")  # send time (monotonic s), speaker index, sequence
_TAG_HEX = "6868686868686868686868686868f00d"  # the room of a relay started here
_PING_EVERY = 10.0
_UP_EVERY = 25  # links between two "UP k" progress lines of a load generator
AUTH_MODES = ("off", "hold", "optimistic")


class AuthPlan(NamedTuple):
    """What each speaker sends for speaker authentication (spec §15.6); batch 0: nothing."""

    mode: str
    batch: int
    parity: int
    proof: bytes


def auth_plan(mode: str, speakers: int) -> AuthPlan:
    """The batch, parity and a proof payload of the real size a room's speaker sends.

    ``optimistic`` is a room's default configuration (the play-first stage
    mode), ``hold`` its hold-until-proven stage mode; a speaker uses the stage
    batch while others are on stage and the audience batch alone (spec §15.6).
    The proof is a real one (made with a fixed throw-away key), so its size is
    the protocol's, not a copy of it.
    """
    if mode == "off":
        return AuthPlan(mode, 0, 0, b"")
    from e2ee.identity import IdentityKey
    from e2ee.room.speaker_auth import STAGE_HOLD, AuthConfig
    from e2ee.room.speaker_proof import DIGEST_LEN, make_proof

    config = STAGE_HOLD if mode == "hold" else AuthConfig()
    batch, parity = config.params(others_on_stage=speakers > 1)
    zero = bytes(DIGEST_LEN)
    proof = make_proof(IdentityKey(zero), zero, zero, 0, 0, [zero] * batch, parity)
    return AuthPlan(mode, batch, parity, proof)


def media_payload_len() -> int:
    """Bytes of a MEDIA payload carrying one default Opus frame (spec §11).

    The CBR packet (bit rate x 20 ms) padded to its bucket (§11.4), the AEAD tag,
    and the SFrame header of a counter that takes two bytes (frames 256 to
    65,535: a speaker between 5 s and 22 min into the room, §11.2).
    """
    from client.audio.encoder import DEFAULT_BITRATE
    from client.audio.format import FRAME_MS
    from e2ee.padding import bucket_for
    from e2ee.sframe_header import encode_header
    from e2ee.xchacha import TAG_LEN

    opus = DEFAULT_BITRATE * FRAME_MS // 8000
    return len(encode_header(0, 1 << 8)) + bucket_for(opus) + TAG_LEN


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--speakers", type=int, default=4, help="stage members sending audio")
    parser.add_argument("--listeners", type=int, default=500, help="audience members")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured duration")
    parser.add_argument(
        "--payload",
        type=int,
        default=None,
        help="MEDIA payload bytes of a frame (default: a real protected Opus frame's)",
    )
    parser.add_argument(
        "--auth",
        choices=AUTH_MODES,
        default="optimistic",
        help="speaker authentication proofs sent with the frames (default: a room's, optimistic)",
    )
    parser.add_argument("--fps", type=float, default=50.0, help="frames per second per speaker")
    parser.add_argument(
        "--listener-procs",
        type=int,
        default=2,
        help="load-generator processes holding the listeners",
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=100,
        help="listeners per process whose envelopes are decoded for latency",
    )
    parser.add_argument(
        "--loadgen-nice",
        type=int,
        default=0,
        help="niceness of the listener processes (default 0); see docs/relay-bench.md",
    )
    parser.add_argument(
        "--pin-cpus",
        action="store_true",
        help="run the relay on CPU 0 and every load generator on CPU 1",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--relay",
        metavar="HOST:PORT",
        default=None,
        help="load a relay that is already running (its per-address limits must allow "
        "the links: run it with --max-per-address 0) instead of starting one",
    )
    parser.add_argument("--pin", default=None, help="the --relay's pin (required with --relay)")
    parser.add_argument(
        "--relay-arg",
        action="append",
        default=[],
        help="extra argument for the relay process (repeatable)",
    )
    parser.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="also run the room over this many relay processes sharing it through a "
        "redis-server started here, load spread over them (spec §24); default 1: one relay",
    )


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    idx = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return float(sorted_values[idx])


def _summary(sent: array[float], lat: array[float], t0: float, t1: float) -> dict[str, Any]:
    """Latency percentiles in ms from parallel arrays of send times and latencies (s)."""
    third = (t1 - t0) / 3
    ordered = sorted(lat)
    first = sorted(x for s, x in zip(sent, lat, strict=True) if s < t0 + third)
    last = sorted(x for s, x in zip(sent, lat, strict=True) if s >= t1 - third)
    return {
        "count": len(ordered),
        "p50": _percentile(ordered, 0.5) * 1000,
        "p99": _percentile(ordered, 0.99) * 1000,
        "max": (ordered[-1] * 1000) if ordered else float("nan"),
        "first_p50": _percentile(first, 0.5) * 1000,
        "last_p50": _percentile(last, 0.5) * 1000,
    }


def _metrics(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def _histogram_quantile(m0: dict[str, float], m1: dict[str, float], q: float) -> float | None:
    """Upper bucket bound (ms) holding quantile q of the relay's batch delays in the window."""
    name = "hushroom_relay_audience_batch_delay_seconds_bucket"
    buckets = []
    for key, value in m1.items():
        if key.startswith(name + '{le="'):
            bound = key[len(name) + 5 : -2]
            le = float("inf") if bound == "+Inf" else float(bound)
            buckets.append((le, value - m0.get(key, 0.0)))
    buckets.sort()
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    for le, cumulative in buckets:
        if cumulative >= q * total:
            return le * 1000
    return None


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _runqueue_wait_seconds(pid: int) -> float:
    """Seconds ``pid`` spent runnable but waiting for a core (/proc/PID/schedstat), 0 if unknown.

    A process with a low CPU share and a long wait was starved by the machine,
    not idle: the bench then measures the machine's other work, not the relay.
    """
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs from /proc/stat (softirq included in busy)."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])
    return total - idle, total


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- worker processes --------------------------------------------------------------


def _connect_many(host: str, port: int, pin: bytes, n: int, cls: int, tag: bytes) -> list[Any]:
    """Open n links and JOIN the bench room ``tag`` with delivery class ``cls`` (trio).

    Prints ``UP k`` on stdout as links come up, for the orchestrator's progress.
    """
    import trio

    from client.link import RelayLink, connect_relay
    from e2ee.envelope import EnvelopeType

    links: list[RelayLink] = []
    limiter = trio.CapacityLimiter(32)

    async def one() -> None:
        async with limiter:
            for attempt in range(20):
                try:
                    link = await connect_relay(host, port, pin, timeout=60)
                    break
                except Exception:
                    if attempt == 19:
                        raise
                    await trio.sleep(0.2 * (attempt + 1))
            await link.send_envelope(EnvelopeType.JOIN, tag, 0, bytes([cls]))
            got = await link.receive()
            if got[0].type != EnvelopeType.WELCOME:
                raise RuntimeError(f"expected WELCOME, got {got[0].type.name}")
            links.append(link)
            if len(links) % _UP_EVERY == 0:
                print(f"UP {len(links)}", flush=True)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(one)

    trio.run(main)
    return links


def _wait_go() -> tuple[float, float]:
    print("READY", flush=True)
    line = sys.stdin.readline().split()
    if not line or line[0] != "GO":
        raise SystemExit(1)
    return float(line[1]), float(line[2])


def _listener_worker(argv: list[str]) -> None:
    """Hold N audience links in one epoll loop; decode ``sample`` of them (spec §17.3)."""
    from e2ee.envelope import RELAY_TYPES, EnvelopeDecoder, EnvelopeType, parse_loss
    from e2ee.room.speaker_proof import MARKER  # a stamp's first byte is a positive double's

    host, port, pin_hex, n, sample = argv[0], int(argv[1]), argv[2], int(argv[3]), int(argv[4])
    tag = bytes.fromhex(argv[5])
    _raise_nofile()
    links = _connect_many(host, port, bytes.fromhex(pin_hex), n, 1, tag)
    gc.collect()
    gc.disable()  # no collector pauses in the measured window (samples are arrays)
    t0, t1 = _wait_go()
    ep = select.epoll()
    socks: dict[int, ssl.SSLSocket] = {}
    decoders: dict[int, EnvelopeDecoder] = {}
    # Sample evenly across join order: the relay writes a batch to its audience
    # in join order, so the first links joined are always served first.
    every = max(1, n // sample) if sample else n + 1
    for i, link in enumerate(links):
        s = link.ssl_socket
        socks[s.fileno()] = s
        if i % every == 0 and len(decoders) < sample:
            decoders[s.fileno()] = EnvelopeDecoder(allowed=RELAY_TYPES)
        ep.register(s.fileno(), select.EPOLLIN)
    sent_at: array[float] = array("d")
    latency: array[float] = array("d")
    total_bytes = 0
    loss_frames = 0
    proofs = 0
    closed = 0
    deadline = t1 + 2.0
    unpack = _STAMP.unpack_from
    media = EnvelopeType.MEDIA
    monotonic = time.monotonic
    want_read = ssl.SSLWantReadError
    scratch = bytearray(65536)
    while True:
        now = monotonic()
        if now >= deadline:
            break
        for fd, _ in ep.poll(0.2):
            s = socks[fd]
            dec = decoders.get(fd)
            chunks = []
            if dec is None:
                # Level-triggered epoll reports the socket again if the kernel
                # holds more; only OpenSSL's own buffer needs draining here.
                try:
                    got = s.recv_into(scratch)
                    while got and s.pending():
                        total_bytes += got
                        got = s.recv_into(scratch)
                except want_read:
                    continue
                except (ssl.SSLError, OSError):
                    got = 0
                if not got:
                    ep.unregister(fd)
                    closed += 1
                else:
                    total_bytes += got
                continue
            while True:
                try:
                    data = s.recv(65536)
                    got = len(data)
                    chunks.append(data)
                except want_read:
                    break
                except (ssl.SSLError, OSError):
                    got = 0
                if not got:
                    ep.unregister(fd)
                    closed += 1
                    break
                total_bytes += got
            if chunks:
                now = monotonic()
                for env in dec.feed(b"".join(chunks)):
                    if env.type == media:
                        if env.payload[0] == MARKER:
                            proofs += 1
                            continue
                        sent = unpack(env.payload)[0]
                        if t0 <= sent <= t1:
                            sent_at.append(sent)
                            latency.append(now - sent)
                    elif env.type == EnvelopeType.LOSS:
                        loss_frames += parse_loss(env)[0]
    out = {
        "summary": _summary(sent_at, latency, t0, t1),
        "bytes": total_bytes,
        "loss_frames_sampled": loss_frames,
        "proofs_sampled": proofs,
        "sampled_links": len(decoders),
        "closed": closed,
    }
    print(json.dumps(out), flush=True)


def _speaker_worker(argv: list[str]) -> None:
    """Stage members: send timestamped MEDIA every 1/fps s, time each other's frames.

    With a proof (``batch`` > 0) each also sends it after every ``batch`` frames,
    in the same write as the frame it follows, and after the last partial batch.
    """
    import trio

    from e2ee.envelope import EnvelopeType, encode_envelope
    from e2ee.room.speaker_proof import MARKER

    host, port, pin_hex, n = argv[0], int(argv[1]), argv[2], int(argv[3])
    payload_len, fps, tag = int(argv[4]), float(argv[5]), bytes.fromhex(argv[6])
    batch, proof = int(argv[7]), bytes.fromhex(argv[8])
    _raise_nofile()
    links = _connect_many(host, port, bytes.fromhex(pin_hex), n, 0, tag)
    gc.collect()
    gc.freeze()
    t0, t1 = _wait_go()
    sent_at: array[float] = array("d")
    latency: array[float] = array("d")
    sent_frames = 0
    sent_proofs = 0
    heard_proofs = 0
    pad = bytes(max(0, payload_len - _STAMP.size))
    proof_env = encode_envelope(EnvelopeType.MEDIA, tag, 0, proof) if batch else b""

    async def speak(i: int) -> None:
        nonlocal sent_frames, sent_proofs
        link = links[i]
        seq = 0
        start = t0 + i / (fps * n)  # spread speakers over the frame interval
        while True:
            t = start + seq / fps
            if t > t1:
                if batch and seq % batch:
                    await link.send(proof_env)
                    sent_proofs += 1
                return
            # trio's clock has its own offset: convert from CLOCK_MONOTONIC
            await trio.sleep(max(0.0, t - time.monotonic()))
            stamp = _STAMP.pack(time.monotonic(), i, seq)
            data = encode_envelope(EnvelopeType.MEDIA, tag, 0, stamp + pad)
            sent_frames += 1
            seq += 1
            if batch and seq % batch == 0:
                data += proof_env
                sent_proofs += 1
            await link.send(data)
            if seq % int(fps * _PING_EVERY) == 0:
                await link.send(encode_envelope(EnvelopeType.PING, tag, 0))

    async def hear(i: int) -> None:
        nonlocal heard_proofs
        with trio.move_on_after(t1 + 2.0 - time.monotonic()):
            while True:
                for env in await links[i].receive():
                    if env.type == EnvelopeType.MEDIA and env.payload[0] == MARKER:
                        heard_proofs += 1
                    elif env.type == EnvelopeType.MEDIA:
                        sent = _STAMP.unpack_from(env.payload)[0]
                        if t0 <= sent <= t1:
                            sent_at.append(sent)
                            latency.append(time.monotonic() - sent)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(speak, i)
                nursery.start_soon(hear, i)

    trio.run(main)
    summary = _summary(sent_at, latency, t0, t1)
    out = {"summary": summary, "sent": sent_frames, "proofs": sent_proofs, "heard": heard_proofs}
    print(json.dumps(out), flush=True)


# -- orchestration -----------------------------------------------------------------


def _preexec(nice: int, cpus: set[int] | None) -> Any:
    if not nice and cpus is None:
        return None

    def setup() -> None:
        if nice:
            os.nice(nice)
        if cpus is not None:
            os.sched_setaffinity(0, cpus)

    return setup


def _spawn(args: list[str], nice: int = 0, cpus: set[int] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "client.bench.fanout", *args],
        preexec_fn=_preexec(nice, cpus),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _expect_ready(
    proc: subprocess.Popen[str], what: str, on_up: Callable[[int], None] | None = None
) -> None:
    """Read a load generator's ``UP k`` lines (``on_up(k)``) until its ``READY``."""
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if line.startswith("UP "):
            if on_up is not None:
                on_up(int(line.split()[1]))
            continue
        if line.strip() != "READY":
            raise RuntimeError(f"{what} failed to start: {line!r}")
        return


def _start_relay(args: argparse.Namespace) -> tuple[subprocess.Popen[str], int, int, bytes]:
    """The relay process of a self-contained run: (process, port, metrics port, pin)."""
    from client.errors import CliError
    from relay.wire.pin import decode_pin

    port, mport = _free_port(), _free_port()
    state = tempfile.mkdtemp(prefix="hushroom-bench-")
    relay_cmd = [
        sys.executable,
        "-m",
        "client",
        "relay",
        "--listen",
        f"127.0.0.1:{port}",
        "--state-dir",
        state,
        "--metrics",
        f"127.0.0.1:{mport}",
        "--max-per-address",
        "0",
        "--idle-timeout",
        "3600",
        "--handshake-timeout",
        "120",
        *args.relay_arg,
    ]
    relay = subprocess.Popen(
        relay_cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=_preexec(0, {0} if args.pin_cpus else None),
    )
    assert relay.stdout is not None
    line = relay.stdout.readline()
    if "pin" not in line:
        relay.kill()
        raise CliError(f"relay did not start: {line.strip()!r}")
    return relay, port, mport, decode_pin(line.split()[-1])


def _check_existing_relay(host: str, port: int, pin: bytes) -> None:
    """One link to the ``--relay``: it answers and its key matches the pin, or one CliError."""
    import trio

    from client.errors import CliError
    from client.link import PinMismatch, RelayUnavailable, connect_relay

    async def probe() -> None:
        link = await connect_relay(host, port, pin)
        await link.aclose()

    try:
        trio.run(probe)
    except PinMismatch as exc:
        raise CliError(str(exc)) from None
    except RelayUnavailable as exc:
        raise CliError(f"cannot reach the relay: {exc}") from None


def _target(args: argparse.Namespace) -> tuple[str, int, bytes]:
    """HOST, PORT and pin of the ``--relay`` to load (checked: it answers, the pin matches)."""
    from client.commands.common import parse_hostport
    from client.errors import CliError
    from relay.wire.pin import decode_pin

    if not args.pin:
        raise CliError("--relay needs --pin=PIN (the pin 'hushroom relay' printed)")
    host, port = parse_hostport(args.relay)
    try:
        pin = decode_pin(args.pin.strip())
    except ValueError:
        raise CliError(
            "bad --pin: expected the 43-character pin printed by 'hushroom relay'"
        ) from None
    _check_existing_relay(host, port, pin)
    return host, port, pin


def measure(args: argparse.Namespace, progress: Progress | None = None) -> dict[str, Any]:
    """Run one fan-out measurement and return the result object."""
    from client.errors import CliError
    from e2ee.envelope import HEADER_LEN

    progress = progress or Progress("fanout")
    payload = args.payload if args.payload is not None else media_payload_len()
    plan = auth_plan(args.auth, args.speakers)
    _raise_nofile()
    relay: subprocess.Popen[str] | None = None
    mport: int | None = None
    if args.relay is not None:
        progress.phase("checking the relay", args.relay)
        host, port, pin = _target(args)
    else:
        progress.phase("starting a relay")
        relay, port, mport, pin = _start_relay(args)
        host = "127.0.0.1"
    load_cpus = {1} if args.pin_cpus else None
    # on someone else's relay, a room tag of its own that no real room has
    tag_hex = secrets.token_hex(16) if args.relay is not None else _TAG_HEX
    workers: list[subprocess.Popen[str]] = []
    try:
        pin_hex = pin.hex()
        total = args.listeners + args.speakers
        up_before = 0  # links of the load generators that are READY

        def links_up(k: int) -> None:
            progress.update(f"{up_before + k} of {total} links up")

        progress.phase("connecting links", f"0 of {total} links up")
        setup_start = time.monotonic()
        procs = max(1, args.listener_procs)
        per = [
            args.listeners // procs + (1 if i < args.listeners % procs else 0) for i in range(procs)
        ]
        listeners = [
            _spawn(
                ["listeners", host, str(port), pin_hex, str(k), str(min(k, args.sample)), tag_hex],
                args.loadgen_nice,
                load_cpus,
            )
            for k in per
            if k
        ]
        workers += listeners
        for w, k in zip(listeners, [k for k in per if k], strict=True):
            _expect_ready(w, "listener process", links_up)
            up_before += k
            links_up(0)
        speakers = _spawn(
            [
                "speakers",
                host,
                str(port),
                pin_hex,
                str(args.speakers),
                str(payload),
                str(args.fps),
                tag_hex,
                str(plan.batch),
                plan.proof.hex(),
            ],
            0,
            load_cpus,
        )
        workers.append(speakers)
        _expect_ready(speakers, "speaker process", links_up)
        setup_s = time.monotonic() - setup_start
        t0 = time.monotonic() + 1.0
        t1 = t0 + args.seconds
        for w in workers:
            assert w.stdin is not None
            w.stdin.write(f"GO {t0!r} {t1!r}\n")
            w.stdin.flush()
        progress.phase("measuring", f"{total} links up, {t1 - time.monotonic():.0f} s left")
        time.sleep(max(0.0, t0 - time.monotonic()))
        m0 = _metrics(mport) if mport is not None else {}
        c0 = _cpu_seconds(relay.pid) if relay is not None else 0.0
        q0 = _runqueue_wait_seconds(relay.pid) if relay is not None else 0.0
        w0 = sum(_cpu_seconds(w.pid) for w in workers)
        b0 = _machine_busy()
        while (left := t1 - time.monotonic()) > 0:
            progress.countdown(left, f"{total} links up")
            time.sleep(min(1.0, left))
        m1 = _metrics(mport) if mport is not None else {}
        c1 = _cpu_seconds(relay.pid) if relay is not None else 0.0
        q1 = _runqueue_wait_seconds(relay.pid) if relay is not None else 0.0
        w1 = sum(_cpu_seconds(w.pid) for w in workers)
        b1 = _machine_busy()
        rss = _rss_mb(relay.pid) if relay is not None else None
        progress.phase("collecting results")
        results = []
        for w in workers:
            assert w.stdout is not None
            reply = w.stdout.readline()
            if not reply.strip():
                raise CliError("a load-generator process failed (see its traceback above)")
            results.append(json.loads(reply))
            w.wait(timeout=30)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
        if relay is not None:
            relay.terminate()
            try:
                relay.wait(timeout=10)
            except subprocess.TimeoutExpired:
                relay.kill()
    stage = results[-1]["summary"]
    sent = results[-1]
    # merge the listener summaries, weighting by their sample counts
    aud = [r["summary"] for r in results[:-1]]
    count = sum(a["count"] for a in aud) or 1

    def mean(key: str) -> float:
        return round(float(sum(a[key] * a["count"] for a in aud)) / count, 2)

    def worst(key: str) -> float:
        return round(float(max(a[key] for a in aud)), 2)

    seconds = t1 - t0

    def delta(name: str) -> float | None:
        return m1[name] - m0[name] if m1 else None

    def per_second(name: str, digits: int | None) -> float | None:
        d = delta(name)
        return None if d is None else round(d / seconds, digits)

    dropped = m1.get("hushroom_relay_frames_dropped_total")
    per_listener = sent["sent"] * (HEADER_LEN + payload)
    per_listener += sent["proofs"] * (HEADER_LEN + len(plan.proof))
    expected = per_listener * args.listeners
    received = sum(r["bytes"] for r in results[:-1])
    sampled = sum(r["sampled_links"] for r in results[:-1])
    return {
        "listeners": args.listeners,
        "speakers": args.speakers,
        "seconds": round(seconds, 2),
        "payload_bytes": payload,
        "auth": plan.mode,
        "auth_batch": plan.batch or None,
        "auth_parity": plan.parity or None,
        "proof_payload_bytes": len(plan.proof) or None,
        "frames_sent": sent["sent"],
        "proofs_sent": sent["proofs"],
        "proofs_heard_on_stage": sent["heard"],
        "proofs_heard_sampled": sum(r["proofs_sampled"] for r in results[:-1]),
        "sampled_links": sampled,
        "stage_p50_ms": round(stage["p50"], 2),
        "stage_p99_ms": round(stage["p99"], 2),
        "audience_p50_ms": mean("p50"),
        "audience_p99_ms": worst("p99"),
        "audience_max_ms": worst("max"),
        "audience_samples": sum(a["count"] for a in aud),
        "relay": args.relay or "started by the bench",
        "forwarded_fps": per_second("hushroom_relay_frames_forwarded_total", None),
        "audience_batches_per_s": per_second("hushroom_relay_audience_batches_total", 1),
        "relay_cpu_pct": round(100 * (c1 - c0) / seconds, 1) if relay is not None else None,
        "relay_runqueue_wait_pct": (
            round(100 * (q1 - q0) / seconds, 1) if relay is not None else None
        ),
        "relay_rss_mb": round(rss, 1) if rss is not None else None,
        "loadgen_cpu_pct": round(100 * (w1 - w0) / seconds, 1),
        "machine_busy_pct": round(100 * (b1[0] - b0[0]) / max(1.0, b1[1] - b0[1]), 1),
        "dropped_frames": int(dropped) if dropped is not None else None,
        "relay_batch_delay_p50_ms_le": _histogram_quantile(m0, m1, 0.5) if m1 else None,
        "relay_batch_delay_p99_ms_le": _histogram_quantile(m0, m1, 0.99) if m1 else None,
        "latency_trend_ms": [mean("first_p50"), mean("last_p50")],
        "stage_trend_ms": [round(stage["first_p50"], 2), round(stage["last_p50"], 2)],
        "delivered_ratio": round(min(received / expected, 9.99), 4) if expected else None,
        "links_closed": sum(r["closed"] for r in results[:-1]),
        "setup_s": round(setup_s, 1),
        "listener_procs": max(1, args.listener_procs),
        "loadgen_nice": args.loadgen_nice,
    }


def run(args: argparse.Namespace) -> int:
    from client.errors import CliError

    if args.speakers < 1 or args.listeners < 0 or args.seconds <= 0:
        raise CliError("need at least one speaker, listeners >= 0 and seconds > 0")
    if args.payload is not None and args.payload < _STAMP.size:
        raise CliError(f"--payload must be at least {_STAMP.size} bytes")
    if args.nodes < 1 or (args.nodes > 1 and args.relay is not None):
        raise CliError("--nodes is at least 1, and starts its own relays (no --relay)")
    progress = Progress("fanout")
    try:
        if args.nodes > 1:
            from client.bench.fanout_cluster import measure as measure_nodes

            result = measure_nodes(args, progress, sys.modules[__name__])
        else:
            result = measure(args, progress)
    finally:
        progress.done()
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>18}: {value}")
    return 0


if __name__ == "__main__":
    role, rest = sys.argv[1], sys.argv[2:]
    if role == "listeners":
        _listener_worker(rest)
    elif role == "speakers":
        _speaker_worker(rest)
    else:
        raise SystemExit(f"unknown role {role}")
