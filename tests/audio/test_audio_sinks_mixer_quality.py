"""WAV sink, mixer limiter, and the correlation measure."""

from __future__ import annotations

import wave

import numpy as np
import pytest

from client.audio.errors import AudioError
from client.audio.format import FRAME_SAMPLES, SAMPLE_RATE, frames_from_pcm, silence
from client.audio.mixer import Mixer
from client.audio.quality import (
    aligned_correlation,
    correlation_at_lag,
    find_lag,
    tone_power,
    windowed_correlation,
)
from client.audio.sinks import WavSink, speaker_file_name
from client.audio.synth import tone


def test_wav_sink_writes_a_valid_file_of_the_right_duration(tmp_path):
    path = tmp_path / "out" / "room.wav"
    frames = frames_from_pcm(tone(440.0, 1.5))
    with WavSink(path) as sink:
        for frame in frames:
            sink.write(frame)
        sink.write_silence(25)
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, SAMPLE_RATE)
        assert w.getnframes() == (75 + 25) * FRAME_SAMPLES
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert np.array_equal(data[: 75 * FRAME_SAMPLES], np.concatenate(frames))
    assert not data[75 * FRAME_SAMPLES :].any()
    assert sink.seconds == pytest.approx(2.0)


def test_wav_sink_unwritable_path_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AudioError, match="cannot write"):
        WavSink(blocker / "room.wav")


def test_speaker_file_names_are_the_whole_member_id_in_hex():
    a = bytes(4) + b"\x01" * 28
    b = bytes(4) + b"\x02" * 28  # the same first 4 bytes (8 hex digits) as a
    assert speaker_file_name(a) == f"speaker-{a.hex()}.wav"
    assert speaker_file_name(a) != speaker_file_name(b)
    assert speaker_file_name(b"../x") == "speaker-2e2e2f78.wav"  # no path from an id


def test_mixer_passes_single_speaker_through():
    frame = frames_from_pcm(tone(300.0, 0.02))[0]
    assert np.array_equal(Mixer().mix([frame]), frame)
    assert not Mixer().mix([]).any()


def test_mixer_limits_instead_of_wrapping():
    mixer = Mixer()
    loud = np.full(FRAME_SAMPLES, 30_000, dtype=np.int16)
    out = mixer.mix([loud, loud, loud])
    assert out.min() > 0  # an int16 sum would have wrapped negative
    assert out.max() <= 32767
    assert mixer.gain < 0.5
    # The gain recovers once the overload is gone.
    quiet = np.full(FRAME_SAMPLES, 1000, dtype=np.int16)
    for _ in range(60):
        out = mixer.mix([quiet])
    assert out[0] == pytest.approx(1000, abs=5)


def test_mixer_rejects_wrong_frame_size():
    with pytest.raises(ValueError, match="960"):
        Mixer().mix([silence(), np.zeros(10, dtype=np.int16)])


def test_aligned_correlation_finds_a_known_delay():
    rng = np.random.default_rng(3)
    ref = rng.standard_normal(20_000)
    for delay in (0, 1, 317, 4000):
        rec = np.concatenate([np.zeros(delay), 0.5 * ref, np.zeros(100)])
        corr, lag = aligned_correlation(ref, rec)
        assert lag == delay
        assert corr == pytest.approx(1.0, abs=1e-9)


def test_aligned_correlation_negative_lag_and_noise():
    rng = np.random.default_rng(4)
    ref = rng.standard_normal(10_000)
    rec = ref[250:] + 0.5 * rng.standard_normal(ref.size - 250)
    corr, lag = aligned_correlation(ref, rec)
    assert lag == -250
    assert 0.8 < corr < 0.95  # SNR 6 dB -> 1/sqrt(1.25) = 0.894


def test_unrelated_signals_do_not_correlate():
    rng = np.random.default_rng(5)
    corr, _ = aligned_correlation(rng.standard_normal(8000), rng.standard_normal(8000))
    assert corr < 0.1


def test_find_lag_respects_max_lag_and_rejects_empty():
    rng = np.random.default_rng(6)
    ref = rng.standard_normal(4000)
    rec = np.concatenate([np.zeros(900), ref])
    assert find_lag(ref, rec) == 900
    assert find_lag(ref, rec, max_lag=100) != 900
    assert correlation_at_lag(ref, rec, 10**6) == 0.0
    with pytest.raises(ValueError, match="empty"):
        find_lag(np.zeros(0), rec)


def test_tone_power_separates_frequencies():
    pcm = tone(440.0, 0.5)
    assert tone_power(pcm, 440.0) > 0.9
    assert tone_power(pcm, 660.0) < 0.01


def test_windowed_correlation_follows_a_shift_midway():
    rng = np.random.default_rng(8)
    ref = rng.standard_normal(48_000 * 4)
    # 960 samples inserted after 2 s: the second half is 20 ms later than the first
    rec = np.concatenate([np.zeros(500), ref[:96_000], np.zeros(960), ref[96_000:]])
    windowed, lag = windowed_correlation(ref, rec)
    assert lag in (500, 1460)
    assert windowed > 0.99
    global_corr, _ = aligned_correlation(ref, rec)
    assert global_corr < 0.8
    unrelated, _ = windowed_correlation(rng.standard_normal(48_000 * 2), rec)
    assert unrelated < 0.2
