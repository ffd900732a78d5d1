"""``hushroom bot welcome``: greet, by name, each member brought on stage.

The bot is an ordinary member (its own identity, its own home directory): it
joins the audience and raises its hand; a moderator invites it once and it
accepts by itself (``auto_accept``).  It then watches the roster it decrypts
like everyone else: each member who newly appears on the stage (a speaker or
moderator that was not there before, other than the bot) gets the greeting,
spoken with espeak-ng when installed, else a short two-note chime.  Members
already on stage when the bot arrives are not greeted; greetings wait in a
queue while the bot is not (yet) allowed to speak.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np

from client.audio.errors import SpeechSynthesisError
from client.audio.format import Frame
from client.audio.sources import FrameSource, PcmSource, espeak_binary, speech_source
from client.audio.synth import tone

if TYPE_CHECKING:
    from client.room_client import RoomClient


def chime() -> PcmSource:
    """A short two-note chime (0.5 s) for when espeak-ng is not installed."""
    notes = [tone(880.0, 0.18, 0.25), tone(1318.5, 0.32, 0.25)]
    pcm = np.concatenate(notes).astype(np.float64)
    fade = np.minimum(1.0, np.linspace(0.0, 40.0, pcm.size)) * np.minimum(
        1.0, np.linspace(40.0, 0.0, pcm.size)
    )
    return PcmSource(np.round(pcm * fade).astype(np.int16))


def greeting_source(message: str, name: str) -> FrameSource:
    """The greeting for ``name``: speech if espeak-ng works, else the chime."""
    text = message.replace("{name}", name)
    if espeak_binary() is not None:
        try:
            return speech_source(text)
        except SpeechSynthesisError:
            pass
    return chime()


class GreetingQueue:
    """A frame source that plays queued greetings one after another, then nothing."""

    def __init__(self) -> None:
        self.pending: deque[FrameSource] = deque()
        self.current: FrameSource | None = None
        self.played = 0

    def add(self, source: FrameSource) -> None:
        self.pending.append(source)

    def read(self) -> Frame | None:
        while True:
            if self.current is None:
                if not self.pending:
                    return None
                self.current = self.pending.popleft()
            frame = self.current.read()
            if frame is not None:
                return frame
            self.current.close()
            self.current = None
            self.played += 1

    def close(self) -> None:
        for source in self.pending:
            source.close()
        self.pending.clear()


class WelcomeBot:
    """Watches a :class:`RoomClient`'s roster and greets newcomers to the stage."""

    def __init__(self, client: RoomClient, message: str) -> None:
        self.client = client
        self.message = message
        self.queue = GreetingQueue()
        self.greeted: list[str] = []
        self._seen_on_stage: set[str] | None = None
        client.on_room_event.append(lambda _event: self.check_stage())
        client.speak(self.queue, stop_at_end=False)

    def check_stage(self) -> None:
        me = self.client.view.me()
        if me is None:
            return
        stage = {m.handle: m.name for m in self.client.view.stage() if not m.is_me}
        if self._seen_on_stage is None:
            self._seen_on_stage = set(stage)  # already there when we arrived: no greeting
            return
        for handle, name in stage.items():
            if handle not in self._seen_on_stage:
                self._seen_on_stage.add(handle)
                self.greeted.append(name)
                self.client.log(f"welcoming {name} to the stage")
                self.queue.add(greeting_source(self.message, name))
        # someone who leaves the stage and comes back is greeted again
        self._seen_on_stage &= set(stage)
