"""Synthetic test signals: pure tones and a speech-like voice.

The speech-like signal is a small source-filter vowel synthesiser: a harmonic
series on a gliding pitch, shaped by three moving formants, cut into syllables
(about four per second) with pauses and short noise bursts for consonants.  It
has speech's spectrum, pitch movement and on/off rhythm, so codec tests, the
demo (when espeak-ng is absent) and benchmarks exercise Opus's speech path
without shipping recordings.  Deterministic for a given ``seed``.
"""

from __future__ import annotations

import itertools

import numpy as np

from client.audio.format import SAMPLE_RATE
from client.audio.format import Frame as Pcm

# Distinct, non-harmonically related tone frequencies (Hz): index i is speaker i.
SPEAKER_TONES_HZ: tuple[float, ...] = (440.0, 660.0, 330.0, 880.0 * 1.122, 523.25, 392.0)

# (F1, F2, F3) in Hz for a few vowels.
_VOWELS = np.array(
    [
        (730.0, 1090.0, 2440.0),  # a
        (270.0, 2290.0, 3010.0),  # i
        (300.0, 870.0, 2240.0),  # u
        (530.0, 1840.0, 2480.0),  # e
        (570.0, 840.0, 2410.0),  # o
    ]
)
_BANDWIDTHS = np.array((90.0, 110.0, 170.0))


def speaker_tone_hz(index: int) -> float:
    """A tone frequency for speaker ``index`` that differs clearly from the others."""
    return SPEAKER_TONES_HZ[index % len(SPEAKER_TONES_HZ)]


def tone(frequency_hz: float, seconds: float, amplitude: float = 0.3) -> Pcm:
    """A sine tone as mono int16 PCM at 48 kHz (``amplitude`` of full scale)."""
    n = round(seconds * SAMPLE_RATE)
    t = np.arange(n, dtype=np.float64) / SAMPLE_RATE
    return np.round(np.sin(2 * np.pi * frequency_hz * t) * amplitude * 32767).astype(np.int16)


def speech_like(
    seconds: float, pitch_hz: float = 130.0, seed: int = 0, amplitude: float = 0.5
) -> Pcm:
    """A deterministic speech-like signal as mono int16 PCM at 48 kHz."""
    rng = np.random.default_rng(seed)
    n = round(seconds * SAMPLE_RATE)
    t = np.arange(n, dtype=np.float64) / SAMPLE_RATE

    # Syllable timeline: ~250 ms syllables, occasional pauses, one vowel each.
    bounds = [0]
    while bounds[-1] < n:
        bounds.append(bounds[-1] + int(SAMPLE_RATE * rng.uniform(0.16, 0.32)))
    envelope = np.zeros(n)
    formants = np.zeros((n, 3))
    noise_env = np.zeros(n)
    for start, stop in itertools.pairwise(bounds):
        stop = min(stop, n)
        length = stop - start
        vowel = _VOWELS[rng.integers(len(_VOWELS))]
        nxt = _VOWELS[rng.integers(len(_VOWELS))]
        ramp = np.linspace(0.0, 1.0, length)[:, None]
        formants[start:stop] = vowel * (1 - ramp) + nxt * ramp
        if rng.random() < 0.2:
            continue  # a pause
        envelope[start:stop] = np.sin(np.pi * np.linspace(0.0, 1.0, length)) ** 0.6
        burst = min(length, int(0.03 * SAMPLE_RATE))
        noise_env[start : start + burst] = np.linspace(1.0, 0.0, burst)

    # Pitch: slow declination plus intonation wobble.
    f0 = pitch_hz * (1.0 + 0.12 * np.sin(2 * np.pi * 0.9 * t + rng.uniform(0, 6)))
    f0 *= 1.0 - 0.1 * (t / max(seconds, 1e-9))
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voiced = np.zeros(n)
    for k in range(1, int(4000 / pitch_hz) + 1):
        fk = k * f0
        gain = np.zeros(n)
        for j in range(3):
            gain += 1.0 / (1.0 + ((fk - formants[:, j]) / _BANDWIDTHS[j]) ** 2) / (j + 1)
        gain *= fk < 5000
        voiced += gain * np.sin(k * phase) / np.sqrt(k)
    noise = rng.standard_normal(n) * 0.15
    signal = voiced * envelope + noise * noise_env
    peak = float(np.max(np.abs(signal))) or 1.0
    return np.round(signal / peak * amplitude * 32767).astype(np.int16)
