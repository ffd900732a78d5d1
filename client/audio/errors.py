"""Audio errors the user can act on.

They subclass :class:`client.errors.CliError`, so the command line prints the
message as one line and exits non-zero without a traceback.
"""

from __future__ import annotations

from client.errors import CliError


class AudioError(CliError):
    """Base of every audio-pipeline error that carries a one-line message."""


class AudioSourceError(AudioError):
    """An audio file is missing, unreadable, or holds no audio stream."""


class AudioDeviceError(AudioError):
    """No microphone or speaker: the ``sounddevice`` extra or a device is missing."""


class SpeechSynthesisError(AudioError):
    """Speech synthesis is unavailable (espeak-ng not installed) or failed."""


class CodecError(AudioError):
    """libopus refused a configuration or a packet."""
