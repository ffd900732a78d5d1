"""``python -m client.bench.room_work``: a kick's re-key work per member, counted.

``hushroom bench room`` times the re-key in CPU seconds, which swing by a
third from run to run on a shared machine.  This counts instead: with
``sys.settrace`` opcode events it counts the bytecodes that every party's
Python code runs from ``kick()`` until every remaining member holds the new
key (the moderator, the relay router, every member and the bench's own
delivery loop, the one ``kick_rekey_ms`` times: ``_Relay.drain``), and the
Python calls, each divided by the members re-keyed.
For a given tree the count is the same on every run (with a fixed
``PYTHONHASHSEED``), so two trees compare exactly.  C work (Ed25519, the
AEAD, hashes, msgpack) is not counted: its cost per call does not depend on
the Python around it.

Reported as JSON: ``bytecodes_per_member`` and ``calls_per_member`` (one
value per kick), ``top``, the functions that run the most bytecodes, as
``[file:function, bytecodes per member, calls per member]``, and ``calls``,
every function's calls per member (``file:function`` -> calls).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from types import FrameType
from typing import Any

from client.bench.room import build_room

TraceFn = Any  # sys.settrace's callback type is not spelled out in typeshed


class _Counter:
    """A ``sys.settrace`` tracer that counts bytecodes and calls per function."""

    def __init__(self) -> None:
        self.bytecodes: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    @staticmethod
    def _name(frame: FrameType) -> str:
        code = frame.f_code
        return "/".join(code.co_filename.rsplit("/", 2)[-2:]) + ":" + code.co_name

    def on_call(self, frame: FrameType, event: str, arg: object) -> TraceFn:
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        self.calls[self._name(frame)] += 1
        return self.on_opcode

    def on_opcode(self, frame: FrameType, event: str, arg: object) -> TraceFn:
        if event == "opcode":
            self.bytecodes[self._name(frame)] += 1
        return self.on_opcode


def count_kicks(members: int, kicks: int) -> dict[str, Any]:
    """Build a room of ``members`` (4 speakers) and count ``kicks`` kicks of listeners."""
    built = build_room(members, members - 1, 4, 250)
    relay, mod = built.relay, built.moderator
    victims = relay.links[-kicks:]
    total = _Counter()
    per_kick: list[tuple[float, float]] = []
    for victim in victims:
        tracer = _Counter()
        sys.settrace(tracer.on_call)
        try:
            mod.session.kick(victim.session.me)
            relay.pending.append(mod)
            relay.drain()
        finally:
            sys.settrace(None)
        rekeyed = sum(1 for x in relay.links if x is not mod and x.session.state == "member")
        per_kick.append(
            (sum(tracer.bytecodes.values()) / rekeyed, sum(tracer.calls.values()) / rekeyed)
        )
        total.bytecodes.update({k: v / rekeyed for k, v in tracer.bytecodes.items()})
        total.calls.update({k: v / rekeyed for k, v in tracer.calls.items()})
    top = [
        [name, round(n / kicks, 1), round(total.calls[name] / kicks, 2)]
        for name, n in total.bytecodes.most_common(40)
    ]
    return {
        "members": members,
        "kicks": kicks,
        "bytecodes_per_member": [round(b, 1) for b, _ in per_kick],
        "calls_per_member": [round(c, 1) for _, c in per_kick],
        "top": top,
        "calls": {name: round(n / kicks, 2) for name, n in sorted(total.calls.items())},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m client.bench.room_work", description=__doc__)
    parser.add_argument("--members", type=int, default=60, help="room size (default 60)")
    parser.add_argument("--kicks", type=int, default=4, help="kicks counted (default 4)")
    args = parser.parse_args(argv)
    if args.members < args.kicks + 6:
        parser.error("--members must exceed --kicks + 5")
    print(json.dumps(count_kicks(args.members, args.kicks)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
