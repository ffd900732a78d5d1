"""``hushroom bench join``: invite in hand to first decoded audio frame, on loopback.

Setup (not timed): an in-process relay, a moderator who creates the room and
a speaker on stage sending a tone.  Timed, for each run: a new client with a
fresh identity and the invite link starts (parse invite, TLS link to the
pinned relay, join request, admission, roster, sender keys) until the first
audio frame it receives is decrypted and decoded by Opus.  Reported in ms
(median and worst of the runs), plus the time to the first frame played out
of the jitter buffer and, after restarting the relay, the time until a
listener decrypts audio again (every client reconnects by itself, with
jittered back-off).  Goal: join_to_first_audio_ms <= 300.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics

import trio

from client.actions import Action
from client.audio.decoder import open_decoder
from client.audio.sources import ToneSource
from client.bench.progress import Progress
from client.commands.common import positive_int
from client.inproc_relay import start_relay
from client.relay_connect import new_invite
from client.room_client import ClientConfig, RoomClient
from e2ee.identity import IdentityKey

HELP = "invite in hand to first decoded audio frame, on loopback"
GOAL_MS = 300.0


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--runs", type=positive_int, default=5, help="joins to time (default 5)")


async def time_one_join(invite: str, name: str) -> tuple[float, float]:
    """(ms to the first decrypted+decoded frame, ms to the first frame played out)."""
    start = trio.current_time()
    decoded_at: list[float] = []
    decoder = open_decoder()
    listener = RoomClient(ClientConfig(invite, IdentityKey.generate(secrets.token_bytes), name))

    def first_frame(_event: object) -> None:
        packet = listener.last_packet
        if not decoded_at and packet is not None:
            decoder.decode(packet)
            decoded_at.append(trio.current_time())

    def played_out() -> bool:
        rx = listener.receiver
        return any(rx.decode_stats(s).decoded for s in rx.speakers)

    listener.on_room_event.append(first_frame)
    with trio.fail_after(10):
        async with trio.open_nursery() as inner:
            await inner.start(listener.run)
            await listener.wait_until(lambda: bool(decoded_at))
            while not played_out():
                await trio.sleep(0.002)
            played = trio.current_time()
            listener.leave()
    return (decoded_at[0] - start) * 1000, (played - start) * 1000


async def measure(runs: int, progress: Progress | None = None) -> dict[str, float | int]:
    progress = progress or Progress("join")
    progress.phase("starting a relay, a moderator and a speaker")
    joins: list[float] = []
    playouts: list[float] = []
    async with trio.open_nursery() as nursery:
        relay = await start_relay(nursery)
        founder = IdentityKey.generate(secrets.token_bytes)
        invite = new_invite(relay.host, relay.port, relay.pin_text, founder)
        moderator = RoomClient(ClientConfig(invite, founder, "Mod", create=True))
        await nursery.start(moderator.run)
        speaker = RoomClient(
            ClientConfig(
                invite,
                IdentityKey.generate(secrets.token_bytes),
                "Speaker",
                source=ToneSource(440.0),
                auto_accept=True,
            )
        )
        await nursery.start(speaker.run)
        with trio.fail_after(10):
            await moderator.wait_until(lambda: moderator.view.find("Speaker") is not None)
            moderator.perform(Action("invite", target="Speaker"))
            while speaker.session.frames_sent < 5:
                await trio.sleep(0.02)
        progress.phase("timing joins", f"0 of {runs}")
        for run in range(runs):
            join_ms, playout_ms = await time_one_join(invite, f"L{run}")
            progress.update(f"{run + 1} of {runs}")
            joins.append(join_ms)
            playouts.append(playout_ms)
        # Relay restart: every client reconnects by itself; time until a
        # listener decrypts audio again.
        listener = RoomClient(ClientConfig(invite, IdentityKey.generate(secrets.token_bytes), "R"))
        await nursery.start(listener.run)
        with trio.fail_after(10):
            await listener.wait_until(lambda: listener.frames_from("Speaker") > 0)
        progress.phase("restarting the relay")
        await relay.restart()
        restarted = trio.current_time()
        before = listener.frames_from("Speaker")
        with trio.fail_after(10):
            await listener.wait_until(lambda: listener.frames_from("Speaker") > before)
        restart_ms = (trio.current_time() - restarted) * 1000
        nursery.cancel_scope.cancel()
    return {
        "join_to_first_audio_ms": round(statistics.median(joins), 1),
        "join_to_first_audio_ms_max": round(max(joins), 1),
        "join_to_first_playout_ms": round(statistics.median(playouts), 1),
        "relay_restart_to_audio_ms": round(restart_ms, 1),
        "runs": runs,
        "goal_ms": GOAL_MS,
    }


def run(args: argparse.Namespace) -> int:
    progress = Progress("join")
    try:
        result = trio.run(measure, max(1, args.runs), progress)
    finally:
        progress.done()
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0 if result["join_to_first_audio_ms"] <= GOAL_MS else 1
