"""``hushroom bench fanout --nodes N``: the same room over a relay cluster (spec §24).

One invocation runs the fan-out twice on this machine: first on one relay
(the plain ``bench fanout``), then on ``N`` relay processes sharing the room
through a ``redis-server`` started here — the speakers and the listeners
spread evenly over the nodes (the load-generator processes of
:mod:`client.bench.fanout`, each connected to one node).  It reports, per
run, stage and audience latency (p50/p99; per node too), dropped frames,
each node's CPU and the engine's, the operations per second through the
engine, how long each relay process waited for a core while runnable
(``runqueue_wait_pct``, from /proc: a node at low CPU with a long wait was
starved by the machine, not idle), each load generator's CPU (a load generator at 100 % of a core
measures itself, not the relay), the p50 of the first and last third of
each run (a growing queue shows as a rising trend), the machine's load
average, and the extra latency of the cross-node run against the one-node
run (``hop_*``).  Timing goals live here, never in unit tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import ExitStack
from types import ModuleType
from typing import Any

from client.bench.progress import Progress


def _redis(port: int, stack: ExitStack) -> subprocess.Popen[bytes]:
    from client.errors import CliError

    exe = shutil.which("redis-server")
    if exe is None:
        raise CliError("--nodes needs redis-server (apt-get install -y redis-server)")
    workdir = tempfile.mkdtemp(prefix="hushroom-bench-redis-")
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack.callback(_kill, proc)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            if time.monotonic() > deadline:
                raise CliError("redis-server did not start") from None
            time.sleep(0.05)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait()


def _engine_calls(port: int) -> int:
    """Script calls and publishes the engine has run (INFO commandstats)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"INFO commandstats\r\n")
        data = b""
        while not data.endswith(b"\r\n") or data.count(b"\r\n") < 2:
            data += s.recv(65536)
        header, _, rest = data.partition(b"\r\n")
        want = int(header[1:])
        while len(rest) < want:
            rest += s.recv(65536)
    calls = 0
    for line in rest.decode().splitlines():
        if line.startswith(("cmdstat_evalsha:", "cmdstat_eval:", "cmdstat_publish:")):
            calls += int(line.split("calls=")[1].split(",")[0])
    return calls


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def _kill_all(workers: list[tuple[int, str, subprocess.Popen[str]]]) -> None:
    for _, _, w in workers:
        if w.poll() is None:
            w.kill()


def _spread(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _latency(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """p50 weighted by samples, p99 the worst of the parts; the trend: p50 of the first
    and of the last third of the run (a growing queue shows as a rising trend)."""
    count = sum(s["count"] for s in summaries) or 1

    def mean(key: str) -> float:
        return round(float(sum(s[key] * s["count"] for s in summaries)) / count, 2)

    return {
        "p50_ms": mean("p50"),
        "p99_ms": round(max((s["p99"] for s in summaries), default=0.0), 2),
        "trend_p50_ms": [mean("first_p50"), mean("last_p50")],
    }


def measure_cluster(
    args: argparse.Namespace, progress: Progress, fanout: ModuleType
) -> dict[str, Any]:
    """The cluster run: ``args.nodes`` relays over one Redis, load spread over them."""
    from e2ee.envelope import HEADER_LEN

    payload = args.payload if args.payload is not None else fanout.media_payload_len()
    plan = fanout.auth_plan(args.auth, args.speakers)
    fanout._raise_nofile()
    n = args.nodes
    tag_hex = fanout._TAG_HEX
    with ExitStack() as stack:
        progress.phase("starting the engine and the nodes")
        rport = fanout._free_port()
        engine = _redis(rport, stack)
        state = tempfile.mkdtemp(prefix="hushroom-bench-cluster-")
        cluster_args = ["--cluster", f"redis://127.0.0.1:{rport}", "--state-dir", state]
        node_args = argparse.Namespace(**{**vars(args), "relay_arg": args.relay_arg + cluster_args})
        nodes = []
        for _ in range(n):
            node = fanout._start_relay(node_args)
            stack.callback(_stop, node[0])
            nodes.append(node)
        workers: list[tuple[int, str, subprocess.Popen[str]]] = []
        stack.callback(_kill_all, workers)
        procs = max(args.listener_procs, n)
        for j, k in enumerate(_spread(args.listeners, procs)):
            _, port, _, pin = nodes[j % n]
            argv = [
                "listeners",
                "127.0.0.1",
                str(port),
                pin.hex(),
                str(k),
                str(min(k, args.sample)),
                tag_hex,
            ]
            if k:
                w = fanout._spawn(argv, args.loadgen_nice)
                workers.append((j % n, "listeners", w))
        for j, k in enumerate(_spread(args.speakers, n)):
            _, port, _, pin = nodes[j]
            argv = [
                "speakers",
                "127.0.0.1",
                str(port),
                pin.hex(),
                str(k),
                str(payload),
                str(args.fps),
                tag_hex,
                str(plan.batch),
                plan.proof.hex(),
            ]
            if k:
                workers.append((j, "speakers", fanout._spawn(argv)))
        progress.phase("connecting links", f"{args.listeners + args.speakers} links")
        for _, what, w in workers:
            fanout._expect_ready(w, what)
        t0 = time.monotonic() + 1.0
        t1 = t0 + args.seconds
        for _, _, w in workers:
            assert w.stdin is not None
            w.stdin.write(f"GO {t0!r} {t1!r}\n")
            w.stdin.flush()
        progress.phase("measuring", f"{args.seconds:.0f} s")
        time.sleep(max(0.0, t0 - time.monotonic()))
        m0 = [fanout._metrics(mport) for _, _, mport, _ in nodes]
        c0 = [fanout._cpu_seconds(p.pid) for p, _, _, _ in nodes]
        q0 = [fanout._runqueue_wait_seconds(p.pid) for p, _, _, _ in nodes]
        e0, k0 = fanout._cpu_seconds(engine.pid), _engine_calls(rport)
        w0 = [fanout._cpu_seconds(w.pid) for _, _, w in workers]
        time.sleep(max(0.0, t1 - time.monotonic()))
        m1 = [fanout._metrics(mport) for _, _, mport, _ in nodes]
        c1 = [fanout._cpu_seconds(p.pid) for p, _, _, _ in nodes]
        q1 = [fanout._runqueue_wait_seconds(p.pid) for p, _, _, _ in nodes]
        e1, k1 = fanout._cpu_seconds(engine.pid), _engine_calls(rport)
        w1 = [fanout._cpu_seconds(w.pid) for _, _, w in workers]
        results: list[tuple[int, str, dict[str, Any]]] = []
        for node_index, what, w in workers:
            assert w.stdout is not None
            results.append((node_index, what, json.loads(w.stdout.readline())))
            w.wait(timeout=30)
    seconds = t1 - t0
    listeners = [(i, r) for i, what, r in results if what == "listeners"]
    speakers = [r for _, what, r in results if what == "speakers"]
    dropped = sum(
        b.get("hushroom_relay_frames_dropped_total", 0)
        - a.get("hushroom_relay_frames_dropped_total", 0)
        for a, b in zip(m0, m1, strict=True)
    )
    sent = sum(r["sent"] for r in speakers)
    proofs = sum(r["proofs"] for r in speakers)
    per_listener = sent * (HEADER_LEN + payload) + proofs * (HEADER_LEN + len(plan.proof))
    expected = per_listener * args.listeners
    received = sum(r["bytes"] for _, r in listeners)
    return {
        "stage": _latency([r["summary"] for r in speakers]),
        "audience": _latency([r["summary"] for _, r in listeners]),
        "audience_per_node": [
            _latency([r["summary"] for i, r in listeners if i == node]) for node in range(n)
        ],
        "dropped_frames": int(dropped),
        "delivered_ratio": round(received / expected, 4) if expected else None,
        "node_cpu_pct": [round(100 * (b - a) / seconds, 1) for a, b in zip(c0, c1, strict=True)],
        "node_runqueue_wait_pct": [
            round(100 * (b - a) / seconds, 1) for a, b in zip(q0, q1, strict=True)
        ],
        "engine_cpu_pct": round(100 * (e1 - e0) / seconds, 1),
        "loadgen_cpu_pct": {
            what: [
                round(100 * (b - a) / seconds, 1)
                for (_, kind, _), a, b in zip(workers, w0, w1, strict=True)
                if kind == what
            ]
            for what in ("listeners", "speakers")
        },
        "engine_ops_per_s": round((k1 - k0) / seconds),
        "links_closed": sum(r["closed"] for _, r in listeners),
    }


def measure(args: argparse.Namespace, progress: Progress, fanout: ModuleType) -> dict[str, Any]:
    """One-node run, then the cluster run, in one invocation; the hop is their difference.

    ``fanout`` is :mod:`client.bench.fanout`, whose workers and helpers this drives; it is
    passed in because that module dispatches here (no import cycle)."""
    load_before = os.getloadavg()[0]
    progress.phase("one relay")
    single = fanout.measure(args, progress)
    cluster = measure_cluster(args, progress, fanout)
    return {
        "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "listeners": args.listeners,
        "speakers": args.speakers,
        "nodes": args.nodes,
        "seconds": args.seconds,
        "one_node": {
            "stage": {
                "p50_ms": single["stage_p50_ms"],
                "p99_ms": single["stage_p99_ms"],
                "trend_p50_ms": single["stage_trend_ms"],
            },
            "audience": {
                "p50_ms": single["audience_p50_ms"],
                "p99_ms": single["audience_p99_ms"],
                "trend_p50_ms": single["latency_trend_ms"],
            },
            "dropped_frames": single["dropped_frames"],
            "relay_cpu_pct": single["relay_cpu_pct"],
            "relay_runqueue_wait_pct": single["relay_runqueue_wait_pct"],
            "loadgen_cpu_pct": single["loadgen_cpu_pct"],
            "delivered_ratio": single["delivered_ratio"],
        },
        "cluster": cluster,
        "hop_audience_p50_ms": round(cluster["audience"]["p50_ms"] - single["audience_p50_ms"], 2),
        "hop_audience_p99_ms": round(cluster["audience"]["p99_ms"] - single["audience_p99_ms"], 2),
        "hop_stage_p50_ms": round(cluster["stage"]["p50_ms"] - single["stage_p50_ms"], 2),
        "hop_stage_p99_ms": round(cluster["stage"]["p99_ms"] - single["stage_p99_ms"], 2),
    }
