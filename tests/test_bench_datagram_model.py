"""The in-process model of the datagram path (``bench network --model``) on a virtual clock.

It runs the client's encoder, the real datagram channel with MEDIA_RED, the
emulator's link model and the client's receive path, so these are checks of
the path itself: loss alone does not push the playout buffer up, the copies
bring the frames back, and the decoder uses in-band FEC for single losses.
"""

from __future__ import annotations

import numpy as np

from client.audio.format import SAMPLE_RATE
from client.audio.synth import speech_like
from client.bench.datagram_model import measure_model, simulate
from client.bench.netem.settings import Impairment
from e2ee.datagram_red import DISTANCE

PCM = speech_like(8.0, pitch_hz=125.0, seed=7)
LOSSY = Impairment(delay_ms=50.0, jitter_ms=10.0, loss_pct=10.0)


def test_loss_alone_keeps_the_playout_buffer_at_its_floor() -> None:
    _, plain = simulate(PCM, LOSSY, distance=0, fec_pct=0, seed=1)
    assert plain["residual_loss_pct"] > 7  # about 10 % of the frames never came
    assert plain["max_buffer_ms"] <= 80  # nothing arrived late: no reason to grow
    assert plain["p99_ms"] is not None and plain["p99_ms"] <= 200


def test_copies_bring_back_the_frames_a_lossy_hop_drops() -> None:
    _, copied = simulate(PCM, LOSSY, distance=DISTANCE, fec_pct=0, seed=1)
    assert copied["residual_loss_pct"] < 2.5  # lost only together with its copy's carrier
    assert copied["max_buffer_ms"] <= 80


def test_the_decoder_rebuilds_single_losses_from_the_next_packets_fec() -> None:
    # FEC for 10 %: libopus puts LBRR data in most packets of this synthetic voice
    # (for 5 % it chooses CELT-only frames for it, which carry none; espeak-ng
    # speech gets LBRR in most packets either way, docs/network.md)
    _, fec = simulate(PCM, LOSSY, distance=0, fec_pct=10, seed=1)
    _, none = simulate(PCM, LOSSY, distance=0, fec_pct=0, seed=1)
    lost = round(fec["residual_loss_pct"] * len(PCM) / 96_000)  # of 50 frames a second
    assert none["fec_recovered"] == 0
    assert fec["fec_recovered"] > lost / 2  # most losses are single: rebuilt, not concealed


def test_model_rows_name_their_settings() -> None:
    pcm = PCM[: 3 * SAMPLE_RATE]
    rows = list(
        measure_model(
            pcm,
            [(LOSSY, 10.0, False)],
            lambda ref, deg: (float(np.abs(ref).mean() > 0), 1.0),
            distances=(1,),
            fec_pcts=(0,),
            seeds=1,
            hops=(2,),
        )
    )
    [row] = rows
    assert (row["lossy_hops"], row["distance"], row["fec_expected_loss_pct"]) == (2, 1, 0)
    assert row["model"] is True and 0 <= row["residual_loss_pct"] <= 100
