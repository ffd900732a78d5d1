"""``hushroom join INVITE``: join a room, listen, speak, raise a hand."""

from __future__ import annotations

import argparse

from client import exits
from client.commands.common import add_audio, add_home, add_udp, add_view
from client.invite_input import add_invite

HELP = "join a room from an invite link"

EXAMPLES = """examples:
  hushroom join --invite-file invite.txt --name Bob            # preferred
  hushroom join - --name Bob                  # paste the link, then an empty line
  export HUSHROOM_INVITE="$(cat invite.txt)"  # then INVITE may be left out:
  hushroom join --name Carol --tone --plain --home ~/.hushroom-carol  # one --home per client
  hushroom join --name Dan --speak talk.ogg --record room.wav
  hushroom join --listen-only --record room.wav --duration 30
  hushroom join --name Bob --input-device 2 --output-device USB --push-to-talk
  echo hand | hushroom join --name Eve --plain --home ~/.hushroom-eve   # a hand from a script
  hushroom join --name Bot --json                              # JSON events and commands

The invite carries the room secret.  On the command line ('hushroom join
hushroom://...') every local user can read it while the client runs; prefer
--invite-file (a file only you can read), standard input ('-'), or
$HUSHROOM_INVITE.  Line breaks and spaces inside a pasted link are ignored.

keys in the interactive view: h hand, a/d accept/decline an invitation to speak,
m mute, t push-to-talk (Space talks), arrows select a member, +/- their volume
and s mute them (for you only), c chat, / command line (/moderator NAME,
/kick NAME, ...), PgUp/PgDn scroll the chat, q leave; moderators: i invite,
v to audience, M ask to mute, r remove, b ban (both ask y/n), y/n admit/deny a
knock, E end the room (asks y/n).  'hushroom devices' lists sound devices.

""" + exits.HELP


def register(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    add_invite(parser)
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
    parser.add_argument(
        "--push-to-talk",
        action="store_true",
        help="in the interactive view, speak only while talking is on (Space toggles it; "
        "t switches push-to-talk off)",
    )
    add_udp(parser)
    add_home(parser)
    add_view(parser)


def run(args: argparse.Namespace) -> int:
    from client.runner import run_join

    return run_join(args)
