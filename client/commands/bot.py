"""``hushroom bot welcome INVITE``: a bot that greets each new speaker by name."""

from __future__ import annotations

import argparse

from client.commands.common import add_home, positive_seconds
from client.errors import CliError
from client.invite_input import add_invite

HELP = "room bots (welcome)"

EXAMPLES = """examples:
  hushroom bot welcome --invite-file invite.txt --home ~/.hushroom-bot   # its own identity
  hushroom bot welcome --invite-file invite.txt --name Greeter \\
      --message "Welcome to the stage, {name}!" --home ~/.hushroom-greeter

How it gets on stage: the bot joins as a member of the audience and raises its
hand.  A moderator invites it to speak once (key i in the view, or 'invite
Greeter' in plain mode); the bot accepts by itself.  From then on, each time
someone new is brought on stage it speaks the greeting with their display name
(espeak-ng when installed, else a short chime).  The bot learns names only
inside the encrypted room, like every member; the relay never sees them.
"""


def register(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    sub = parser.add_subparsers(dest="bot_kind", metavar="BOT")
    welcome = sub.add_parser(
        "welcome",
        help="greet each member brought on stage by name",
        description="Greet each member brought on stage by name.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_invite(welcome)
    welcome.add_argument("--name", default="Welcome bot", help="the bot's display name")
    welcome.add_argument(
        "--message",
        default="Welcome to the stage, {name}!",
        help="greeting; {name} is replaced by the new speaker's display name",
    )
    welcome.add_argument(
        "--duration", type=positive_seconds, metavar="SECONDS", help="leave after S seconds"
    )
    add_home(welcome)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "bot_kind", None) != "welcome":
        raise CliError("choose a bot: hushroom bot welcome INVITE", exit_code=2)
    from client.bot import WelcomeBot
    from client.room_client import RoomClient
    from client.runner import bot_config, run_or_explain

    config = bot_config(args)

    def make() -> RoomClient:
        client = RoomClient(config)
        WelcomeBot(client, args.message)
        return client

    return run_or_explain(make, plain=True, duration=args.duration)
