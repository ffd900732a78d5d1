"""Hushroom's audio pipeline: synchronous, no trio inside; the session drives timing.

Send side::

    source = ToneSource(440.0)            # or open_file(path), speech_source(text),
                                          # devices.MicrophoneSource()
    encoder = OpusFrameEncoder()          # 48 kHz mono 20 ms, 24 kbps, FEC, VoIP
    frame = source.read()                 # every 20 ms; None when the source ended
    packet = encoder.encode(frame)        # bytes, or None (DTX: send nothing)

Receive side::

    receiver = RoomAudioReceiver(recorder=RoomRecorder("room.wav"))
    receiver.push(speaker_id, seq, packet, now)   # each decrypted Opus frame
    mixed = receiver.tick(now)                    # every 20 ms
    receiver.active_speakers()                    # speaking indicators

Which library does what: PyAV's ``libopus`` encoder (configured here, not
aiortc's fixed-setting ``OpusEncoder``) encodes; libopus itself — the copy
bundled in PyAV's wheel, via ctypes — decodes with Opus PLC and in-band FEC,
falling back to PyAV's ``libopus`` decoder (PLC only) when that library cannot
be loaded; PyAV demuxes, decodes and resamples files; numpy carries PCM;
``wave`` writes WAV; the optional ``sounddevice`` extra reaches microphone and
speakers; espeak-ng (when installed) synthesises speech.
"""

from client.audio.decoder import FrameDecoder, fec_supported, open_decoder
from client.audio.encoder import OpusEncoderConfig, OpusFrameEncoder
from client.audio.errors import (
    AudioDeviceError,
    AudioError,
    AudioSourceError,
    CodecError,
    SpeechSynthesisError,
)
from client.audio.format import FRAME_SAMPLES, FRAME_SECONDS, SAMPLE_RATE, Frame, silence
from client.audio.jitter import JitterBuffer, JitterConfig, PushResult
from client.audio.mixer import Mixer
from client.audio.quality import aligned_correlation, mixture_correlation, windowed_correlation
from client.audio.receiver import RoomAudioReceiver, SpeakerActivity
from client.audio.sinks import RoomRecorder, WavSink
from client.audio.sources import (
    FileSource,
    FrameSource,
    PcmSource,
    ToneSource,
    decode_file,
    espeak_binary,
    open_file,
    speech_source,
    synthesize_speech,
)
from client.audio.synth import speaker_tone_hz, speech_like, tone

__all__ = [
    "FRAME_SAMPLES",
    "FRAME_SECONDS",
    "SAMPLE_RATE",
    "AudioDeviceError",
    "AudioError",
    "AudioSourceError",
    "CodecError",
    "FileSource",
    "Frame",
    "FrameDecoder",
    "FrameSource",
    "JitterBuffer",
    "JitterConfig",
    "Mixer",
    "OpusEncoderConfig",
    "OpusFrameEncoder",
    "PcmSource",
    "PushResult",
    "RoomAudioReceiver",
    "RoomRecorder",
    "SpeakerActivity",
    "SpeechSynthesisError",
    "ToneSource",
    "WavSink",
    "aligned_correlation",
    "decode_file",
    "espeak_binary",
    "fec_supported",
    "mixture_correlation",
    "open_decoder",
    "open_file",
    "silence",
    "speaker_tone_hz",
    "speech_like",
    "speech_source",
    "synthesize_speech",
    "tone",
    "windowed_correlation",
]
