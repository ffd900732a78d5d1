"""Encoder settings: no FEC on the TLS link by default, FEC/expected loss changeable at run time."""

from __future__ import annotations

import numpy as np
import pytest

from client.audio import encoder as encoder_module
from client.audio.decoder import LibopusDecoder, fec_supported
from client.audio.encoder import DEFAULT_BITRATE, OpusEncoderConfig, OpusFrameEncoder
from client.audio.errors import CodecError
from client.audio.format import frames_from_pcm
from client.audio.sources import PcmSource
from client.audio_io import EncodedFeed

needs_libopus = pytest.mark.skipif(not fec_supported(), reason="needs libopus for LBRR inspection")

ENCODERS = [
    "pyav",
    pytest.param("libopus", marks=needs_libopus),
]


def lbrr_count(packets: list[bytes]) -> int:
    """How many packets carry in-band FEC (LBRR) data for the frame before them."""
    decoder = LibopusDecoder()
    return sum(decoder.has_fec(p) for p in packets)


def encode(encoder: OpusFrameEncoder, frames: list[np.ndarray]) -> list[bytes]:
    packets = [encoder.encode(f) for f in frames]
    assert all(p is not None for p in packets)
    return [p for p in packets if p is not None]


def test_room_defaults_have_no_fec_and_constant_size():
    config = OpusEncoderConfig()
    assert (config.fec, config.expected_loss_percent, config.vbr) == (False, 0, "off")
    assert config.bitrate == DEFAULT_BITRATE
    assert config.libopus_loss() == 0


@needs_libopus
def test_client_feed_sends_no_fec_on_the_tls_link_by_default(speech):
    """The session's packet feed (the TLS path) uses the defaults: no LBRR in any packet."""
    feed = EncodedFeed(PcmSource(speech))
    packets = []
    while (packet := feed()) is not None:
        packets.append(packet)
    assert len(packets) == len(frames_from_pcm(speech))
    assert lbrr_count(packets) == 0
    assert {len(p) for p in packets} == {DEFAULT_BITRATE // 8 // 50}


@needs_libopus
@pytest.mark.parametrize("backend", ENCODERS)
def test_set_expected_loss_switches_fec_on_and_off_mid_stream(backend, speech):
    frames = frames_from_pcm(speech)
    third = len(frames) // 3
    encoder = OpusFrameEncoder(backend=backend)
    assert encoder.backend == backend
    before = encode(encoder, frames[:third])
    encoder.set_expected_loss(10)
    assert (encoder.config.fec, encoder.config.expected_loss_percent) == (True, 10)
    during = encode(encoder, frames[third : 2 * third])
    encoder.set_expected_loss(0)
    assert (encoder.config.fec, encoder.config.expected_loss_percent) == (False, 0)
    after = encode(encoder, frames[2 * third :])
    assert lbrr_count(before) == 0
    assert lbrr_count(during) > len(during) // 2
    # Packet N carries frame N-1's redundancy: the first packet after FEC goes off
    # still holds the one made while it was on.
    assert lbrr_count(after[1:]) == 0
    # CBR holds through every change: the size says nothing about the setting.
    assert {len(p) for p in before + during + after} == {DEFAULT_BITRATE // 8 // 50}


@needs_libopus
def test_expected_loss_changes_the_libopus_stream_in_place(speech):
    """With ctypes libopus the setting applies from the next frame, state kept:
    packets before the change equal a fixed encoder's, packets after differ."""
    frames = frames_from_pcm(speech)
    fixed = encode(OpusFrameEncoder(backend="libopus"), frames)
    switching = OpusFrameEncoder(backend="libopus")
    first = encode(switching, frames[:100])
    switching.set_expected_loss(5)
    rest = encode(switching, frames[100:])
    assert first == fixed[:100]
    differing = sum(a != b for a, b in zip(rest, fixed[100:], strict=True))
    assert differing > len(rest) // 2
    tuned = encode(OpusFrameEncoder(OpusEncoderConfig().with_expected_loss(5), "libopus"), frames)
    assert rest != tuned[100:]  # not a fresh encoder: the first frames carried over state


def test_setting_the_same_loss_again_is_a_no_op(monkeypatch):
    encoder = OpusFrameEncoder()
    encoder.set_expected_loss(5)
    calls = []
    monkeypatch.setattr(encoder._backend, "apply_loss", calls.append)
    encoder.set_expected_loss(5)
    assert calls == []


@pytest.mark.parametrize("bad", [-1, 101, True, 5.0, "5"])
def test_set_expected_loss_rejects_what_is_not_a_percentage(bad):
    encoder = OpusFrameEncoder()
    with pytest.raises(CodecError, match="percentage"):
        encoder.set_expected_loss(bad)
    assert encoder.config == OpusEncoderConfig()


def test_fec_without_expected_loss_still_tells_libopus_some_loss():
    assert OpusEncoderConfig(fec=True).libopus_loss() == 1
    assert OpusEncoderConfig().with_expected_loss(7) == OpusEncoderConfig(
        fec=True, expected_loss_percent=7
    )


def test_libopus_backend_required_but_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(encoder_module, "load_libopus", lambda: None)
    with pytest.raises(CodecError, match="not loadable"):
        OpusFrameEncoder(backend="libopus")
    assert OpusFrameEncoder().backend == "pyav"  # "auto" falls back


@needs_libopus
@pytest.mark.parametrize(
    "config",
    [
        OpusEncoderConfig(),
        OpusEncoderConfig(bitrate=24_000).with_expected_loss(10),
        OpusEncoderConfig(vbr="on"),
        OpusEncoderConfig(vbr="constrained", application="audio"),
    ],
)
def test_both_backends_encode_byte_for_byte_alike(config, speech):
    """The ctypes back end sets libopus up exactly as FFmpeg's wrapper does."""
    frames = frames_from_pcm(speech)[:150]
    direct = encode(OpusFrameEncoder(config, "libopus"), frames)
    assert direct == encode(OpusFrameEncoder(config, "pyav"), frames)
