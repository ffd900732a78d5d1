"""Sources: files in several formats, clear errors, tones, espeak-ng, devices."""

from __future__ import annotations

import shutil
import sys
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from client.audio import devices, sources
from client.audio.errors import AudioDeviceError, AudioSourceError, SpeechSynthesisError
from client.audio.format import FRAME_SAMPLES, SAMPLE_RATE
from client.audio.quality import aligned_correlation, dominant_frequencies
from client.audio.sources import PcmSource, ToneSource, decode_file, open_file
from client.errors import CliError


def write_with_pyav(
    path: Path, container: str, codec: str, rate: int, seconds: float = 1.0
) -> None:
    """A stereo 500 Hz tone at ``rate`` encoded with ``codec``."""
    t = np.arange(int(rate * seconds)) / rate
    pcm = (np.sin(2 * np.pi * 500.0 * t) * 0.4 * 32767).astype(np.int16)
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="stereo")
        frame_size = 1152 if codec == "libmp3lame" else 960 if codec == "libopus" else 1024
        fmt = stream.codec_context.codec.audio_formats[0].name
        resampler = av.AudioResampler(format=fmt, layout="stereo", rate=rate, frame_size=frame_size)
        stereo = np.stack([pcm, pcm]).T.reshape(1, -1).copy()
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = rate
        frame.pts = 0
        frame.time_base = Fraction(1, rate)
        for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(chunk):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


@pytest.mark.parametrize(
    ("name", "container", "codec", "rate"),
    [
        ("tone.wav", "wav", "pcm_s16le", 44_100),
        ("tone.flac", "flac", "flac", 44_100),
        ("tone.ogg", "ogg", "libopus", 48_000),
        ("tone.mp3", "mp3", "libmp3lame", 44_100),
    ],
)
def test_file_formats_become_48k_mono_frames(tmp_path, name, container, codec, rate):
    path = tmp_path / name
    write_with_pyav(path, container, codec, rate)
    pcm = decode_file(path)
    assert pcm.dtype == np.int16
    assert abs(pcm.size / SAMPLE_RATE - 1.0) < 0.08  # codec padding only
    (peak,) = dominant_frequencies(pcm[SAMPLE_RATE // 10 :], 1)
    assert abs(peak - 500.0) < 5
    frames = list(open_file(path))
    assert all(f.shape == (FRAME_SAMPLES,) for f in frames)
    assert len(frames) == -(-pcm.size // FRAME_SAMPLES)


def test_missing_file_is_one_clear_line(tmp_path):
    with pytest.raises(AudioSourceError) as info:
        open_file(tmp_path / "nope.wav")
    message = str(info.value)
    assert message == f"cannot read audio file {tmp_path / 'nope.wav'}: no such file"
    assert isinstance(info.value, CliError)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("garbage.mp3", b"not audio at all" * 50, "not an audio format this build can read"),
        ("empty.wav", b"", "not an audio format this build can read"),
        ("text.ogg", b"hello\n", "the file is empty or truncated"),
    ],
)
def test_garbage_file_is_a_clear_error(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(AudioSourceError, match=reason) as info:
        decode_file(path)
    assert "\n" not in str(info.value)
    with pytest.raises(AudioSourceError, match=reason):
        open_file(path)


def test_directory_is_a_clear_error(tmp_path):
    with pytest.raises(AudioSourceError, match="is a directory"):
        decode_file(tmp_path)
    with pytest.raises(AudioSourceError, match="is a directory"):
        open_file(tmp_path)


def test_truncated_wav_header_is_a_clear_error(tmp_path):
    path = tmp_path / "short.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48_000)
        w.writeframes(b"\x01\x00" * 4800)
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(AudioSourceError):
        decode_file(path)


def test_pcm_source_ends_or_loops():
    pcm = np.arange(FRAME_SAMPLES * 2 + 10, dtype=np.int16)
    once = PcmSource(pcm)
    frames = list(once)
    assert len(frames) == 3
    assert frames[2][10:].tolist() == [0] * (FRAME_SAMPLES - 10)  # zero-padded tail
    assert once.read() is None
    looped = PcmSource(pcm, loop=True)
    got = [looped.read() for _ in range(7)]
    assert all(g is not None for g in got)
    assert np.array_equal(got[3], got[0])


def test_tone_source_is_continuous_and_can_end():
    src = ToneSource(441.5, seconds=0.1)
    frames = list(src)
    assert len(frames) == 5
    joined = np.concatenate(frames).astype(np.float64)
    t = np.arange(joined.size) / SAMPLE_RATE
    expected = np.sin(2 * np.pi * 441.5 * t) * 0.3 * 32767
    assert np.max(np.abs(joined - expected)) <= 1.0  # phase carried across frames
    endless = ToneSource(440.0)
    assert all(endless.read() is not None for _ in range(500))


def test_espeak_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SpeechSynthesisError, match="espeak-ng"):
        sources.synthesize_speech("hello")


@pytest.mark.skipif(sources.espeak_binary() is None, reason="espeak-ng is not installed")
def test_espeak_speech_survives_the_codec(encode_all):
    pcm = sources.synthesize_speech("Welcome to the room. Please raise your hand to speak.")
    assert pcm.size > SAMPLE_RATE  # more than a second of speech
    from client.audio.decoder import open_decoder

    decoder = open_decoder()
    decoded = np.concatenate([decoder.decode(p) for p in encode_all(pcm)])
    corr, _ = aligned_correlation(pcm, decoded, max_lag=4800)
    assert corr >= 0.85


def test_missing_sounddevice_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails
    with pytest.raises(AudioDeviceError, match="sounddevice"):
        devices.MicrophoneSource()
    with pytest.raises(AudioDeviceError, match="sounddevice"):
        devices.SpeakerOutput()


def test_file_source_streams_the_same_audio_as_decode_file(tmp_path):
    path = tmp_path / "tone.flac"
    write_with_pyav(path, "flac", "flac", 44_100, seconds=2.0)
    whole = decode_file(path)
    streamed = np.concatenate(list(open_file(path)))
    assert np.array_equal(streamed[: whole.size], whole)
    assert not streamed[whole.size :].any()  # only zero padding after the end


def test_file_source_loops_seamlessly(tmp_path):
    path = tmp_path / "tone.wav"
    write_with_pyav(path, "wav", "pcm_s16le", 48_000, seconds=0.5)
    whole = decode_file(path)
    source = open_file(path, loop=True)
    frames = [source.read() for _ in range(60)]  # 1.2 s from a 0.5 s file
    assert all(f is not None for f in frames)
    joined = np.concatenate([f for f in frames if f is not None])
    assert np.array_equal(joined[whole.size : 2 * whole.size], whole)
    source.close()
    assert source.read() is None
