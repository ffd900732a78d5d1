"""``hushroom id``: show or rotate this device's identity."""

from __future__ import annotations

import argparse
import sys

from client.commands.common import add_home
from client.errors import CliError

HELP = "show or rotate this device's identity"

EXAMPLES = """examples:
  hushroom id                      # fingerprint and safety code (creates an identity if none)
  hushroom id --new                # rotate: a new identity, asks for confirmation
  hushroom id --new --yes          # rotate without asking (scripts)
  HUSHROOM_HOME=/tmp/alice hushroom id   # a separate identity, e.g. for a second client
"""


def register(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    add_home(parser)
    parser.add_argument("--new", action="store_true", help="replace the identity with a new one")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _confirm(prompt: str) -> bool:
    if not sys.stdin.isatty():
        raise CliError("refusing to rotate the identity without confirmation; add --yes")
    answer = input(prompt)
    return answer.strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    from client.home import resolve_home
    from client.identity_store import IdentityStore

    store = IdentityStore(resolve_home(args.home))
    if args.new:
        if store.exists() and not args.yes:
            old = store.load()
            print(f"current identity: {store.describe(old)['fingerprint']}")
            if not _confirm(
                "Rotate? People who verified your safety code will see a new one. [y/N] "
            ):
                print("identity unchanged")
                return 1
        identity = store.rotate()
        print("new identity created")
    else:
        identity = store.load_or_create()
    info = store.describe(identity)
    print(f"fingerprint:  {info['fingerprint']}")
    print(f"safety code:  {info['safety_code']}")
    print(f"stored in:    {store.path}")
    return 0
