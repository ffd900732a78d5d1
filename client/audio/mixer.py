"""Mixes the current speakers into one frame, without wrapping or harsh clipping.

Frames are summed in floating point.  When the sum would exceed full scale, a
limiter scales the whole frame down to fit (instant attack) and then lets the
gain recover towards 1.0 over about half a second (release), so two loud
speakers get quieter together instead of distorting; a final hard clip guards
the int16 range.

:meth:`Mixer.mix_speakers` first scales each speaker by this listener's local
volume for them (``volume(speaker_id)``: 0.0 is local mute, 1.0 as sent; the
terminal view's ``+``/``-``/``s`` keys).  Local volume never leaves the device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from client.audio.format import FRAME_SAMPLES, Frame, silence

FULL_SCALE = 32767.0


class Mixer:
    """Stateful mixer with a peak limiter (``release`` = gain recovery per frame, 0..1)."""

    def __init__(self, release: float = 0.1) -> None:
        if not 0.0 < release <= 1.0:
            raise ValueError("release must be in (0, 1]")
        self.release = release
        self.gain = 1.0
        self.volume: Callable[[bytes], float] = lambda _speaker_id: 1.0
        """This listener's local volume for a speaker (0.0: muted here)."""

    def mix_speakers(self, frames: Mapping[bytes, Frame | None]) -> Frame:
        """One output frame from each speaker's frame (``None``: nothing this tick), at its
        local volume; a speaker at volume 0 is left out."""
        scaled: list[npt.NDArray[Any]] = []
        for speaker_id, frame in frames.items():
            volume = self.volume(speaker_id) if frame is not None else 0.0
            if frame is None or volume <= 0.0:
                continue
            scaled.append(frame if volume == 1.0 else frame.astype(np.float64) * volume)
        return self.mix(scaled)

    def mix(self, frames: Iterable[npt.NDArray[Any]]) -> Frame:
        """One output frame: the limited sum of ``frames`` (silence if there are none)."""
        total: np.ndarray | None = None
        for frame in frames:
            if frame.shape != (FRAME_SAMPLES,):
                raise ValueError(f"a frame must hold {FRAME_SAMPLES} samples")
            if total is None:
                total = frame.astype(np.float64)
            else:
                total += frame
        self.gain += (1.0 - self.gain) * self.release
        if total is None:
            return silence()
        peak = float(np.max(np.abs(total)))
        if peak * self.gain > FULL_SCALE:
            self.gain = FULL_SCALE / peak
        out = np.clip(np.round(total * self.gain), -FULL_SCALE - 1, FULL_SCALE)
        return out.astype(np.int16)
