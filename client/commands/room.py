"""``hushroom room create``: create a room and moderate it."""

from __future__ import annotations

import argparse

from client import exits
from client.commands.common import add_audio, add_home, add_udp, add_view
from client.errors import CliError

HELP = "create a room and moderate it"

EXAMPLES = """examples:
  hushroom relay --listen 127.0.0.1:7443                 # prints the relay pin
  hushroom room create --relay 127.0.0.1:7443 --pin=PIN --name Alice
  hushroom room create --relay 127.0.0.1:7443 --pin=PIN --policy knock --plain
  hushroom room create --relay node1.example:7443 --relay node2.example:7443 --pin=PIN
      # one invite naming two nodes of a cluster (same pin); 'join' fails over
  hushroom room create --relay 127.0.0.1:7443 --pin=PIN --detach > invite.txt
      # writes just the invite link; a later 'hushroom join --invite-file
      # invite.txt' with the same identity (same --home) opens and moderates it

The invite link carries the room secret: share it only with people you want in
the room, over a channel you trust.  Compare the room safety code out of band.

""" + exits.HELP


def register(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    sub = parser.add_subparsers(dest="room_action", metavar="ACTION")
    create = sub.add_parser(
        "create",
        help="create a room, print its invite link, and run as its moderator",
        description="Create a room, print its invite link and safety code, and moderate it.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument(
        "--relay",
        required=True,
        action="append",
        metavar="HOST:PORT",
        help="the relay to use; repeat it (or write A,B) to name up to 4 addresses of "
        "relays sharing one key, such as a cluster's nodes, in order of preference",
    )
    create.add_argument(
        "--pin",
        help="the relay's key pin, as printed by 'hushroom relay' (required: it is "
        "what makes the link to the relay trustworthy); write --pin=PIN, since a "
        "pin may start with '-'",
    )
    create.add_argument(
        "--policy",
        choices=("open", "knock"),
        default="open",
        help="open: anyone with the invite is admitted; knock: a moderator approves "
        "each newcomer (default: open)",
    )
    create.add_argument("--name", default=None, help="your display name")
    create.add_argument(
        "--detach",
        action="store_true",
        help="print the invite and exit; moderate later with 'hushroom join'",
    )
    add_audio(create)
    add_udp(create)
    add_home(create)
    add_view(create)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "room_action", None) != "create":
        raise CliError("choose an action: hushroom room create --relay HOST:PORT", exit_code=2)
    from client.runner import run_room_create

    return run_room_create(args)
