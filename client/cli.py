"""The ``hushroom`` command line: one dispatcher, one module per subcommand.

Each subcommand lives in its own module exposing::

    HELP: str                                   # one line for the command list
    def register(parser: argparse.ArgumentParser) -> None   # add arguments
    def run(args: argparse.Namespace) -> int                # exit status

Modules are imported only when their command is used, so ``hushroom relay``
never loads the audio stack.  Every expected failure surfaces as one clear
line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from client.errors import CliError
from relay.errors import RelaySetupError

# command name -> (module path, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "relay": ("relay.cli", "run a relay (the only server a group needs)"),
    "room": ("client.commands.room", "create a room and moderate it"),
    "join": ("client.commands.join", "join a room from an invite link"),
    "demo": ("client.commands.demo", "in-process relay and a few clients talking in a room"),
    "bot": ("client.commands.bot", "room bots (welcome)"),
    "id": ("client.commands.identity", "show or rotate this device's identity"),
    "devices": ("client.commands.devices", "list this machine's microphones and speakers"),
    "bench": (
        "client.bench.cli",
        "benchmarks: crypto, auth, room, fanout, join, audio, codec, network",
    ),
}

EPILOG = """examples:
  hushroom demo --out /tmp/hush          # relay + clients in one process, records room.wav
  hushroom relay --listen 127.0.0.1:7443 # run a relay; it prints its PIN for invites
  hushroom room create --relay 127.0.0.1:7443 --pin=PIN --name Alice
  hushroom join --invite-file invite.txt --name Bob --tone
  hushroom bench crypto --json

Every command has --help with more examples.
"""


def version() -> str:
    """The installed package's version (``hushroom --version``)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("hushroom")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _load(name: str) -> ModuleType:
    module_path, _ = COMMANDS[name]
    try:
        return importlib.import_module(module_path)
    except ModuleNotFoundError as exc:
        if exc.name and module_path.startswith(exc.name):
            raise CliError(f"'hushroom {name}' is not available in this build") from None
        raise


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one ``hushroom: error:`` line (exit status 2), like every other."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see '{self.prog} --help')", exit_code=2)


def build_parser(selected: str | None) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="hushroom",
        description="End-to-end encrypted audio rooms over a relay that cannot listen.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"hushroom {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name == selected:
            _load(name).register(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in argv if not a.startswith("-")), None)
    if selected not in COMMANDS:
        selected = None
    try:
        parser = build_parser(selected)
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        status: int = _load(args.command).run(args)
        return status
    except (CliError, RelaySetupError) as exc:
        print(f"hushroom: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("hushroom: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
