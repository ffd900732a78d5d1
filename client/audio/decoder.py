"""Opus decoding with packet-loss concealment and in-band FEC recovery.

Two interchangeable back ends, chosen by :func:`open_decoder`:

* :class:`LibopusDecoder` — libopus (the copy bundled in PyAV's wheel) through
  ctypes: normal decode, Opus PLC (``opus_decode(NULL)``) and FEC recovery of a
  lost frame from the LBRR data in the *next* packet (``decode_fec=1``).
* :class:`PyAVDecoder` — PyAV's ``libopus`` decoder.  The FFmpeg API cannot
  request FEC, but it can still run Opus PLC: a one-byte packet (a TOC byte
  with no frame data, as Opus DTX sends) makes libopus conceal one frame.  Its
  :meth:`~PyAVDecoder.recover` therefore conceals instead of using FEC.

aiortc's ``OpusDecoder`` is a stereo PyAV decoder without concealment, so it is
not used.  All methods return one 20 ms mono int16 frame.
"""

from __future__ import annotations

import ctypes
from fractions import Fraction
from typing import Literal, Protocol

import av
import numpy as np

from client.audio._libopus import load_libopus
from client.audio.errors import CodecError
from client.audio.format import FRAME_SAMPLES, SAMPLE_RATE, Frame, silence


class FrameDecoder(Protocol):
    """What the receive side needs from an Opus decoder."""

    fec_available: bool

    def decode(self, packet: bytes) -> Frame:
        """Decode one received packet."""
        ...

    def conceal(self) -> Frame:
        """Opus PLC for one lost frame (silence before the first packet)."""
        ...

    def has_fec(self, packet: bytes) -> bool:
        """Whether this decoder can rebuild the previous frame from ``packet``."""
        ...

    def recover(self, next_packet: bytes) -> Frame:
        """Rebuild the lost frame from ``next_packet``'s FEC data (PLC if it has none)."""
        ...


class LibopusDecoder:
    """libopus via ctypes: decode, PLC and FEC (see module docstring)."""

    fec_available = True

    def __init__(self) -> None:
        lib = load_libopus()
        if lib is None:
            raise CodecError("libopus is not loadable; use the PyAV decoder")
        self._lib = lib
        err = ctypes.c_int(0)
        state = lib.opus_decoder_create(SAMPLE_RATE, 1, ctypes.byref(err))
        if err.value != 0 or not state:
            raise CodecError(f"opus_decoder_create failed (error {err.value})")
        self._state: int | None = state
        self._pcm = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self._out = self._pcm.ctypes.data_as(ctypes.POINTER(ctypes.c_int16))
        self._started = False

    def _run(self, data: bytes | None, fec: int) -> Frame:
        if self._state is None:
            raise CodecError("the Opus decoder is closed")
        length = 0 if data is None else len(data)
        n = self._lib.opus_decode(self._state, data, length, self._out, FRAME_SAMPLES, fec)
        if n < 0:
            if data is not None and fec == 0:
                # A corrupt packet: conceal rather than break the stream.
                return self._run(None, 0)
            return silence()
        frame = self._pcm.copy()
        if n < FRAME_SAMPLES:
            frame[n:] = 0
        return frame

    def decode(self, packet: bytes) -> Frame:
        self._started = True
        return self._run(packet, 0)

    def conceal(self) -> Frame:
        if not self._started:
            return silence()
        return self._run(None, 0)

    def has_fec(self, packet: bytes) -> bool:
        """Whether ``packet`` carries LBRR data for the frame before it."""
        has_lbrr = getattr(self._lib, "opus_packet_has_lbrr", None)
        if has_lbrr is None:
            return True  # older libopus: just try; libopus falls back to PLC
        return bool(has_lbrr(packet, len(packet)) == 1)

    def recover(self, next_packet: bytes) -> Frame:
        if not self._started:
            return silence()
        if not self.has_fec(next_packet):
            return self._run(None, 0)
        return self._run(next_packet, 1)

    def close(self) -> None:
        """Free the libopus decoder state (also done when garbage-collected)."""
        state = getattr(self, "_state", None)
        if state is not None:
            self._state = None
            self._lib.opus_decoder_destroy(state)

    def __del__(self) -> None:
        self.close()


class PyAVDecoder:
    """PyAV's libopus decoder: decode and PLC, no FEC (see module docstring)."""

    fec_available = False

    def __init__(self) -> None:
        ctx = av.CodecContext.create("libopus", "r")
        assert isinstance(ctx, av.AudioCodecContext)
        ctx.sample_rate = SAMPLE_RATE
        ctx.layout = "mono"
        ctx.format = "s16"
        self._ctx = ctx
        self._toc: int | None = None
        self._pts = 0

    def _decode(self, data: bytes) -> Frame | None:
        packet = av.Packet(data)
        packet.pts = self._pts
        packet.time_base = Fraction(1, SAMPLE_RATE)
        self._pts += FRAME_SAMPLES
        try:
            frames = self._ctx.decode(packet)
        except av.FFmpegError:
            return None
        if not frames:
            return None
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.int16)
        out = silence()
        out[: min(pcm.size, FRAME_SAMPLES)] = pcm[:FRAME_SAMPLES]
        return out

    def decode(self, packet: bytes) -> Frame:
        if not packet:
            return self.conceal()
        frame = self._decode(packet)
        if frame is None:
            return self.conceal()
        self._toc = packet[0] & 0xFC  # code 0: one frame
        return frame

    def conceal(self) -> Frame:
        if self._toc is None:
            return silence()
        frame = self._decode(bytes([self._toc]))
        return silence() if frame is None else frame

    def has_fec(self, packet: bytes) -> bool:
        return False

    def recover(self, next_packet: bytes) -> Frame:
        return self.conceal()


DecoderBackend = Literal["auto", "libopus", "pyav"]


def open_decoder(backend: DecoderBackend = "auto") -> FrameDecoder:
    """A decoder: libopus via ctypes (with FEC) when loadable, else PyAV (PLC only)."""
    if backend == "pyav":
        return PyAVDecoder()
    if backend == "libopus" or load_libopus() is not None:
        return LibopusDecoder()
    return PyAVDecoder()


def fec_supported() -> bool:
    """Whether :func:`open_decoder` will give a decoder that can use FEC."""
    return load_libopus() is not None
