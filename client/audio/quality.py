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


def mixture_correlation(
    references: list[ArrayLike], recorded: ArrayLike, max_lag: int | None = None
) -> tuple[float, list[int]]:
    """How well ``recorded`` is explained by a mix of the ``references``.

    For a room recording where several speakers overlap, one source alone
    cannot correlate highly with the mix.  Each reference is aligned on its own
    (its own network and jitter delay), then a least-squares gain per
    reference fits their sum to ``recorded``; the result is the normalised
    correlation between that fit and ``recorded`` (1.0 = fully explained),
    and the lag found for each reference.
    """
    rec = _as_float(recorded)
    lags: list[int] = []
    columns: list[npt.NDArray[np.float64]] = []
    for reference in references:
        ref = _as_float(reference)
        lag = find_lag(ref, rec, max_lag)
        shifted = np.zeros(rec.size)
        src_start = max(0, -lag)
        dst_start = max(0, lag)
        count = min(ref.size - src_start, rec.size - dst_start)
        if count > 0:
            shifted[dst_start : dst_start + count] = ref[src_start : src_start + count]
        lags.append(lag)
        columns.append(shifted)
    if not columns:
        raise ValueError("need at least one reference")
    matrix = np.stack(columns, axis=1)
    gains, *_ = np.linalg.lstsq(matrix, rec, rcond=None)
    fit = matrix @ gains
    denom = float(np.sqrt(np.dot(fit, fit) * np.dot(rec, rec)))
    return (float(np.dot(fit, rec) / denom) if denom > 0 else 0.0), lags


def windowed_correlation(
    reference: ArrayLike,
    recorded: ArrayLike,
    window_seconds: float = 1.0,
    max_drift_seconds: float = 0.2,
    max_lag: int | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> tuple[float, int]:
    """Like :func:`aligned_correlation`, but tolerant of delay changes.

    An adaptive jitter buffer may stretch or trim playout by a frame now and
    then, which shifts everything after it by 20 ms: one global alignment then
    under-reports quality.  Here ``recorded`` is aligned globally first, then
    each window of ``reference`` is re-aligned within ``±max_drift_seconds`` and
    correlated; the result is the energy-weighted mean over the windows (and
    the global lag).  Silent windows (below 1% of the mean energy) are skipped.
    """
    ref = _as_float(reference)
    rec = _as_float(recorded)
    lag = find_lag(ref, rec, max_lag)
    window = max(1, int(window_seconds * sample_rate))
    drift = int(max_drift_seconds * sample_rate)
    mean_energy = float(np.mean(ref * ref)) if ref.size else 0.0
    total_weight = 0.0
    total = 0.0
    for start in range(0, ref.size - window + 1, window):
        piece = ref[start : start + window]
        energy = float(np.dot(piece, piece))
        if energy < 0.01 * mean_energy * window:
            continue
        lo = max(0, start + lag - drift)
        hi = min(rec.size, start + lag + window + drift)
        if hi - lo < window:
            continue
        local = find_lag(piece, rec[lo:hi])
        local = max(0, min(local, hi - lo - window))
        corr = correlation_at_lag(piece, rec[lo:hi], local)
        total += corr * energy
        total_weight += energy
    if total_weight == 0.0:
        return correlation_at_lag(ref, rec, lag), lag
    return total / total_weight, lag
