"""Shared signals for the audio tests (generated once per session: deterministic)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from client.audio.encoder import OpusEncoderConfig, OpusFrameEncoder
from client.audio.format import frames_from_pcm
from client.audio.synth import speech_like, tone


@pytest.fixture(scope="session")
def speech() -> npt.NDArray[np.int16]:
    return speech_like(6.0, pitch_hz=125.0, seed=7)


@pytest.fixture(scope="session")
def tone440() -> npt.NDArray[np.int16]:
    return tone(440.0, 3.0)


EncodeAll = Callable[..., list[bytes]]


def _encode_all(pcm: npt.NDArray[np.int16], config: OpusEncoderConfig | None = None) -> list[bytes]:
    encoder = OpusFrameEncoder(config)
    packets = []
    for frame in frames_from_pcm(pcm):
        packet = encoder.encode(frame)
        assert packet is not None
        packets.append(packet)
    return packets


@pytest.fixture(scope="session")
def encode_all() -> EncodeAll:
    """``encode_all(pcm, config=None) -> packets`` (one per 20 ms frame, DTX off)."""
    return _encode_all


@pytest.fixture(scope="session")
def speech_packets(speech: npt.NDArray[np.int16]) -> list[bytes]:
    return _encode_all(speech)
