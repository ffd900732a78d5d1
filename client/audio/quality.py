"""Objective measures for comparing audio: aligned correlation and tone power.

The codec, the jitter buffer and the network add a delay; compare signals only
after finding that delay.  :func:`aligned_correlation` finds it by FFT
cross-correlation and reports the normalised correlation at that lag over the
part where both signals overlap (1.0 = identical up to gain).  It is the
measure the room end-to-end test uses: ">= 0.9 after alignment".
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from client.audio.format import SAMPLE_RATE

ArrayLike = npt.NDArray[np.integer] | npt.NDArray[np.floating]


def _as_float(x: ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(x, dtype=np.float64).reshape(-1)


def find_lag(reference: ArrayLike, recorded: ArrayLike, max_lag: int | None = None) -> int:
    """Samples by which ``recorded`` lags ``reference`` (negative: it leads).

    The lag maximises the cross-correlation; ``max_lag`` bounds ``|lag|``.
    """
    ref = _as_float(reference)
    rec = _as_float(recorded)
    if ref.size == 0 or rec.size == 0:
        raise ValueError("cannot align an empty signal")
    size = 1 << int(np.ceil(np.log2(ref.size + rec.size)))
    spec = np.fft.rfft(rec, size) * np.conj(np.fft.rfft(ref, size))
    xcorr = np.fft.irfft(spec, size)
    # xcorr[k] = sum_n rec[n + k] * ref[n]; negative lags wrap to the end.
    lags = np.concatenate([np.arange(0, rec.size), np.arange(-(ref.size - 1), 0)])
    values = np.concatenate([xcorr[: rec.size], xcorr[size - (ref.size - 1) :]])
    if max_lag is not None:
        keep = np.abs(lags) <= max_lag
        lags, values = lags[keep], values[keep]
    return int(lags[int(np.argmax(values))])


def correlation_at_lag(reference: ArrayLike, recorded: ArrayLike, lag: int) -> float:
    """Normalised correlation of ``reference[n]`` with ``recorded[n + lag]`` where both exist."""
    ref = _as_float(reference)
    rec = _as_float(recorded)
    start = max(0, -lag)
    stop = min(ref.size, rec.size - lag)
    if stop <= start:
        return 0.0
    a = ref[start:stop]
    b = rec[start + lag : stop + lag]
    denom = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return float(np.dot(a, b) / denom) if denom > 0 else 0.0


def aligned_correlation(
    reference: ArrayLike, recorded: ArrayLike, max_lag: int | None = None
) -> tuple[float, int]:
    """``(corr, lag)``: normalised correlation after aligning ``recorded`` to ``reference``.

    ``lag`` is in samples (48 kHz), positive when ``recorded`` is late.
    """
    lag = find_lag(reference, recorded, max_lag)
    return correlation_at_lag(reference, recorded, lag), lag


def tone_power(pcm: ArrayLike, frequency_hz: float, sample_rate: int = SAMPLE_RATE) -> float:
    """Share (0..1) of the signal's energy within ±10 Hz of ``frequency_hz``."""
    x = _as_float(pcm)
    if x.size == 0:
        return 0.0
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1.0 / sample_rate)
    total = float(spectrum.sum())
    if total <= 0:
        return 0.0
    band = np.abs(freqs - frequency_hz) <= max(10.0, 2.0 * sample_rate / x.size)
    return float(spectrum[band].sum() / total)


def dominant_frequencies(
    pcm: ArrayLike, count: int, sample_rate: int = SAMPLE_RATE, min_separation_hz: float = 40.0
) -> list[float]:
    """The ``count`` strongest spectral peaks in Hz, at least ``min_separation_hz`` apart."""
    x = _as_float(pcm)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    freqs = np.fft.rfftfreq(x.size, 1.0 / sample_rate)
    peaks: list[float] = []
    for index in np.argsort(spectrum)[::-1]:
        f = float(freqs[index])
        if all(abs(f - p) >= min_separation_hz for p in peaks):
            peaks.append(f)
            if len(peaks) == count:
                break
    return peaks
