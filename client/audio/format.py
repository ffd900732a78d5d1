"""The one PCM format the whole audio pipeline speaks.

Every source yields, and every sink, mixer and decoder consumes, *frames*:
20 ms of mono, 48 kHz, signed 16-bit PCM, as a 1-D ``numpy.int16`` array of
``FRAME_SAMPLES`` (960) samples.  Opus packets are ``bytes``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 48_000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 960
FRAME_SECONDS = FRAME_MS / 1000.0
CHANNELS = 1
SAMPLE_WIDTH_BYTES = 2

Frame = npt.NDArray[np.int16]
"""One 20 ms mono frame: ``shape == (FRAME_SAMPLES,)``, ``dtype == int16``."""


def silence() -> Frame:
    """A frame of digital silence."""
    return np.zeros(FRAME_SAMPLES, dtype=np.int16)


def frames_from_pcm(pcm: npt.NDArray[np.int16]) -> list[Frame]:
    """Split mono int16 PCM into whole frames, zero-padding the last one."""
    flat = np.ascontiguousarray(pcm, dtype=np.int16).reshape(-1)
    count = -(-flat.size // FRAME_SAMPLES)
    padded = np.zeros(count * FRAME_SAMPLES, dtype=np.int16)
    padded[: flat.size] = flat
    return [padded[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES] for i in range(count)]


def level_dbfs(frame: Frame) -> float:
    """RMS level of a frame in dB relative to full scale (-120.0 for silence)."""
    rms = float(np.sqrt(np.mean(np.square(frame.astype(np.float64)))))
    if rms <= 0.0:
        return -120.0
    return max(-120.0, 20.0 * float(np.log10(rms / 32768.0)))
