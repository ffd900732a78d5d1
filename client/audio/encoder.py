"""Opus encoder for room speech: libopus configured through PyAV.

aiortc's ``OpusEncoder`` is built on the same PyAV libopus codec but with fixed
settings (stereo, 96 kbps nominal) that are wrong for a room, so this module
opens PyAV's ``libopus`` encoder itself: 48 kHz mono, 20 ms frames,
``application=voip``, 24 kbps constant bit rate by default, in-band FEC with an expected
packet-loss percentage.

FFmpeg's libopus wrapper (PyAV 18 / libavcodec 62) exposes the private options
``application``, ``frame_duration``, ``packet_loss``, ``fec``, ``vbr``,
``mapping_family`` and ``apply_phase_inv`` — but no ``dtx``.  DTX is therefore
done one level up by :class:`SilenceGate`: while the input stays below a
threshold (after a short hang-over) :meth:`OpusFrameEncoder.encode` returns
``None`` and the session sends nothing.  The encoder still sees every frame, so
its state stays continuous when speech resumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import av
import numpy as np

from client.audio.errors import CodecError
from client.audio.format import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE, Frame, level_dbfs

Application = Literal["voip", "audio", "lowdelay"]
VbrMode = Literal["on", "off", "constrained"]


@dataclass(frozen=True)
class OpusEncoderConfig:
    """Encoder settings; the defaults are the room's defaults."""

    bitrate: int = 24_000
    """Target bit rate in bit/s (6,000–510,000; rooms use 24,000–32,000)."""
    fec: bool = True
    """In-band forward error correction (LBRR): the next packet can rebuild a lost one."""
    expected_loss_percent: int = 10
    """Expected packet loss told to libopus; FEC needs it non-zero."""
    dtx: bool = False
    """Send nothing while the input is silent (see :class:`SilenceGate`)."""
    dtx_threshold_dbfs: float = -55.0
    """Frames quieter than this (RMS) count as silence for DTX."""
    dtx_hangover_frames: int = 10
    """Keep sending this many silent frames after speech before going quiet."""
    application: Application = "voip"
    vbr: VbrMode = "off"
    """Constant bit rate by default: every packet has the same size (60 bytes at
    24 kbps), so packet sizes reveal nothing about what is said.  VBR ("on")
    saves about 30% on speech with pauses, but its sizes follow the phonemes
    and have been used to spot spoken phrases in encrypted calls (RFC 6562).
    ("constrained" gave byte-identical packets to "on" with this FFmpeg.)"""

    def __post_init__(self) -> None:
        if not 6_000 <= self.bitrate <= 510_000:
            raise CodecError(f"Opus bit rate {self.bitrate} is outside 6000-510000 bit/s")
        if not 0 <= self.expected_loss_percent <= 100:
            raise CodecError("expected packet loss must be a percentage (0-100)")
        if self.dtx_hangover_frames < 0:
            raise CodecError("DTX hang-over must not be negative")

    def libopus_options(self) -> dict[str, str]:
        """The PyAV/FFmpeg ``libopus`` private options for this configuration."""
        loss = self.expected_loss_percent
        if self.fec and loss == 0:
            loss = 1  # libopus only spends bits on FEC when loss is expected
        return {
            "application": self.application,
            "frame_duration": str(FRAME_MS),
            "packet_loss": str(loss),
            "fec": "1" if self.fec else "0",
            "vbr": self.vbr,
        }


class SilenceGate:
    """Application-level DTX: decides which frames are worth sending.

    A frame is sent when its RMS level is at or above ``threshold_dbfs`` or when
    fewer than ``hangover_frames`` frames have passed since the last loud one.
    """

    def __init__(self, threshold_dbfs: float, hangover_frames: int) -> None:
        self.threshold_dbfs = threshold_dbfs
        self.hangover_frames = hangover_frames
        self._quiet_run = hangover_frames + 1  # start closed

    def should_send(self, frame: Frame) -> bool:
        if level_dbfs(frame) >= self.threshold_dbfs:
            self._quiet_run = 0
            return True
        self._quiet_run += 1
        return self._quiet_run <= self.hangover_frames


class OpusFrameEncoder:
    """Encodes 20 ms mono frames into Opus packets, one packet per frame.

    >>> enc = OpusFrameEncoder()
    >>> packet = enc.encode(frame)   # bytes, or None when DTX suppressed it
    """

    def __init__(self, config: OpusEncoderConfig | None = None) -> None:
        self.config = config or OpusEncoderConfig()
        ctx = av.CodecContext.create("libopus", "w")
        assert isinstance(ctx, av.AudioCodecContext)
        ctx.sample_rate = SAMPLE_RATE
        ctx.layout = "mono"
        ctx.format = "s16"
        ctx.bit_rate = self.config.bitrate
        ctx.time_base = Fraction(1, SAMPLE_RATE)
        ctx.options = self.config.libopus_options()
        try:
            ctx.open()
        except av.FFmpegError as exc:
            raise CodecError(f"libopus refused the encoder settings: {exc}") from None
        unused = dict(ctx.options)
        if unused:  # FFmpeg hands back the options it did not recognise
            raise CodecError(f"this libopus build ignores options: {sorted(unused)}")
        if ctx.frame_size != FRAME_SAMPLES:
            raise CodecError(f"libopus chose {ctx.frame_size}-sample frames, not {FRAME_SAMPLES}")
        self._ctx = ctx
        self._pts = 0
        self._gate = (
            SilenceGate(self.config.dtx_threshold_dbfs, self.config.dtx_hangover_frames)
            if self.config.dtx
            else None
        )

    def encode(self, frame: Frame) -> bytes | None:
        """Encode one frame; ``None`` means "send nothing" (DTX silence)."""
        pcm = np.ascontiguousarray(frame, dtype=np.int16)
        if pcm.shape != (FRAME_SAMPLES,):
            raise CodecError(f"an audio frame must hold {FRAME_SAMPLES} samples, got {pcm.size}")
        av_frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        av_frame.sample_rate = SAMPLE_RATE
        av_frame.pts = self._pts
        av_frame.time_base = Fraction(1, SAMPLE_RATE)
        self._pts += FRAME_SAMPLES
        packets = self._ctx.encode(av_frame)
        if len(packets) != 1:
            raise CodecError(f"libopus returned {len(packets)} packets for one frame")
        data = bytes(packets[0])
        if self._gate is not None and not self._gate.should_send(pcm):
            return None
        return data
