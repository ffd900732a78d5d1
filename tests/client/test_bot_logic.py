"""The welcome bot's logic: who gets greeted, and the greeting queue's audio."""

from __future__ import annotations

from typing import Any

import numpy as np

from client.audio.sources import FrameSource, PcmSource
from client.bot import GreetingQueue, WelcomeBot, chime
from client.view import MemberView, RoomView


class StubClient:
    """Just what WelcomeBot touches on a RoomClient."""

    def __init__(self) -> None:
        self.view = RoomView()
        self.logged: list[str] = []
        self.on_room_event: list[Any] = []
        self.source: FrameSource | None = None

    def log(self, line: str) -> None:
        self.logged.append(line)

    def speak(self, source: FrameSource, *, stop_at_end: bool = True) -> None:
        assert stop_at_end is False  # the queue is idle between greetings, not finished
        self.source = source

    def roster(self, *members: tuple[str, str, str]) -> None:
        me = [MemberView("bot", "Greeter", "listener", is_me=True)]
        self.view.set_members(me + [MemberView(h, n, r) for h, n, r in members])
        for hook in self.on_room_event:
            hook(None)


def test_greets_only_newcomers_to_the_stage_once_each() -> None:
    client = StubClient()
    bot = WelcomeBot(client, "Welcome, {name}!")  # type: ignore[arg-type]
    client.roster(("m", "Mod", "moderator"), ("a", "Ann", "listener"))
    assert bot.greeted == []  # already on stage when the bot arrived
    client.roster(("m", "Mod", "moderator"), ("a", "Ann", "speaker"))
    assert bot.greeted == ["Ann"]
    client.roster(("m", "Mod", "moderator"), ("a", "Ann", "speaker"), ("b", "Bo", "listener"))
    assert bot.greeted == ["Ann"]
    client.roster(("m", "Mod", "moderator"), ("a", "Ann", "listener"), ("b", "Bo", "speaker"))
    assert bot.greeted == ["Ann", "Bo"]
    client.roster(("m", "Mod", "moderator"), ("a", "Ann", "speaker"), ("b", "Bo", "speaker"))
    assert bot.greeted == ["Ann", "Bo", "Ann"]  # back on stage after leaving it: greeted again
    assert len(bot.queue.pending) == 3


def test_greeting_queue_plays_each_source_then_idles() -> None:
    queue = GreetingQueue()
    assert queue.read() is None
    queue.add(PcmSource(np.ones(960 * 2, dtype=np.int16)))
    queue.add(PcmSource(np.full(960, 2, dtype=np.int16)))
    frames = [queue.read() for _ in range(4)]
    assert [None if f is None else int(f[0]) for f in frames] == [1, 1, 2, None]
    assert queue.played == 2


def test_chime_is_short_and_audible() -> None:
    pcm = np.concatenate(list(chime()))
    assert 0.4 <= pcm.size / 48_000 <= 0.6
    assert np.abs(pcm).max() > 3000
