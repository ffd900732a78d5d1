"""The forwarding process: moves IP packets between TUN pairs through the model.

Run as ``python -m client.bench.netem.forward`` by :class:`Network` with the
TUN descriptors inherited.  It talks JSON lines (docs/netem.md, "Control"):

* stdin, first line: ``{"seed": S, "realtime": bool, "links": [{"name",
  "hub_fd", "leaf_fd", "up", "down"}]}`` where ``up`` (leaf -> hub) and
  ``down`` (hub -> leaf) are :meth:`Impairment.to_json` dicts; it answers
  ``{"ready": true, "realtime": bool}``, the second saying whether it got
  the real-time priority it was asked for;
* then ``{"op": "set", "link", "up"?, "down"?}`` -> ``{"ok": true}`` and
  ``{"op": "stats"}`` -> ``{"links": {name: {"up": {...}, "down": {...}}}}``;
* end of stdin (the parent closed it or died) ends the process.

One thread, one selector: read what arrived, offer it to the model, write
what is due, sleep until the next packet is due (an :class:`Alarm`) or
something arrives.
"""

from __future__ import annotations

import json
import os
import random
import selectors
import sys
import time
from dataclasses import asdict
from typing import Any

from client.bench.netem.alarm import Alarm, reduce_timer_slack
from client.bench.netem.model import Direction
from client.bench.netem.settings import Impairment

#: Packets read from one descriptor before the loop looks at the others.
READ_BATCH = 64
#: Largest packet a TUN device hands over (its MTU is smaller).
MAX_PACKET = 65_535
#: SCHED_FIFO priority of the forwarder (low: kernel housekeeping threads stay above).
REALTIME_PRIORITY = 10
#: Longest control line accepted.
MAX_CONTROL_LINE = 1 << 20


class _Pipe:
    """One direction of one link: read from ``source``, model, write to ``sink``.

    Besides the model's counts it keeps how late packets left against their
    due time (the emulator's own error): ``late_max_us`` and ``late_over_1ms``.
    """

    __slots__ = ("direction", "late_max_us", "late_over_1ms", "sink", "source", "write_errors")

    def __init__(self, source: int, sink: int, direction: Direction) -> None:
        self.source = source
        self.sink = sink
        self.direction = direction
        self.write_errors = 0
        self.late_max_us = 0
        self.late_over_1ms = 0

    def read(self, now: float) -> None:
        for _ in range(READ_BATCH):
            try:
                packet = os.read(self.source, MAX_PACKET)
            except BlockingIOError:
                return
            self.direction.submit(packet, now)

    def flush(self, now: float) -> None:
        for due, packet in self.direction.pop_due(now):
            late_us = int((now - due) * 1e6)
            self.late_max_us = max(self.late_max_us, late_us)
            self.late_over_1ms += late_us > 1_000
            try:
                os.write(self.sink, packet)
            except OSError:
                self.write_errors += 1

    def stats(self) -> dict[str, int]:
        return {
            **asdict(self.direction.stats),
            "write_errors": self.write_errors,
            "late_max_us": self.late_max_us,
            "late_over_1ms": self.late_over_1ms,
        }


class Forwarder:
    """All links of one emulator and the control channel."""

    def __init__(self, config: dict[str, Any]) -> None:
        seed = int(config["seed"])
        self.pipes: dict[str, dict[str, _Pipe]] = {}
        for link in config["links"]:
            name, hub, leaf = str(link["name"]), int(link["hub_fd"]), int(link["leaf_fd"])

            def direction(which: str, link: dict[str, Any] = link, name: str = name) -> Direction:
                rng = random.Random(f"{seed}/{name}/{which}")
                return Direction(Impairment.from_json(link[which]), rng)

            self.pipes[name] = {
                "up": _Pipe(leaf, hub, direction("up")),
                "down": _Pipe(hub, leaf, direction("down")),
            }

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """The reply to one control request."""
        if request.get("op") == "stats":
            return {
                "links": {
                    name: {which: pipe.stats() for which, pipe in pipes.items()}
                    for name, pipes in self.pipes.items()
                }
            }
        if request.get("op") == "set" and request.get("link") in self.pipes:
            pipes = self.pipes[request["link"]]
            for which in ("up", "down"):
                if request.get(which) is not None:
                    pipes[which].direction.impairment = Impairment.from_json(request[which])
            return {"ok": True}
        return {"error": "unknown request"}

    def run(self, control: int, pending: bytes = b"") -> None:
        """Forward until ``control`` reaches end of file; ``pending``: control bytes read."""
        selector = selectors.DefaultSelector()
        readers = {}
        for pipes in self.pipes.values():
            for pipe in pipes.values():
                selector.register(pipe.source, selectors.EVENT_READ)
                readers[pipe.source] = pipe
        selector.register(control, selectors.EVENT_READ)
        alarm = Alarm()
        selector.register(alarm.fileno(), selectors.EVENT_READ)
        pending = self._serve(pending)
        every = [pipe for pipes in self.pipes.values() for pipe in pipes.values()]
        while True:
            dues = [d for p in every if (d := p.direction.next_due()) is not None]
            alarm.arm(min(dues) if dues else None)
            events = selector.select()
            now = time.monotonic()
            for key, _ in events:
                if key.fd == alarm.fileno():
                    alarm.acknowledge()
                elif key.fd == control:
                    chunk = os.read(control, 65_536)
                    if not chunk:
                        return
                    pending = self._serve(pending + chunk)
                else:
                    readers[key.fd].read(now)
            for pipe in every:
                pipe.flush(now)

    def _serve(self, pending: bytes) -> bytes:
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            _reply(self.answer(json.loads(line)))
        if len(pending) > MAX_CONTROL_LINE:
            raise SystemExit("control line too long")
        return pending


def _become_realtime() -> bool:
    """Run under SCHED_FIFO so busy CPUs do not delay packets; False if not permitted.

    The forwarder only runs when a packet arrives or falls due, so its CPU
    share is bounded by the traffic the emulated hosts send (and the
    kernel's real-time throttling keeps 5 % of each period for others).
    """
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    except OSError:
        return False
    return True


def _reply(message: dict[str, Any]) -> None:
    os.write(sys.stdout.fileno(), json.dumps(message).encode() + b"\n")


def main() -> int:
    """Read the configuration line, say ready, forward until stdin closes."""
    control = sys.stdin.fileno()
    pending = b""
    while b"\n" not in pending:
        chunk = os.read(control, 65_536)
        if not chunk or len(pending) > MAX_CONTROL_LINE:
            return 1
        pending += chunk
    first, pending = pending.split(b"\n", 1)
    config = json.loads(first)
    reduce_timer_slack()
    forwarder = Forwarder(config)
    _reply({"ready": True, "realtime": bool(config.get("realtime")) and _become_realtime()})
    forwarder.run(control, pending)
    return 0


if __name__ == "__main__":
    sys.exit(main())
