"""Where a command reads the invite link from, and how a pasted link is cleaned.

The invite carries the room secret, so the command line is the worst place for
it: every local user can read a process's arguments (``/proc/PID/cmdline``).
In order of preference a command takes it from

1. ``--invite-file PATH``: a file only you can read (``-`` is standard input);
2. standard input: ``INVITE`` given as ``-``;
3. the ``HUSHROOM_INVITE`` environment variable (readable by your own
   processes and root, not by other users);
4. the ``INVITE`` argument itself.

Standard input is read line by line up to the first empty line or the end of
input, so commands for plain mode may follow the invite after an empty line.
A link copied from a wrapped terminal line has line breaks and spaces inside;
an invite link never contains whitespace, so all of it is removed before the
link is parsed.  Input longer than :data:`MAX_INVITE_INPUT` characters is
refused without reading further.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import TextIO

from client.errors import CliError

INVITE_ENV = "HUSHROOM_INVITE"
STDIN = "-"
# An invite link is at most 600 characters; this leaves room for the whitespace
# of a wrapped paste and nothing else.
MAX_INVITE_INPUT = 4096

INVITE_HELP = (
    "the hushroom:// invite link; '-' reads it from standard input.  It carries the "
    "room secret and other local users can read command lines: prefer --invite-file "
    f"or standard input, else ${INVITE_ENV}"
)


def add_invite(parser: argparse.ArgumentParser) -> None:
    """The ``INVITE`` argument (optional) and ``--invite-file``."""
    parser.add_argument("invite", metavar="INVITE", nargs="?", default=None, help=INVITE_HELP)
    parser.add_argument(
        "--invite-file",
        metavar="PATH",
        default=None,
        help=f"read the invite link from PATH ('-' for standard input); "
        f"without INVITE or --invite-file, ${INVITE_ENV} is used",
    )


def clean_invite(text: str) -> str:
    """The link with every whitespace character removed (a wrapped paste)."""
    return "".join(text.split())


def read_invite(
    args: argparse.Namespace,
    environ: Mapping[str, str] | None = None,
    stdin: TextIO | None = None,
) -> str:
    """The invite text from the one source the command line names (see module doc)."""
    given, path = getattr(args, "invite", None), getattr(args, "invite_file", None)
    if given is not None and path is not None:
        raise CliError("give the invite once: either INVITE or --invite-file, not both")
    if path == STDIN or given == STDIN:
        text = _read_stdin(stdin or sys.stdin)
        source = "standard input"
    elif path is not None:
        text = _read_file(path)
        source = path
    elif given is not None:
        text, source = given, "the command line"
    else:
        env = os.environ if environ is None else environ
        if not env.get(INVITE_ENV):
            raise CliError(
                f"no invite: give --invite-file PATH, '-' for standard input, "
                f"${INVITE_ENV}, or the link itself",
                exit_code=2,
            )
        text, source = env[INVITE_ENV], f"${INVITE_ENV}"
    if len(text) > MAX_INVITE_INPUT:
        raise CliError(f"the invite from {source} is longer than {MAX_INVITE_INPUT} characters")
    link = clean_invite(text)
    if not link:
        raise CliError(f"no invite link in {source}")
    return link


def _read_stdin(stream: TextIO) -> str:
    if stream.isatty():
        print("paste the invite link, then an empty line:", file=sys.stderr, flush=True)
    lines: list[str] = []
    size = 0
    try:
        while size <= MAX_INVITE_INPUT:
            line = stream.readline(MAX_INVITE_INPUT + 1 - size)
            if not line.strip():
                break
            lines.append(line)
            size += len(line)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read the invite from standard input: {exc}") from None
    return "".join(lines)


def _read_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(MAX_INVITE_INPUT + 1)
    except OSError as exc:
        raise CliError(f"cannot read the invite from {path}: {exc.strerror or exc}") from None
