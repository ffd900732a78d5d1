"""``hushroom demo``: a relay and five clients in one process, on loopback, over TLS.

Cast: Alice founds and moderates the room; Bob and Carol are invited on
stage and talk (espeak-ng speech when installed, else two distinct tones);
Dave listens, raises his hand, is invited, accepts and speaks; Erin listens
and records the room to ``OUT/room.wav`` (and each speaker to
``OUT/speakers/``, which the demo compares with what each one said).  Every client runs the real
session over a real TLS link to a real relay; only the process is shared.
At the end the demo prints what the relay saw, decoded from the very bytes
that crossed each link, and checks that no display name, identity key or
Opus packet appears in them.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
import trio

from client.actions import Action
from client.audio.errors import SpeechSynthesisError
from client.audio.jitter import JitterConfig
from client.audio.quality import windowed_correlation
from client.audio.sinks import speaker_file_name
from client.audio.sources import PcmSource, espeak_binary, synthesize_speech
from client.audio.synth import speaker_tone_hz, tone
from client.errors import CliError
from client.inproc_relay import RunningRelay, start_relay
from client.relay_connect import link_connector, new_invite, parse_invite
from client.relay_view import RelayObserver
from client.room_client import ClientConfig, RoomClient
from client.secret_file import make_private_dirs
from e2ee.identity import IdentityKey

# Display names long enough that finding one by chance in 600 kB of ciphertext
# is negligible (a 3-byte name would turn up by chance in a few percent of runs).
FULL_NAMES = {
    "Alice": "Alice Adams",
    "Bob": "Bob Brown",
    "Carol": "Carol Chen",
    "Dave": "Dave Dixon",
    "Erin": "Erin Evans",
}

LINES = {
    "Bob": "Hello everyone, this is Bob. The relay cannot hear a word of this.",
    "Carol": "Hi Bob, Carol here. Every frame is encrypted on my device.",
    "Dave": "Thanks for inviting me up. Dave speaking from the audience.",
}


@dataclass
class DemoResult:
    wav: Path
    relay_summary: list[str]
    leaks: int
    audio_in_clear: int
    correlations: dict[str, float] = field(default_factory=dict)
    seconds_recorded: float = 0.0


def voice(name: str, index: int) -> npt.NDArray[np.int16]:
    """Speech for ``name`` if espeak-ng is installed, else a tone of its own (one loop)."""
    if espeak_binary() is not None:
        try:
            return synthesize_speech(LINES[name], pitch=30 + 20 * index)
        except SpeechSynthesisError:
            pass
    return tone(speaker_tone_hz(index), 3.0, amplitude=0.2)


async def run_demo(out: Path, act_seconds: float, say: Callable[[str], None]) -> DemoResult:
    """Run the demo; ``say`` prints one line.  Returns what was checked."""
    make_private_dirs(out)
    wav = out / "room.wav"
    observer = RelayObserver()
    identities = {
        name: IdentityKey.generate(secrets.token_bytes)
        for name in ("Alice", "Bob", "Carol", "Dave", "Erin")
    }
    voices = {name: voice(name, i) for i, name in enumerate(("Bob", "Carol", "Dave"))}
    speakers_dir = out / "speakers"
    make_private_dirs(speakers_dir)
    async with trio.open_nursery() as nursery:
        relay: RunningRelay = await start_relay(nursery)
        say(f"relay listening on {relay.host}:{relay.port} (pin {relay.pin_text[:16]}…)")
        invite = new_invite(relay.host, relay.port, relay.pin_text, identities["Alice"])
        say("Alice creates the room; invite link (its #fragment never reaches the relay):")
        say(f"  {invite.partition('#')[0]}#… (the secret part is not shown here)")

        def client(name: str, **kw: object) -> RoomClient:
            config = ClientConfig(
                invite=invite,
                identity=identities[name],
                name=FULL_NAMES[name],
                **kw,  # type: ignore[arg-type]
            )
            return RoomClient(
                config,
                connect=link_connector(parse_invite(invite), tap=observer.link(name)),
                log=lambda line: say(f"{name:6} | {line}"),
            )

        alice = client("Alice", create=True, policy="open")
        await nursery.start(alice.run)
        say(f"room safety code (compare out of band): {alice.safety_code()}")
        speakers = {}
        for name in ("Bob", "Carol"):
            source = PcmSource(voices[name], loop=True)
            speakers[name] = client(name, source=source, auto_accept=True)
        dave = client("Dave", source=PcmSource(voices["Dave"], loop=True), auto_accept=True)
        # Five clients and the relay share one process here, so one client's
        # burst of work (verifying a commit, re-keying) delays the others: Erin
        # records with a 120 ms playout buffer instead of the default 60 ms.
        erin = client(
            "Erin",
            record=wav,
            record_speakers_dir=speakers_dir,
            listen_only=True,
            jitter=JitterConfig(target_frames=6),
        )
        everyone = [alice, *speakers.values(), dave, erin]
        sent_packets: list[bytes] = []  # every Opus packet, to look for it at the relay
        for c in everyone:
            c.on_packet_sent.append(sent_packets.append)
        for c in everyone[1:]:
            await nursery.start(c.run)
        with trio.fail_after(15):
            for c in everyone:
                await c.wait_until(partial(_has_members, c, len(everyone)))
        say("everyone is in; Alice invites Bob and Carol on stage")
        for name in ("Bob", "Carol"):
            alice.perform(Action("invite", target=name))
        with trio.fail_after(15):
            for name in ("Bob", "Carol"):
                await erin.wait_until(partial(_hears, erin, FULL_NAMES[name]))
        await trio.sleep(act_seconds)
        say("Dave raises his hand")
        dave.perform(Action("hand"))
        with trio.fail_after(10):
            await alice.wait_until(lambda: alice.room.hand_queue == (dave.room.me,))
        say("Alice invites Dave to speak; Dave accepts")
        alice.perform(Action("invite", target="Dave"))
        with trio.fail_after(15):
            await erin.wait_until(lambda: erin.frames_from(FULL_NAMES["Dave"]) > 0)
        await trio.sleep(act_seconds)
        say("Alice moves Bob back to the audience, then ends the room")
        alice.perform(Action("audience", target="Bob"))
        await trio.sleep(min(1.0, act_seconds))
        alice.perform(Action("end"))
        with trio.move_on_after(5):
            for c in everyone:
                await c.wait_until(partial(_ended, c))
        await trio.sleep(0.3)
        nursery.cancel_scope.cancel()

    secrets_to_find: dict[str, bytes] = {}
    for name, identity in identities.items():
        secrets_to_find[f"display name {FULL_NAMES[name]!r}"] = FULL_NAMES[name].encode()
        secrets_to_find[f"{name}'s identity key"] = identity.public
    summary = observer.summary(secrets_to_find, sent_packets)
    leaks = observer.leaks(secrets_to_find)
    everything = b"".join(bytes(r.to_relay) for r in observer.links)
    in_clear = sum(1 for p in sent_packets if len(p) >= 8 and p in everything)
    result = DemoResult(wav, summary, len(leaks), in_clear)
    result.seconds_recorded = len(_read_wav(wav)) / 48_000
    handles = {m.name: m.handle for m in erin.view.members.values()}
    for name, reference in voices.items():
        track_path = speakers_dir / speaker_file_name(bytes.fromhex(handles[FULL_NAMES[name]]))
        track = _read_wav(track_path) if track_path.exists() else np.zeros(1, np.int16)
        result.correlations[name] = stage_correlation(reference, track)
    return result


def _has_members(client: RoomClient, count: int) -> bool:
    return len(client.room.members) == count


def _hears(client: RoomClient, name: str) -> bool:
    return client.frames_from(name) > 0


def _ended(client: RoomClient) -> bool:
    return client.ended


def stage_correlation(reference: npt.NDArray[np.int16], track: npt.NDArray[np.int16]) -> float:
    """How well a speaker's recorded track matches what they said while on stage.

    A per-speaker track runs on the room's timeline: silence before the
    speaker came on stage and after they left.  Compare only the audible span
    (plus 250 ms either side for the alignment search) with as much of the
    reference as the speaker had time to say, less the last 200 ms (the
    decoder's concealment tail when the stream stops).  The measure is
    :func:`~client.audio.quality.windowed_correlation`: normalised
    cross-correlation, aligned globally and then per 1 s window (an adaptive
    jitter buffer may shift playout by a frame now and then).
    """
    audible = np.nonzero(np.abs(track) > 64)[0]
    if audible.size == 0:
        return 0.0
    margin = 48_000 // 4
    span = track[max(0, audible[0] - margin) : audible[-1] + 1 + margin]
    said = reference[: max(960, audible[-1] - audible[0] - 10 * 960)]
    corr, _lag = windowed_correlation(said, span)
    return corr


def _read_wav(path: Path) -> npt.NDArray[np.int16]:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def run_demo_command(args: argparse.Namespace) -> int:
    out = Path(args.out)
    try:
        make_private_dirs(out)
    except OSError as exc:
        raise CliError(f"cannot create {out}: {exc.strerror}") from None

    def say(line: str) -> None:
        print(line, flush=True)

    result = trio.run(run_demo, out, float(args.seconds), say)
    print()
    print("=== what the relay saw ===")
    for line in result.relay_summary:
        print(line)
    print()
    print(f"room recording: {result.wav} ({result.seconds_recorded:.1f} s)")
    print(
        "each speaker's track as Erin recorded it, against what they said "
        "(normalised cross-correlation, each 1 s window aligned):"
    )
    for name, corr in result.correlations.items():
        print(f"  {name}: {corr:.3f}")
    ok = (
        result.leaks == 0
        and result.audio_in_clear == 0
        and all(c >= 0.9 for c in result.correlations.values())
    )
    print("demo OK" if ok else "demo FAILED a check", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1
