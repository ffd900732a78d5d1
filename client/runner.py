"""Running a :class:`~client.room_client.RoomClient` from the command line.

Shared by ``hushroom join``, ``hushroom room create`` and the bot: loads the
identity, opens the audio source, picks the console (interactive screen on a
terminal, plain log lines otherwise), runs until the user leaves, and turns
every expected failure into one :class:`~client.errors.CliError` line.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import trio

from client import exits
from client.audio.errors import AudioError
from client.audio.sinks import FrameSink
from client.audio_io import SourceChoice, audio_summary, open_output
from client.commands.common import use_plain
from client.console import PlainConsole, ScreenConsole
from client.errors import CliError
from client.home import resolve_home
from client.identity_store import IdentityStore
from client.invite_input import read_invite
from client.json_stream import JsonConsole
from client.relay_connect import (
    CONNECT_ERRORS,
    check_invite_text,
    describe_connect_error,
    invite_founder_is,
    new_invite,
    parse_invite,
    probe_relays,
    save_policy,
    saved_policy,
)
from client.room_client import ClientConfig, RoomClient


def source_choice(args: argparse.Namespace) -> SourceChoice:
    return SourceChoice(
        speak=getattr(args, "speak", None),
        tone=bool(getattr(args, "tone", False)),
        mic=bool(getattr(args, "mic", False)),
        say=getattr(args, "say", None),
        input_device=getattr(args, "input_device", None),
    )


def output_from_args(args: argparse.Namespace, notes: list[str]) -> FrameSink | None:
    """The speakers, if asked for (``--play``, ``--output-device``) or by default in the
    interactive view; when the default fails, why goes to ``notes`` (shown in the view)."""
    device = getattr(args, "output_device", None)
    play = True if device is not None else getattr(args, "play", None)
    if play is False or (play is None and use_plain(args)):
        return None
    try:
        return open_output(device)
    except AudioError as exc:
        if play:
            raise
        notes.append(f"not playing the room: {exc}; use --record FILE to keep it")
        return None


def default_name(args: argparse.Namespace, fallback: str) -> str:
    name = getattr(args, "name", None) or fallback
    if not name.strip() or len(name.encode()) > 64:
        raise CliError("--name must be 1 to 64 bytes of text")
    return name.strip()


async def run_client(
    make_client: Callable[[], RoomClient],
    plain: bool,
    duration: float | None,
    done: list[RoomClient],
    on_started: Callable[[RoomClient], None] | None = None,
    json_events: bool = False,
) -> None:
    """Build a client (inside trio) and run it with a console until it is done.

    ``done`` receives the client (for the exit status).  After ``duration``
    seconds the client leaves as ``leave anyway`` does: the last moderator of
    an occupied room leaves the chair to the room's deputy (spec §12.2).
    """
    client = make_client()
    done.append(client)
    console: PlainConsole | ScreenConsole | JsonConsole
    if json_events:
        console = JsonConsole(client)
    else:
        console = PlainConsole(client.view) if plain else ScreenConsole(client.view)
    client._log = console.log
    client.on_room_event.append(lambda _event: console.changed())
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        if on_started is not None and not json_events:
            on_started(client)
        if plain or json_events or sys.stdin.isatty():
            nursery.start_soon(console.run, client.actions_send)
        elif isinstance(console, ScreenConsole):
            nursery.start_soon(console.redraw_loop)  # a view, but no keyboard
        if duration is not None:

            async def stop_later() -> None:
                await trio.sleep(duration)
                if client.room.state == "joining":
                    client.exit_code = exits.NOT_ADMITTED
                    client.log(f"--duration {duration:g} s is up before a moderator admitted you")
                else:
                    client.log(f"--duration {duration:g} s is up: leaving")
                    client.leave(anyway=True)  # as `leave anyway`: the deputy takes the chair
                client.ended = True
                client._notify()

            nursery.start_soon(stop_later)

        async def leave_on_signal() -> None:
            # Ctrl-C or SIGTERM: say goodbye so the room sees us leave at once;
            # a second one stops without waiting.  The last moderator of an
            # occupied room is asked first on Ctrl-C (a second one leaves it
            # anyway); SIGTERM, from a service manager, never asks.
            asked = False
            with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for signum in signals:
                    if client.ended:
                        nursery.cancel_scope.cancel()
                        return
                    last = client.room.successor is not None
                    if signum == signal.SIGINT and not asked and last:
                        asked = True
                        client.leave()  # refused: prints the question
                        client.log("press Ctrl-C again to leave it without a moderator")
                        continue
                    client.log("leaving (press Ctrl-C again to quit at once)")
                    client.leave(anyway=True)
                    client.ended = True
                    client._notify()

        if threading.current_thread() is threading.main_thread():
            nursery.start_soon(leave_on_signal)

        async def finish_when_client_done() -> None:
            await client.wait_until(lambda: client.ended or client.removed)
            await trio.sleep(0.5)
            nursery.cancel_scope.cancel()

        nursery.start_soon(finish_when_client_done)


def run_or_explain(
    make_client: Callable[[], RoomClient],
    *,
    plain: bool,
    duration: float | None,
    on_started: Callable[[RoomClient], None] | None = None,
    json_events: bool = False,
) -> int:
    """Run until done; connection failures become one :class:`CliError` line.

    Exit status: one of :mod:`client.exits` (the client's ``exit_code``).
    """
    done: list[RoomClient] = []
    try:
        trio.run(run_client, make_client, plain, duration, done, on_started, json_events)
        record = done[0].config.record if done else None
        if record is not None and record.exists():
            print(f"recording saved to {record.resolve()}", file=sys.stderr, flush=True)
    except BaseException as exc:
        leaves = _leaves(exc)
        for leaf in leaves:
            if isinstance(leaf, CONNECT_ERRORS):
                raise CliError(describe_connect_error(leaf)) from None
        for leaf in leaves:
            if isinstance(leaf, CliError | KeyboardInterrupt):
                raise leaf from None
        raise
    return done[0].exit_code if done else exits.OK


def _leaves(exc: BaseException) -> list[BaseException]:
    """The non-group exceptions inside (possibly nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _run(
    make_client: Callable[[], RoomClient],
    args: argparse.Namespace,
    on_started: Callable[[RoomClient], None] | None = None,
) -> int:
    return run_or_explain(
        make_client,
        plain=use_plain(args),
        duration=getattr(args, "duration", None),
        on_started=on_started,
        json_events=bool(getattr(args, "json", False)),
    )


def _client(config: ClientConfig, args: argparse.Namespace, notes: list[str]) -> RoomClient:
    """The client, its view told what it speaks, records and plays, and what failed."""
    client = RoomClient(config)
    client.view.audio_line = audio_summary(
        source_choice(args),
        config.record,
        config.output is not None,
        getattr(args, "output_device", None),
    )
    client.view.push_to_talk = bool(getattr(args, "push_to_talk", False))
    for note in notes:
        client.view.add_status(note)
    return client


def _config(
    args: argparse.Namespace, invite: str, notes: list[str], *, create: bool, policy: str
) -> ClientConfig:
    store = IdentityStore(resolve_home(args.home))
    identity = store.load_or_create()
    record = Path(args.record) if getattr(args, "record", None) else None
    if record is not None and not record.parent.exists():
        raise CliError(f"cannot record to {record}: folder {record.parent} does not exist")
    return ClientConfig(
        invite=invite,
        identity=identity,
        output=output_from_args(args, notes),
        name=default_name(args, "Moderator" if create else "Guest"),
        create=create,
        policy=policy,
        source=source_choice(args).open(),
        record=record,
        listen_only=bool(getattr(args, "listen_only", False)),
        auto_accept=bool(getattr(args, "auto_accept", False)),
        raise_hand=bool(getattr(args, "hand", False)),
        admit_wait=getattr(args, "wait", None) or ClientConfig.admit_wait,
        datagrams=bool(getattr(args, "udp", False)),
    )


def run_join(args: argparse.Namespace) -> int:
    invite = check_invite_text(read_invite(args))
    home_identity = IdentityStore(resolve_home(args.home)).load_or_create()
    founder = invite_founder_is(invite, home_identity)
    notes: list[str] = []
    config = _config(args, invite, notes, create=False, policy=saved_policy(args.home, invite))
    config.reopen = founder  # rejoin the room if anyone is in it, else open it
    return _run(lambda: _client(config, args, notes), args, _print_safety_code)


def check_relay(invite: str) -> None:
    """Reach the invite's relay addresses and check their key against the pin.

    Raises one CliError line; an address that does not answer while another
    does is a note on stderr (a node may be down while the room is made).
    """
    try:
        down = trio.run(probe_relays, parse_invite(invite))
    except CONNECT_ERRORS as exc:
        raise CliError(describe_connect_error(exc)) from None
    for line in down:
        print(f"note: {line}", file=sys.stderr, flush=True)


def run_room_create(args: argparse.Namespace) -> int:
    from client.commands.common import parse_relays

    (host, port), *alternates = parse_relays(args.relay)
    if not args.pin:
        raise CliError(
            "--pin is required: copy it from the relay's start-up line ('hushroom relay' prints it)"
        )
    identity = IdentityStore(resolve_home(args.home)).load_or_create()
    invite = new_invite(host, port, args.pin, identity, tuple(alternates))
    # Everything that can fail (audio devices, the relay, its pin) fails before
    # the invite is printed: a printed invite is a room that exists.
    notes: list[str] = []
    config = (
        None if args.detach else _config(args, invite, notes, create=True, policy=args.policy)
    )
    check_relay(invite)
    save_policy(args.home, invite, args.policy)
    if config is None:
        # Just the link on stdout, so that '--detach > invite.txt' is an invite file.
        print(invite, flush=True)
        print(
            "room not started: run 'hushroom join --invite-file FILE' with this identity "
            "to open and moderate it",
            file=sys.stderr,
            flush=True,
        )
        return 0
    _say(args, f"invite: {invite}")
    return _run(lambda: _client(config, args, notes), args, _print_safety_code)


def _say(args: argparse.Namespace, line: str) -> None:
    """A line for the user: on stdout, or on stderr when stdout is the ``--json`` stream."""
    print(line, file=sys.stderr if getattr(args, "json", False) else sys.stdout, flush=True)


def _print_safety_code(client: RoomClient) -> None:
    if client.may_speak():  # the founder is in at once; others once admitted
        print(f"room safety code: {client.safety_code()}", flush=True)


def bot_config(args: argparse.Namespace) -> ClientConfig:
    """The welcome bot's client: audience member, raises its hand, accepts by itself."""
    invite = check_invite_text(read_invite(args))
    identity = IdentityStore(resolve_home(args.home)).load_or_create()
    config = ClientConfig(
        invite=invite,
        identity=identity,
        name=default_name(args, "Welcome bot"),
        auto_accept=True,
        raise_hand=True,
    )
    return config
