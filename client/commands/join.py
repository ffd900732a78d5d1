"""``hushroom join INVITE``: join a room, listen, speak, raise a hand."""

from __future__ import annotations

import argparse

from client.commands.common import add_audio, add_home, add_view

HELP = "join a room from an invite link"

EXAMPLES = """examples:
  hushroom join 'hushroom://127.0.0.1:7443/#...' --name Bob
  hushroom join "$INVITE" --name Carol --tone --plain          # speak a tone when on stage
  hushroom join "$INVITE" --name Dan --speak talk.ogg --record room.wav
  hushroom join "$INVITE" --listen-only --record room.wav --duration 30
  echo hand | hushroom join "$INVITE" --name Eve --plain      # raise a hand from a script

keys in the interactive view: h hand, a/d accept/decline an invitation to speak,
m mute, c chat, q leave; moderators: arrows select, i invite, v to audience,
r remove, b ban, y/n admit/deny a knock, E end the room.
"""


def register(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument("invite", metavar="INVITE", help="the hushroom:// invite link")
    parser.add_argument("--name", default=None, help="display name shown to the room")
    add_audio(parser)
    parser.add_argument(
        "--listen-only", action="store_true", help="never speak, even when invited on stage"
    )
    parser.add_argument(
        "--hand", action="store_true", help="raise a hand as soon as admitted (to ask to speak)"
    )
    parser.add_argument(
        "--auto-accept",
        action="store_true",
        help="accept an invitation to speak without asking (for scripts and bots)",
    )
    add_home(parser)
    add_view(parser)


def run(args: argparse.Namespace) -> int:
    from client.runner import run_join

    return run_join(args)
