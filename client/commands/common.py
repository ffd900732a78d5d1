"""Arguments and helpers shared by the ``hushroom`` client commands."""

from __future__ import annotations

import argparse
import math
import sys

from client.errors import CliError


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds greater than zero."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text!r}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number greater than zero."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number above 0, not {text!r}")
    return value


def add_home(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="where this device's identity lives (default: $HUSHROOM_HOME, "
        "else the per-user data directory)",
    )


def add_view(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plain",
        action="store_true",
        help="plain log lines instead of the interactive view (the default when "
        "stdout is not a terminal); commands are then read line by line from stdin",
    )
    parser.add_argument(
        "--duration",
        type=positive_seconds,
        metavar="SECONDS",
        help="leave the room after this many seconds (for scripts)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per room event on stdout and JSON commands on stdin "
        "(implies --plain; see docs/client.md)",
    )
    parser.add_argument(
        "--wait",
        type=positive_seconds,
        metavar="SECONDS",
        help="give up (exit 5) when no moderator answers the knock within SECONDS (default 15)",
    )


def add_audio(parser: argparse.ArgumentParser, *, speak: bool = True) -> None:
    if speak:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--speak", metavar="FILE", help="speak this audio file (any format)")
        group.add_argument("--tone", action="store_true", help="speak a generated test tone")
        group.add_argument("--mic", action="store_true", help="speak from the microphone")
        group.add_argument("--say", metavar="TEXT", help="speak TEXT with espeak-ng")
        parser.add_argument(
            "--input-device",
            metavar="DEVICE",
            help="speak from this microphone (an index or part of a name, as "
            "'hushroom devices' lists them); implies --mic",
        )
    parser.add_argument("--record", metavar="FILE", help="record the room mix to a WAV file")
    parser.add_argument(
        "--play",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="play the room on this device's speakers (needs the 'mic' extra); "
        "default: on in the interactive view when a sound device is available",
    )
    parser.add_argument(
        "--output-device",
        metavar="DEVICE",
        help="play the room on this device (an index or part of a name; implies --play)",
    )


def add_udp(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--udp",
        action="store_true",
        help="on stage, send and receive audio over the relay's datagram channel (UDP, "
        "spec §23; the relay needs --udp-port); falls back to the TLS link when UDP is "
        "blocked",
    )


def parse_hostport(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv6 as ``[::1]:PORT``) into a (host, port) pair."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise CliError(f"relay address {text!r} must be HOST:PORT")
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError:
        raise CliError(f"relay address {text!r}: port must be a number") from None
    if not 0 < port < 65536:
        raise CliError(f"relay address {text!r}: port out of range")
    return host, port


def parse_relays(values: list[str]) -> list[tuple[str, int]]:
    """``--relay`` values (each ``HOST:PORT`` or ``A,B,...``) as addresses, in order."""
    parts = [part.strip() for value in values for part in value.split(",")]
    if "" in parts:
        raise CliError("--relay: an empty relay address (a stray ',')")
    return [parse_hostport(part) for part in parts]


def use_plain(args: argparse.Namespace) -> bool:
    plain = bool(getattr(args, "plain", False)) or bool(getattr(args, "json", False))
    return plain or not sys.stdout.isatty()
