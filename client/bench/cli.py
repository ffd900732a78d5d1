"""``hushroom bench KIND``: one module per benchmark (``client.bench.KIND``).

Each benchmark module exposes ``HELP``, ``register(parser)`` and ``run(args) -> int``
like the top-level commands; ``hushroom bench`` loads all of them to build its
parser.  Timing goals live here, never in unit tests.
"""

from __future__ import annotations

import argparse
import importlib

from client.errors import CliError

HELP = "benchmarks: crypto, room, fanout, join, audio, codec, auth, network"

BENCHES: dict[str, str] = {
    "crypto": "per-frame protect/unprotect cost and bytes added (spec: Frame protection)",
    "room": "in-memory room of N members: admission, join bytes, kick re-key",
    "fanout": "real relay process + load clients on loopback: latency, CPU, drops",
    "join": "invite in hand to first decoded audio frame, on loopback",
    "audio": "Opus bytes per frame, round-trip correlation, encode/decode cost",
    "codec": "speech quality (PESQ, STOI) by bit rate, FEC and packet loss, in process",
    "auth": "speaker authentication: proof bytes, added delay, sign/verify cost",
    "network": "TLS and datagram media side by side on emulated lossy links: PESQ, latency",
}


def register(parser: argparse.ArgumentParser) -> None:
    """One sub-command per benchmark; every benchmark module is loaded (they are small)."""
    sub = parser.add_subparsers(dest="bench", metavar="KIND")
    for name, help_text in BENCHES.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            module = importlib.import_module(f"client.bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"client.bench.{name}":
                raise
            continue  # run() then says that it is not available
        module.register(p)
        p.set_defaults(_bench_run=module.run)


def run(args: argparse.Namespace) -> int:
    runner = getattr(args, "_bench_run", None)
    if runner is None and args.bench in BENCHES:
        raise CliError(f"'hushroom bench {args.bench}' is not available in this build")
    if runner is None:
        raise CliError("choose a benchmark: " + ", ".join(BENCHES), exit_code=2)
    status: int = runner(args)
    return status
