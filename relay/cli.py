"""``hushroom relay``: run a relay, or print its pin (spec §7, §17).

On first start the relay creates its key and self-signed certificate in the
state directory and prints the pin that goes into invites; later starts reuse
them.  Logs carry no client address, room tag or slot unless ``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import resource
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import trio

from relay.config import RelayConfig
from relay.errors import RelaySetupError
from relay.metrics import serve_metrics
from relay.server import RelayServer, server_ssl_context
from relay.state import StateError, load_or_create
from relay.stats import RelayStats

HELP = "run a relay (the only server a group needs)"
DEFAULT_LISTEN = "127.0.0.1:7443"

log = logging.getLogger("hushroom.relay")


ACTIVITY_EVERY = 60.0
"""Seconds between activity lines at INFO (a quiet relay logs none)."""


@dataclass(frozen=True)
class _Activity:
    """The counts an activity line compares (aggregates only: no address, tag or slot)."""

    connected: int
    open: int
    handshakes_failed: int
    errors: Counter[str]

    @classmethod
    def of(cls, stats: RelayStats) -> _Activity:
        return cls(
            stats.connections_total,
            stats.connections_open,
            stats.handshakes_failed,
            Counter(stats.errors),
        )


def activity_line(before: _Activity, stats: RelayStats, seconds: float) -> str | None:
    """What changed since ``before``, in one line without identities; None if nothing did."""
    now = _Activity.of(stats)
    if now == before:
        return None
    connected = now.connected - before.connected
    disconnected = connected - (now.open - before.open)
    errors = now.errors - before.errors
    listed = ", ".join(f"{code}={n}" for code, n in sorted(errors.items())) or "none"
    return (
        f"last {seconds:g} s: {connected} links joined, {disconnected} left, "
        f"{now.handshakes_failed - before.handshakes_failed} failed handshakes, "
        f"errors {listed}; now {now.open} links in {stats.rooms_open} rooms"
    )


async def log_activity(stats: RelayStats, every: float = ACTIVITY_EVERY) -> None:
    """Every ``every`` seconds, one INFO line of joins, leaves and errors (if any)."""
    before = _Activity.of(stats)
    while True:
        await trio.sleep(every)
        line = activity_line(before, stats, every)
        if line is not None:
            log.info("%s", line)
        before = _Activity.of(stats)


def default_state_dir() -> Path:
    """Per-user data directory, e.g. ~/.local/share/hushroom/relay."""
    return Path(platformdirs.user_data_dir("hushroom")) / "relay"


def parse_hostport(text: str) -> tuple[str, int]:
    """HOST:PORT (IPv6 as [::1]:PORT); raises RelaySetupError on anything else."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise RelaySetupError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def register(parser: argparse.ArgumentParser) -> None:
    d = RelayConfig()
    parser.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"address to listen on (default {DEFAULT_LISTEN})",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help=f"where the relay key and certificate live (default {default_state_dir()})",
    )
    parser.add_argument(
        "--print-pin", action="store_true", help="print the relay pin (base64url) and exit"
    )
    parser.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        default=None,
        help="serve aggregate Prometheus metrics on this address",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="verbose logs, including client addresses (off by default)",
    )
    parser.add_argument(
        "--udp-port",
        type=int,
        default=None,
        help="UDP port of the datagram media channel (spec §23); off unless given",
    )
    parser.add_argument(
        "--cluster",
        metavar="URL",
        default=None,
        help="join a cluster of relays sharing rooms through this engine "
        "(redis://HOST:PORT or rediss://[:PASSWORD@]HOST:PORT, spec §24); "
        "without it the relay is on its own",
    )
    limits = parser.add_argument_group("limits (spec §17.5)")
    limits.add_argument(
        "--max-envelope",
        type=int,
        default=d.max_payload,
        help="largest envelope payload in bytes (default %(default)s)",
    )
    limits.add_argument(
        "--max-rooms",
        type=int,
        default=d.max_rooms_per_connection,
        help="room tags per link (default %(default)s)",
    )
    limits.add_argument(
        "--max-members",
        type=int,
        default=d.max_members_per_room,
        help="members per room tag (default %(default)s)",
    )
    limits.add_argument(
        "--max-per-address",
        type=int,
        default=d.max_connections_per_address,
        help="links per client address, 0 = unlimited (default %(default)s)",
    )
    limits.add_argument(
        "--max-connections",
        type=int,
        default=d.max_connections,
        help="links in total (default %(default)s)",
    )
    limits.add_argument(
        "--rate",
        type=float,
        default=d.envelope_rate,
        help="envelopes per second per link (default %(default)s)",
    )
    limits.add_argument(
        "--burst",
        type=float,
        default=d.envelope_burst,
        help="envelope burst per link (default %(default)s)",
    )
    limits.add_argument(
        "--media-queue",
        type=int,
        default=d.media_queue_bytes,
        help="queued audio bytes per link before the oldest is dropped (default %(default)s)",
    )
    limits.add_argument(
        "--reliable-queue",
        type=int,
        default=d.reliable_queue_bytes,
        help="queued reliable bytes per link before it is closed (default %(default)s)",
    )
    limits.add_argument(
        "--idle-timeout",
        type=float,
        default=d.idle_timeout,
        help="seconds without any envelope before a link is closed (default %(default)s)",
    )
    limits.add_argument(
        "--handshake-timeout",
        type=float,
        default=d.handshake_timeout,
        help="seconds a TLS handshake may take (default %(default)s)",
    )
    limits.add_argument(
        "--audience-interval",
        type=float,
        default=d.audience_min_interval,
        help="minimum seconds between audience batches; 0 = adaptive (default %(default)s)",
    )
    for flag, kind, default, text in (
        ("--read-per-turn", int, d.read_bytes_per_turn, "bytes read from one link per turn"),
        ("--max-pending", int, d.max_pending_handshakes, "unfinished TLS handshakes in total"),
        ("--max-pending-per-address", int, d.max_pending_per_address, "pending per address"),
        ("--byte-rate", float, d.byte_rate, "bytes per second per link, CONTROL per recipient"),
        ("--byte-burst", float, d.byte_burst, "byte burst per link"),
        ("--join-rate", float, d.join_rate, "JOIN and SET_CLASS per second per link"),
        ("--join-burst", float, d.join_burst, "JOIN and SET_CLASS burst per link"),
        ("--media-rate", float, d.media_rate, "MEDIA envelopes per second per room member"),
        ("--media-burst", float, d.media_burst, "MEDIA envelope burst per room member"),
        ("--media-byte-rate", float, d.media_byte_rate, "MEDIA bytes per second per member"),
        ("--media-byte-burst", float, d.media_byte_burst, "MEDIA byte burst per room member"),
    ):
        limits.add_argument(flag, type=kind, default=default, help=text + " (default %(default)s)")


def config_from_args(args: argparse.Namespace) -> RelayConfig:
    """Build the limits from the command line; refuses nonsense values."""
    values = [
        args.max_envelope,
        args.max_rooms,
        args.max_members,
        args.media_queue,
        args.reliable_queue,
        args.read_per_turn,
        args.max_pending,
        args.max_pending_per_address,
        args.byte_rate,
        args.byte_burst,
        args.join_rate,
        args.join_burst,
        args.media_rate,
        args.media_burst,
        args.media_byte_rate,
        args.media_byte_burst,
    ]
    if any(v < 1 for v in values) or args.max_per_address < 0 or args.rate <= 0:
        raise RelaySetupError("limits must be positive")
    if args.idle_timeout <= 0 or args.handshake_timeout <= 0 or args.audience_interval < 0:
        raise RelaySetupError("timeouts must be positive")
    if args.udp_port is not None and not 0 <= args.udp_port <= 0xFFFF:
        raise RelaySetupError("--udp-port must be 0-65535")
    return RelayConfig(
        datagram_port=args.udp_port,
        max_payload=args.max_envelope,
        max_rooms_per_connection=args.max_rooms,
        max_members_per_room=args.max_members,
        max_connections_per_address=args.max_per_address,
        max_connections=args.max_connections,
        envelope_rate=args.rate,
        envelope_burst=max(args.burst, 1.0),
        media_queue_bytes=args.media_queue,
        reliable_queue_bytes=args.reliable_queue,
        idle_timeout=args.idle_timeout,
        handshake_timeout=args.handshake_timeout,
        audience_min_interval=args.audience_interval,
        read_bytes_per_turn=args.read_per_turn,
        max_pending_handshakes=args.max_pending,
        max_pending_per_address=args.max_pending_per_address,
        byte_rate=args.byte_rate,
        byte_burst=args.byte_burst,
        join_rate=args.join_rate,
        join_burst=args.join_burst,
        media_rate=args.media_rate,
        media_burst=args.media_burst,
        media_byte_rate=args.media_byte_rate,
        media_byte_burst=args.media_byte_burst,
    )


def _raise_fd_limit(wanted: int) -> None:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` links (plus a few spare)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted + 64 if hard == resource.RLIM_INFINITY else min(wanted + 64, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    if soft < wanted:
        log.warning("file descriptor limit %d is below --max-connections", soft)


def run(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir or default_state_dir()
    try:
        identity = load_or_create(state_dir)
    except StateError as exc:
        raise RelaySetupError(str(exc)) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise RelaySetupError(f"cannot use the state directory {state_dir}: {reason}") from None
    if args.print_pin:
        print(identity.pin_text)
        return 0
    config = config_from_args(args)
    host, port = parse_hostport(args.listen)
    metrics = parse_hostport(args.metrics) if args.metrics else None
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    _raise_fd_limit(config.max_connections)
    try:
        trio.run(
            _main,
            config,
            identity.cert_path,
            identity.key_path,
            identity.pin_text,
            host,
            port,
            metrics,
            args.debug,
            args.cluster,
        )
    except BaseExceptionGroup as group:
        setup = group.subgroup(RelaySetupError)
        if setup is None:
            raise
        raise _first_leaf(setup) from None
    return 0


def _first_leaf(group: BaseExceptionGroup[RelaySetupError]) -> RelaySetupError:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


async def _start_listening(
    nursery: trio.Nursery,
    what: str,
    serve: Callable[..., Awaitable[object]],
    host: str,
    port: int,
    *extra: object,
) -> int:
    """Start ``serve`` on host:port; a bind or name failure becomes one clear line."""
    try:
        bound: int = await nursery.start(serve, *extra, host, port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise RelaySetupError(f"cannot {what} on {host}:{port}: {reason}") from None
    return bound


async def _main(
    config: RelayConfig,
    cert_path: Path,
    key_path: Path,
    pin_text: str,
    host: str,
    port: int,
    metrics: tuple[str, int] | None,
    debug: bool,
    cluster: str | None = None,
) -> None:
    stats = RelayStats()
    server = RelayServer(config, server_ssl_context(str(cert_path), str(key_path)), stats, debug)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            if cluster is not None:
                from relay.cluster.service import engine_address, make_node, run_node

                engine = make_node(server, cluster)
                await nursery.start(run_node, engine, server.router)
                log.info("node of the cluster at %s", engine_address(cluster))
            bound = await _start_listening(nursery, "listen", server.serve, host, port)
            if metrics is not None:
                mhost, mport = metrics
                mport = await _start_listening(
                    nursery, "serve metrics", serve_metrics, mhost, mport, stats
                )
                log.info("metrics on %s:%d", mhost, mport)
            nursery.start_soon(log_activity, stats, ACTIVITY_EVERY)
            # One machine-readable line for scripts (bench, demo) on stdout.
            print(f"hushroom relay listening on {host}:{bound} pin {pin_text}", flush=True)
            async for signum in signals:
                log.info("%s received, shutting down", signal.Signals(signum).name)
                await server.shutdown()
                nursery.cancel_scope.cancel()
                break
