"""One remote speaker's receive path: jitter buffer -> Opus decoder (PLC/FEC) -> level."""

from __future__ import annotations

from dataclasses import dataclass

from client.audio.decoder import DecoderBackend, FrameDecoder, open_decoder
from client.audio.format import Frame, level_dbfs
from client.audio.jitter import JitterBuffer, JitterConfig, PushResult


@dataclass
class DecodeStats:
    decoded: int = 0
    concealed: int = 0
    fec_recovered: int = 0


class SpeakerStream:
    """Turns one speaker's packets into one frame per tick (or ``None`` when idle)."""

    def __init__(
        self, jitter: JitterConfig | None = None, decoder_backend: DecoderBackend = "auto"
    ) -> None:
        self.jitter = JitterBuffer(jitter)
        self._backend = decoder_backend
        self.decoder: FrameDecoder = open_decoder(decoder_backend)
        self.stats = DecodeStats()
        self.level_dbfs = -120.0
        """Smoothed level of what this speaker played (fast attack, slow decay)."""
        self.last_active: float | None = None
        """Time of the last tick that played audio (not idle)."""

    def push(self, seq: int, payload: bytes, now: float, proof_batch: int = 0) -> PushResult:
        return self.jitter.push(seq, payload, now, proof_batch)

    def reset(self) -> None:
        """The speaker's stream restarted: clear the buffer and start a fresh decoder."""
        self.jitter.reset()
        self.decoder = open_decoder(self._backend)

    def next_frame(self, now: float) -> Frame | None:
        """The frame for the tick at ``now``; ``None`` when the speaker is idle."""
        step = self.jitter.pop(now)
        if step.kind == "idle":
            self.level_dbfs = max(-120.0, self.level_dbfs - 3.0)
            return None
        if step.kind == "packet":
            assert step.payload is not None
            frame = self.decoder.decode(step.payload)
            self.stats.decoded += 1
        elif step.next_payload is not None and self.decoder.has_fec(step.next_payload):
            frame = self.decoder.recover(step.next_payload)
            self.stats.fec_recovered += 1
        else:
            frame = self.decoder.conceal()
            self.stats.concealed += 1
        level = level_dbfs(frame)
        self.level_dbfs = level if level > self.level_dbfs else max(level, self.level_dbfs - 3.0)
        self.last_active = now
        return frame
