"""``hushroom demo``: an in-process relay and a few clients talking in a room."""

from __future__ import annotations

import argparse

from client.commands.common import positive_seconds

HELP = "in-process relay and a few clients talking in a room"

EXAMPLES = """examples:
  hushroom demo                     # records to ./hushroom-demo/room.wav
  hushroom demo --out /tmp/hush     # records to /tmp/hush/room.wav

What happens: a relay starts inside this process on 127.0.0.1; Alice creates a
room and moderates it; Bob and Carol speak (espeak-ng speech when installed,
else two distinct tones); Dave listens, raises a hand, is invited, accepts and
speaks; Erin listens and records the room.  At the end the demo prints exactly
what the relay saw, and checks that no display name, identity key or audio
crossed it in clear.
"""


def register(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument("--out", default="hushroom-demo", metavar="DIR", help="output directory")
    parser.add_argument(
        "--seconds",
        type=positive_seconds,
        default=4.0,
        metavar="S",
        help="how long each act of the demo runs (default 4)",
    )


def run(args: argparse.Namespace) -> int:
    from client.demo import run_demo_command

    return run_demo_command(args)
