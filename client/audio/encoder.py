"""Opus encoder for room speech: libopus with settings that change at run time.

aiortc's ``OpusEncoder`` has fixed settings (stereo, 96 kbps nominal) that are
wrong for a room, so this module drives libopus itself: 48 kHz mono, 20 ms
frames, ``application=voip``, constant bit rate, and in-band FEC off by default
(on the TLS link no packet is ever lost, and FEC bits are taken from the
speech: docs/network.md has the measurements).

Two back ends, chosen by :class:`OpusFrameEncoder`:

* ``libopus`` — the libopus that PyAV's wheel bundles (the decoder's, see
  :mod:`client.audio._libopus`) through ctypes.  ``opus_encoder_ctl`` changes
  FEC and the expected loss in place, between two frames
  (:meth:`OpusFrameEncoder.set_expected_loss`), which a datagram path needs to
  follow the loss its receivers report.
* ``pyav`` — PyAV's ``libopus`` encoder, when that library cannot be loaded.
  FFmpeg's wrapper (PyAV 18 / libavcodec 62) exposes the private options
  ``application``, ``frame_duration``, ``packet_loss``, ``fec``, ``vbr``,
  ``mapping_family`` and ``apply_phase_inv``, none of them changeable once
  the encoder is open: new settings open a fresh encoder, which starts
  without the old one's state (a discontinuity at that frame).

Neither uses libopus DTX (FFmpeg exposes none, and its 1–2 byte silence
packets would break the constant packet size).  DTX is done one level up by
:class:`SilenceGate`: while the input stays below a threshold (after a short
hang-over) :meth:`OpusFrameEncoder.encode` returns ``None`` and the session
sends nothing.  The encoder still sees every frame, so its state stays
continuous when speech resumes.
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Literal, Protocol

import av
import numpy as np

from client.audio._libopus import load_libopus
from client.audio.errors import CodecError
from client.audio.format import FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE, Frame, level_dbfs

Application = Literal["voip", "audio", "lowdelay"]
VbrMode = Literal["on", "off", "constrained"]
EncoderBackend = Literal["auto", "libopus", "pyav"]

DEFAULT_BITRATE = 38_000
"""Chosen by measurement (``hushroom bench codec``, docs/network.md).  On
espeak-ng speech with FEC off, wideband PESQ rises with the bit rate (3.4 at
24 kbit/s, 3.9 at 32, 4.1 at 38, 4.3 at 48); what a frame costs on the wire is
its padding bucket (spec §11.4), and a 95-byte packet (38 kbit/s) is the
largest that fits the 96-byte bucket, the same one 28–32 kbit/s already fill.
Constant bit rate keeps every packet at 95 bytes."""

MAX_PACKET_BYTES = 1276
"""The largest one-frame Opus packet, a TOC byte and 1,275 bytes of frame
(RFC 6716 §3.2.1, §3.4 R1); the output buffer's size."""

_APPLICATIONS: dict[str, int] = {"voip": 2048, "audio": 2049, "lowdelay": 2051}
# opus_defines.h request codes
_SET_BITRATE = 4002
_SET_VBR = 4006
_SET_COMPLEXITY = 4010
_SET_INBAND_FEC = 4012
_GET_INBAND_FEC = 4013
_SET_PACKET_LOSS_PERC = 4014
_GET_PACKET_LOSS_PERC = 4015
_SET_VBR_CONSTRAINT = 4020
COMPLEXITY = 10
"""libopus complexity 0–10; 10 is also FFmpeg's default for the PyAV back end."""


@dataclass(frozen=True)
class OpusEncoderConfig:
    """Encoder settings; the defaults are the room's defaults on the TLS link."""

    bitrate: int = DEFAULT_BITRATE
    """Target bit rate in bit/s (6,000–510,000; rooms use 24,000–38,000)."""
    fec: bool = False
    """In-band forward error correction (LBRR): the next packet can rebuild a lost
    one.  Off by default: a reliable link never loses a packet, and libopus
    narrows the audio to pay for the redundancy."""
    expected_loss_percent: int = 0
    """Expected packet loss told to libopus; FEC needs it non-zero."""
    dtx: bool = False
    """Send nothing while the input is silent (see :class:`SilenceGate`)."""
    dtx_threshold_dbfs: float = -55.0
    """Frames quieter than this (RMS) count as silence for DTX."""
    dtx_hangover_frames: int = 10
    """Keep sending this many silent frames after speech before going quiet."""
    application: Application = "voip"
    vbr: VbrMode = "off"
    """Constant bit rate by default: every packet has the same size (95 bytes at
    38 kbps), so packet sizes reveal nothing about what is said.  VBR ("on")
    saves about 30% on speech with pauses, but its sizes follow the phonemes
    and have been used to spot spoken phrases in encrypted calls (RFC 6562).
    "on" is unconstrained VBR, "constrained" keeps each packet near the target
    (both back ends map them as FFmpeg does, byte for byte)."""

    def __post_init__(self) -> None:
        if not 6_000 <= self.bitrate <= 510_000:
            raise CodecError(f"Opus bit rate {self.bitrate} is outside 6000-510000 bit/s")
        if not 0 <= self.expected_loss_percent <= 100:
            raise CodecError("expected packet loss must be a percentage (0-100)")
        if self.dtx_hangover_frames < 0:
            raise CodecError("DTX hang-over must not be negative")

    def with_expected_loss(self, percent: int) -> OpusEncoderConfig:
        """These settings tuned for ``percent`` loss: FEC on when it is above 0, else off."""
        return replace(self, fec=percent > 0, expected_loss_percent=percent)

    def libopus_loss(self) -> int:
        """The expected loss to give libopus (at least 1 with FEC: it spends nothing on 0)."""
        if self.fec and self.expected_loss_percent == 0:
            return 1
        return self.expected_loss_percent

    def libopus_options(self) -> dict[str, str]:
        """The PyAV/FFmpeg ``libopus`` private options for this configuration."""
        return {
            "application": self.application,
            "frame_duration": str(FRAME_MS),
            "packet_loss": str(self.libopus_loss()),
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


class _Backend(Protocol):
    def encode(self, pcm: Frame) -> bytes: ...

    def apply_loss(self, config: OpusEncoderConfig) -> None: ...


@functools.cache
def encoder_functions(lib: ctypes.CDLL) -> ctypes.CDLL:
    """``lib`` with the encoder prototypes set (the variadic ctl takes its fixed two)."""
    lib.opus_encoder_create.argtypes = [
        ctypes.c_int32,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int),
    ]
    lib.opus_encoder_create.restype = ctypes.c_void_p
    lib.opus_encode.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_int16),
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int32,
    ]
    lib.opus_encode.restype = ctypes.c_int32
    lib.opus_encoder_ctl.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.opus_encoder_ctl.restype = ctypes.c_int
    lib.opus_encoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_encoder_destroy.restype = None
    return lib


class _LibopusBackend:
    """libopus through ctypes; settings change in place (see module docstring)."""

    def __init__(self, lib: ctypes.CDLL, config: OpusEncoderConfig) -> None:
        self._lib = encoder_functions(lib)
        err = ctypes.c_int(0)
        state = self._lib.opus_encoder_create(
            SAMPLE_RATE, 1, _APPLICATIONS[config.application], ctypes.byref(err)
        )
        if err.value != 0 or not state:
            raise CodecError(f"opus_encoder_create failed (error {err.value})")
        self._state: int | None = state
        self._out = ctypes.create_string_buffer(MAX_PACKET_BYTES)
        self._set(_SET_BITRATE, config.bitrate)
        self._set(_SET_COMPLEXITY, COMPLEXITY)
        self._set(_SET_VBR, 0 if config.vbr == "off" else 1)
        self._set(_SET_VBR_CONSTRAINT, 1 if config.vbr == "constrained" else 0)  # as FFmpeg
        self.apply_loss(config)

    def _set(self, request: int, value: int) -> None:
        if self._state is None:
            raise CodecError("the Opus encoder is closed")
        status = self._lib.opus_encoder_ctl(self._state, request, ctypes.c_int(value))
        if status != 0:
            raise CodecError(f"libopus refused encoder setting {request}={value} ({status})")

    def _get(self, request: int) -> int:
        if self._state is None:
            raise CodecError("the Opus encoder is closed")
        value = ctypes.c_int(-1)
        status = self._lib.opus_encoder_ctl(self._state, request, ctypes.byref(value))
        if status != 0:
            raise CodecError(f"libopus refused encoder request {request} ({status})")
        return value.value

    def apply_loss(self, config: OpusEncoderConfig) -> None:
        """Set FEC and expected loss, then read both back: a setting that did not take raises."""
        fec, loss = (1 if config.fec else 0), config.libopus_loss()
        self._set(_SET_INBAND_FEC, fec)
        self._set(_SET_PACKET_LOSS_PERC, loss)
        if (self._get(_GET_INBAND_FEC), self._get(_GET_PACKET_LOSS_PERC)) != (fec, loss):
            raise CodecError("libopus did not take the FEC settings")

    def encode(self, pcm: Frame) -> bytes:
        if self._state is None:
            raise CodecError("the Opus encoder is closed")
        samples = pcm.ctypes.data_as(ctypes.POINTER(ctypes.c_int16))
        n = self._lib.opus_encode(self._state, samples, FRAME_SAMPLES, self._out, MAX_PACKET_BYTES)
        if n < 0:
            raise CodecError(f"opus_encode failed (error {n})")
        return ctypes.string_at(self._out, n)

    def close(self) -> None:
        state = getattr(self, "_state", None)
        if state is not None:
            self._state = None
            self._lib.opus_encoder_destroy(state)

    def __del__(self) -> None:
        self.close()


class _PyAVBackend:
    """PyAV's libopus encoder; new settings open a fresh one (see module docstring)."""

    def __init__(self, config: OpusEncoderConfig) -> None:
        self._ctx = self._open(config)
        self._pts = 0

    @staticmethod
    def _open(config: OpusEncoderConfig) -> av.AudioCodecContext:
        ctx = av.CodecContext.create("libopus", "w")
        assert isinstance(ctx, av.AudioCodecContext)
        ctx.sample_rate = SAMPLE_RATE
        ctx.layout = "mono"
        ctx.format = "s16"
        ctx.bit_rate = config.bitrate
        ctx.time_base = Fraction(1, SAMPLE_RATE)
        ctx.options = config.libopus_options()
        try:
            ctx.open()
        except av.FFmpegError as exc:
            raise CodecError(f"libopus refused the encoder settings: {exc}") from None
        unused = dict(ctx.options)
        if unused:  # FFmpeg hands back the options it did not recognise
            raise CodecError(f"this libopus build ignores options: {sorted(unused)}")
        if ctx.frame_size != FRAME_SAMPLES:
            raise CodecError(f"libopus chose {ctx.frame_size}-sample frames, not {FRAME_SAMPLES}")
        return ctx

    def apply_loss(self, config: OpusEncoderConfig) -> None:
        self._ctx = self._open(config)

    def encode(self, pcm: Frame) -> bytes:
        av_frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        av_frame.sample_rate = SAMPLE_RATE
        av_frame.pts = self._pts
        av_frame.time_base = Fraction(1, SAMPLE_RATE)
        self._pts += FRAME_SAMPLES
        packets = self._ctx.encode(av_frame)
        if len(packets) != 1:
            raise CodecError(f"libopus returned {len(packets)} packets for one frame")
        return bytes(packets[0])


class OpusFrameEncoder:
    """Encodes 20 ms mono frames into Opus packets, one packet per frame.

    >>> enc = OpusFrameEncoder()
    >>> packet = enc.encode(frame)   # bytes, or None when DTX suppressed it
    >>> enc.set_expected_loss(5)     # FEC on, tuned for 5 % loss, from the next frame
    """

    def __init__(
        self, config: OpusEncoderConfig | None = None, backend: EncoderBackend = "auto"
    ) -> None:
        self.config = config or OpusEncoderConfig()
        lib = load_libopus() if backend != "pyav" else None
        if backend == "libopus" and lib is None:
            raise CodecError("libopus is not loadable; use the PyAV encoder")
        self._backend: _Backend = (
            _LibopusBackend(lib, self.config) if lib is not None else _PyAVBackend(self.config)
        )
        self.backend: EncoderBackend = "libopus" if lib is not None else "pyav"
        self._gate = (
            SilenceGate(self.config.dtx_threshold_dbfs, self.config.dtx_hangover_frames)
            if self.config.dtx
            else None
        )

    def set_expected_loss(self, percent: int) -> None:
        """Tune FEC for ``percent`` packet loss from the next frame on; 0 turns FEC off.

        The datagram path drives this from the loss its receivers report; the
        TLS link never loses a packet and keeps the default (0).
        """
        if isinstance(percent, bool) or not isinstance(percent, int) or not 0 <= percent <= 100:
            raise CodecError("expected packet loss must be a percentage (0-100)")
        config = self.config.with_expected_loss(percent)
        if config != self.config:
            self._backend.apply_loss(config)
            self.config = config

    def encode(self, frame: Frame) -> bytes | None:
        """Encode one frame; ``None`` means "send nothing" (DTX silence)."""
        pcm = np.ascontiguousarray(frame, dtype=np.int16)
        if pcm.shape != (FRAME_SAMPLES,):
            raise CodecError(f"an audio frame must hold {FRAME_SAMPLES} samples, got {pcm.size}")
        data = self._backend.encode(pcm)
        if self._gate is not None and not self._gate.should_send(pcm):
            return None
        return data
