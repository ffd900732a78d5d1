"""Whole clients in real rooms: real relay, real TLS links on loopback, real Opus.

Measure used for "the recording matches the source": the normalised
cross-correlation between a speaker's source PCM and that speaker's track as
recorded by a listener (``RoomRecorder`` per-speaker WAV, on the room's
timeline), after alignment: ``client.audio.quality.windowed_correlation``
aligns globally (the lag that maximises the correlation), then re-aligns each
1 s window within ±200 ms (an adaptive jitter buffer may shift playout by a
frame) and takes the energy-weighted mean.  Threshold 0.9.  The recording
listener uses a 200 ms playout buffer because six clients and the relay share
one process (and two CPU cores, with other test runs) here.

These tests use real sockets, so they run on the real clock, each bounded by
``trio.fail_after``; they wait for conditions (an event, an envelope, a
counter), never for fixed times.  The audio-quality thresholds depend on
the machine keeping up with six clients in one process, so they are load
tests (``pytest -m load``); the default suite checks what was recorded.
"""

from __future__ import annotations

import secrets
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import trio
from room.insider import revealed

from client.actions import LINE_HELP, Action, parse_line
from client.audio.jitter import JitterConfig
from client.audio.quality import mixture_correlation, windowed_correlation
from client.audio.sinks import speaker_file_name
from client.audio.sources import PcmSource
from client.audio.synth import speech_like
from client.backoff import Backoff
from client.bot import WelcomeBot
from client.console import PlainConsole
from client.inproc_relay import RunningRelay, start_relay
from client.relay_connect import link_connector, new_invite, parse_invite
from client.relay_view import RelayObserver
from client.room_client import ClientConfig, RoomClient
from e2ee.envelope import EnvelopeDecoder, EnvelopeType
from e2ee.errors import DecryptionFailed, RemoteProtocolError
from e2ee.frame import FrameReceiver, FrameSender
from e2ee.identity import IdentityKey
from e2ee.room import events as ev
from e2ee.room import keys, speaker_proof
from e2ee.room.speaker_auth import AuthConfig
from e2ee.sender_key import SenderKey

HANG_GUARD = 30.0
"""Seconds a step may take before the test calls it a hang: real time, on a busy machine."""


@dataclass
class Room:
    relay: RunningRelay
    invite: str
    nursery: trio.Nursery
    observer: RelayObserver
    moderator: RoomClient | None = None

    async def add(
        self, name: str, client_class: type[RoomClient] = RoomClient, **kw: object
    ) -> RoomClient:
        config = ClientConfig(
            invite=self.invite,
            identity=IdentityKey.generate(secrets.token_bytes),
            name=name,
            **kw,  # type: ignore[arg-type]
        )
        client = client_class(
            config,
            connect=link_connector(parse_invite(self.invite), tap=self.observer.link(name)),
            backoff=Backoff(uniform=lambda: secrets.randbelow(1000) / 1000, cap=1.0),
        )
        await self.nursery.start(client.run)
        with trio.fail_after(HANG_GUARD):
            await client.wait_until(lambda: client.view.me() is not None)
        return client

    async def on_stage(self, client: RoomClient) -> None:
        assert self.moderator is not None
        name = client.config.name
        with trio.fail_after(HANG_GUARD):
            await self.moderator.wait_until(lambda: self.moderator.view.find(name) is not None)  # type: ignore[union-attr]
        self.moderator.perform(Action("invite", target=name))
        with trio.fail_after(HANG_GUARD):
            await client.wait_until(lambda: client.view.me().on_stage)  # type: ignore[union-attr]


@pytest.fixture
async def room() -> AsyncIterator[Room]:
    async with trio.open_nursery() as nursery:
        relay = await start_relay(nursery)
        founder = IdentityKey.generate(secrets.token_bytes)
        invite = new_invite(relay.host, relay.port, relay.pin_text, founder)
        r = Room(relay, invite, nursery, RelayObserver())
        mod = RoomClient(
            ClientConfig(invite, founder, "Mod", create=True),
            connect=link_connector(parse_invite(invite), tap=r.observer.link("Mod")),
        )
        await nursery.start(mod.run)
        r.moderator = mod
        yield r
        nursery.cancel_scope.cancel()


class StubbornClient(RoomClient):
    """An attacker's client: it keeps its relay link (and its keys) after being removed."""

    async def _watch_for_exit(self, scope: trio.CancelScope) -> None:
        await trio.sleep_forever()


async def until_envelope(client: RoomClient, predicate: Callable[[], bool]) -> None:
    """Wait until ``predicate()`` holds, re-checked after each envelope ``client`` receives."""
    inner = client.session.on_envelope
    arrived = trio.Event()

    def seen(envelope: object) -> None:
        if inner is not None:
            inner(envelope)
        arrived.set()

    client.session.on_envelope = seen
    try:
        while not predicate():
            await arrived.wait()
            arrived = trio.Event()
    finally:
        client.session.on_envelope = inner


async def playout_ticks(client: RoomClient, count: int) -> None:
    """Wait until the client's playout has ticked ``count`` more times (20 ms of audio each)."""
    receiver = client.receiver
    inner = receiver.tick
    done = trio.Event()
    ticks = 0

    def tick(now: float) -> npt.NDArray[np.int16]:
        nonlocal ticks
        ticks += 1
        if ticks >= count:
            done.set()
        return inner(now)

    receiver.tick = tick  # type: ignore[method-assign]
    try:
        await done.wait()
    finally:
        del receiver.tick


def read_wav(path: Path) -> npt.NDArray[np.int16]:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


@dataclass
class Recording:
    sources: dict[str, npt.NDArray[np.int16]]
    tracks: dict[str, npt.NDArray[np.int16]]
    mix: npt.NDArray[np.int16]
    frames: int


async def record_two_speakers(room: Room, tmp_path: Path) -> Recording:
    """Two speakers talk for 1.5 s; one of three listeners records the room and each track."""
    seconds = 1.5
    sources = {
        "Ann": speech_like(seconds, 120.0, seed=1),
        "Ben": speech_like(seconds, 190.0, seed=2),
    }
    speakers = {
        n: await room.add(n, source=PcmSource(pcm), auto_accept=True) for n, pcm in sources.items()
    }
    recorder = await room.add(
        "Rec",
        record=tmp_path / "room.wav",
        record_speakers_dir=tmp_path,
        listen_only=True,
        jitter=JitterConfig(target_frames=10),
    )
    others = [await room.add(f"L{i}", listen_only=True) for i in range(2)]
    for speaker in speakers.values():
        await room.on_stage(speaker)
    frames = int(seconds * 50)
    with trio.fail_after(seconds + 60):  # a guard against a hang, not a timing goal
        for listener in [recorder, *others]:
            for name in sources:
                await listener.wait_until(lambda n=name, c=listener: c.frames_from(n) >= frames)
        # the playout buffer (10 frames, and the audience's proof batch) drains into the files
        await playout_ticks(recorder, 10 + AuthConfig().audience_batch + 5)
    recorder.stop_recording()
    tracks = {}
    for name in sources:
        member = next(m.id for m in recorder.room.members.values() if m.display_name == name)
        tracks[name] = read_wav(tmp_path / speaker_file_name(member))
    return Recording(sources, tracks, read_wav(tmp_path / "room.wav"), frames)


async def test_two_speakers_three_listeners_everything_is_recorded(
    room: Room, tmp_path: Path
) -> None:
    rec = await record_two_speakers(room, tmp_path)
    for name, track in rec.tracks.items():
        heard = np.flatnonzero(track)
        assert heard.size, f"{name}: silent track"
        assert track.size - heard[0] >= rec.frames * 960, name  # all of it, after the first sound
    assert rec.mix.size >= rec.frames * 960


@pytest.mark.load
async def test_two_speakers_three_listeners_recording_matches_sources(
    room: Room, tmp_path: Path
) -> None:
    rec = await record_two_speakers(room, tmp_path)
    for name, pcm in rec.sources.items():
        corr, lag = windowed_correlation(pcm, rec.tracks[name])
        print(f"{name}: windowed correlation {corr:.3f} (global lag {lag} samples)")
        assert corr >= 0.9, f"{name}: correlation {corr:.3f} at lag {lag}"
    # The room mix itself: explained by the two sources, each aligned on its own
    # (client.audio.quality.mixture_correlation, single lag per source).
    mix_corr, _lags = mixture_correlation(list(rec.sources.values()), rec.mix)
    print(f"room.wav: mixture correlation {mix_corr:.3f}")
    assert mix_corr >= 0.9


async def test_hand_invite_accept_speak_then_back_to_audience(room: Room) -> None:
    mod = room.moderator
    assert mod is not None
    listener = await room.add("Lou", source=PcmSource(speech_like(30.0, seed=3)))
    sent: list[bytes] = []
    listener.on_packet_sent.append(sent.append)
    audience = await room.add("Aud", listen_only=True)
    listener.perform(Action("hand"))
    with trio.fail_after(HANG_GUARD):
        await mod.wait_until(
            lambda: [m.name for m in mod.view.members.values() if m.hand_raised] == ["Lou"]
        )
    mod.perform(Action("invite", target="Lou"))
    with trio.fail_after(HANG_GUARD):
        await listener.wait_until(lambda: listener.view.invited_to_speak)
    assert listener.frames_from("Lou") == 0 and audience.frames_from("Lou") == 0
    listener.perform(Action("accept"))
    with trio.fail_after(HANG_GUARD):
        await audience.wait_until(lambda: audience.frames_from("Lou") >= 25)
    mod.perform(Action("audience", target="Lou"))
    with trio.fail_after(HANG_GUARD):
        await audience.wait_until(lambda: audience.view.find("Lou").role == "listener")  # type: ignore[union-attr]
    # From the commit that made Lou a listener on, nothing from Lou is played:
    # frames still in flight are refused by role (checked below with a ghost).
    heard = audience.frames_from("Lou")
    handle = audience.view.find("Lou").handle  # type: ignore[union-attr]
    assert handle not in audience.receiver.speakers  # nothing buffered is played

    # Ghosting (DESIGN T1-T3): Lou's client ignores the demotion and keeps
    # sending frames correctly encrypted under the current epoch's keys.
    # Receivers enforce the roster: none of them is played.
    ghost = listener.room
    rejected = audience.room.counters["audio_rejected_role"]
    epoch = ghost.epoch
    sender = FrameSender(
        SenderKey(epoch, epoch, keys.sender_base(ghost._keys.epoch_keys[epoch], ghost.me)),
        room_id=ghost.room_id,
        sender_id=ghost.me,
        next_counter=10_000,
    )
    packet = sent[-1]
    for _ in range(25):
        ghost._send(EnvelopeType.MEDIA, 0, sender.protect(packet))
    listener.session.pump()
    with trio.fail_after(HANG_GUARD):
        await until_envelope(
            audience, lambda: audience.room.counters["audio_rejected_role"] >= rejected + 25
        )
    assert audience.frames_from("Lou") == heard


async def test_kicked_member_decrypts_no_audio_afterwards(room: Room) -> None:
    """The removed client plays an attacker who keeps its link and every key it held.

    It ignores its own "you were removed" state and tries every MEDIA payload
    the relay still forwards to it with each epoch key it ever had, plus the
    key a non-re-key commit would have given it (the previous key hashed with
    the kick commit's public head).  Spec goal: a removed member can decrypt
    for at most about 1 s after a kick; here we allow 0.5 s of frames (the
    speakers' re-key grace) and expect the rest to fail.
    """
    mod = room.moderator
    assert mod is not None
    speaker = await room.add("Spk", source=PcmSource(speech_like(30.0, seed=4)), auto_accept=True)
    victim = await room.add("Vic", StubbornClient, listen_only=True)
    witness = await room.add("Wit", listen_only=True)
    await room.on_stage(speaker)
    with trio.fail_after(HANG_GUARD):
        await victim.wait_until(lambda: victim.frames_from("Spk") >= 10)
    tap = next(r for r in room.observer.links if r.label == "Vic")
    stolen: dict[int, bytes] = {}
    kick_epoch: list[int] = []

    def keep_keys(event: object) -> None:
        if isinstance(event, ev.Removed) and not kick_epoch:
            held = dict(victim.room._keys.epoch_keys)  # the attacker keeps what it had
            epoch, head = victim.room.epoch, victim.room.head
            stolen.update(held)
            if epoch - 1 in held and epoch not in held:
                stolen[epoch] = keys.next_epoch_key(held[epoch - 1], head)  # a guess
            kick_epoch.append(epoch)

    victim.on_room_event.append(keep_keys)
    bytes_at_kick = len(tap.from_relay)
    mod.perform(Action("kick", target="Vic"))
    with trio.fail_after(HANG_GUARD):
        await victim.wait_until(lambda: victim.removed)
    witness_at_kick = witness.frames_from("Spk")

    def media_after_kick() -> list[bytes]:
        after = EnvelopeDecoder().feed(bytes(tap.from_relay[bytes_at_kick:]))
        return [env.payload for env in after if env.type == EnvelopeType.MEDIA]

    with trio.fail_after(HANG_GUARD):  # the room goes on talking
        await witness.wait_until(lambda: witness.frames_from("Spk") >= witness_at_kick + 40)
        # ...and the relay still forwards its ciphertext to the removed client
        await until_envelope(victim, lambda: len(media_after_kick()) >= 40)
    media = media_after_kick()
    member = speaker.room.me

    def open_with_stolen_keys(payloads: list[bytes]) -> list[int]:
        opened = []
        for payload in payloads:
            if speaker_proof.is_speaker_proof(payload):
                continue
            for epoch, key in stolen.items():
                sender_key = SenderKey(epoch, epoch, keys.sender_base(key, member))
                receiver = FrameReceiver(room_id=victim.room.room_id, sender_id=member)
                receiver.add_key(sender_key, 0)
                try:  # the header is masked under the epoch's header key (spec §15.4.1)
                    receiver.unprotect(revealed(sender_key, payload), 0.0)
                except (DecryptionFailed, RemoteProtocolError):
                    continue
                opened.append(epoch)
                break
        return opened

    before = EnvelopeDecoder().feed(bytes(tap.from_relay[:bytes_at_kick]))
    control = open_with_stolen_keys([e.payload for e in before if e.type == EnvelopeType.MEDIA])
    assert len(control) >= 10  # the attacker's keys do open what was sent before the kick
    opened = open_with_stolen_keys(media)
    print(
        f"kick at epoch {kick_epoch}: {len(media)} frames forwarded after it, "
        f"{len(opened)} opened with stolen keys (epochs {sorted(set(opened))})"
    )
    assert len(opened) <= 25
    assert all(e < kick_epoch[0] for e in opened)  # nothing under the post-kick keys


async def test_relay_restart_every_client_reconnects_and_audio_resumes(room: Room) -> None:
    mod = room.moderator
    assert mod is not None
    speaker = await room.add("Spk", source=PcmSource(speech_like(60.0, seed=5)), auto_accept=True)
    listeners = [await room.add(f"L{i}", listen_only=True) for i in range(2)]
    await room.on_stage(speaker)
    with trio.fail_after(HANG_GUARD):
        for c in listeners:
            await c.wait_until(lambda c=c: c.frames_from("Spk") >= 10)
    before = {id(c): c.frames_from("Spk") for c in listeners}
    await room.relay.restart()
    restarted = trio.current_time()
    everyone = [mod, speaker, *listeners]
    try:
        with trio.fail_after(HANG_GUARD):
            for c in everyone:
                await c.wait_until(
                    lambda c=c: c.session.reconnects >= 1 and c.view.connection == "connected"
                )
            for c in listeners:
                await c.wait_until(lambda c=c: c.frames_from("Spk") >= before[id(c)] + 25)
    except trio.TooSlowError:
        state = [
            (
                c.config.name,
                c.session.reconnects,
                c.view.connection,
                c.frames_from("Spk"),
                dict(c.room.counters),
                c.room.state,
                c.room.slot,
            )
            for c in everyone
        ]
        raise AssertionError(f"not resumed within 5 s: {state}, before {before}") from None
    print(f"all reconnected and audio resumed {trio.current_time() - restarted:.3f} s after")


async def test_welcome_bot_greets_each_member_brought_on_stage(room: Room) -> None:
    mod = room.moderator
    assert mod is not None
    ear = await room.add("Ear", listen_only=True)
    bot_config = ClientConfig(
        room.invite,
        IdentityKey.generate(secrets.token_bytes),
        "Greeter",
        auto_accept=True,
        raise_hand=True,
    )
    bot_client = RoomClient(bot_config)
    bot = WelcomeBot(bot_client, "Welcome, {name}!")
    await room.nursery.start(bot_client.run)
    with trio.fail_after(HANG_GUARD):  # the bot asks to speak by raising its hand
        await mod.wait_until(
            lambda: bool(mod.view.find("Greeter") and mod.view.find("Greeter").hand_raised)
        )  # type: ignore[union-attr]
    mod.perform(Action("invite", target="Greeter"))
    with trio.fail_after(HANG_GUARD):
        await bot_client.wait_until(lambda: bot_client.view.me().on_stage)  # type: ignore[union-attr]
    assert bot.greeted == []  # nobody new on stage yet (the moderator was already there)
    assert ear.frames_from("Greeter") == 0
    newbie = await room.add("Newbie", auto_accept=True)
    await room.on_stage(newbie)
    with trio.fail_after(HANG_GUARD):
        await ear.wait_until(lambda: ear.frames_from("Greeter") >= 20)
    assert bot.greeted == ["Newbie"]


async def test_knock_policy_approve_deny_and_known_identity_readmitted() -> None:
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            relay = await start_relay(nursery)
            founder = IdentityKey.generate(secrets.token_bytes)
            invite = new_invite(relay.host, relay.port, relay.pin_text, founder)
            mod = RoomClient(ClientConfig(invite, founder, "Mod", create=True, policy="knock"))
            await nursery.start(mod.run)
            knocker_id = IdentityKey.generate(secrets.token_bytes)

            async def knocking_client(
                identity: IdentityKey, name: str
            ) -> tuple[RoomClient, trio.CancelScope]:
                client = RoomClient(ClientConfig(invite, identity, name))
                scope = trio.CancelScope()

                async def run(
                    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
                ) -> None:
                    with scope:
                        await client.run(task_status=task_status)

                await nursery.start(run)
                return client, scope

            kim, kim_scope = await knocking_client(knocker_id, "Kim")
            await mod.wait_until(lambda: [k.name for k in mod.view.knocks] == ["Kim"])
            assert kim.view.me() is None  # waiting at the door
            mod.perform(Action("approve"))
            await kim.wait_until(lambda: kim.view.me() is not None)
            dan, _ = await knocking_client(IdentityKey.generate(secrets.token_bytes), "Dan")
            await mod.wait_until(lambda: [k.name for k in mod.view.knocks] == ["Dan"])
            mod.perform(Action("deny", target="Dan"))
            await dan.wait_until(lambda: dan.removed)
            assert dan.view.me() is None
            # Kim's device crashes and comes back with the same identity: in again, no knock.
            kim_scope.cancel()
            kim2, _ = await knocking_client(knocker_id, "Kim")
            await kim2.wait_until(lambda: kim2.view.me() is not None)
            assert mod.view.knocks == []
            nursery.cancel_scope.cancel()


async def test_listen_only_declines_an_invitation_to_speak(room: Room) -> None:
    mod = room.moderator
    assert mod is not None
    lines: list[str] = []
    quiet = await room.add("Quiet", listen_only=True, source=PcmSource(speech_like(5.0, seed=6)))
    quiet._log = lines.append
    mod.perform(Action("invite", target="Quiet"))
    with trio.fail_after(HANG_GUARD):
        await quiet.wait_until(lambda: any(isinstance(e, ev.InvitedToSpeak) for e in quiet.events))
        # The moderator sees the invitation declined: Quiet stays in the audience.
        await mod.wait_until(lambda: quiet.room.me not in mod.room.roster.invited)  # type: ignore[union-attr]
    assert "invited to speak; declining (--listen-only)" in lines
    assert quiet.view.find("Quiet").role == "listener"  # type: ignore[union-attr]
    assert not quiet.view.invited_to_speak
    quiet.perform(Action("accept"))  # typed anyway: refused with one line
    assert lines[-1].startswith("--listen-only: this client does not speak")


async def test_plain_mode_prompts_with_commands_and_answers_help_and_who(room: Room) -> None:
    mod = room.moderator
    assert mod is not None
    eve = await room.add("Eve")
    PlainConsole(eve.view)  # what `--plain` does: commands are typed lines
    lines: list[str] = []
    eve._log = lines.append
    mod.perform(Action("invite", target="Eve"))
    with trio.fail_after(HANG_GUARD):
        await eve.wait_until(lambda: eve.view.invited_to_speak)
    assert "you are invited to speak: 'accept' to accept, 'decline' to decline" in lines
    for line in ("help", "who"):
        action = parse_line(line)
        assert action is not None
        eve.perform(action)
    assert lines[-2] == LINE_HELP
    assert lines[-1] == "stage: Mod (moderator); audience: Eve (you)"
