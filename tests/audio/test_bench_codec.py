"""``hushroom bench codec``: loss models, the receive path, scoring on a short sample.

Only deterministic checks run by default; the quality thresholds are in
``test_codec_quality_load`` below, marked ``load``.
"""

from __future__ import annotations

import builtins
import importlib.util
import itertools
import json
import math
import random
from dataclasses import replace

import numpy as np
import pytest

from client import cli
from client.audio import dred
from client.audio.decoder import LibopusDecoder, fec_supported
from client.audio.dred import DredSupport
from client.audio.encoder import OpusEncoderConfig
from client.audio.sources import espeak_binary
from client.audio.synth import speech_like
from client.bench import codec
from client.errors import CliError

HAVE_SCORERS = all(importlib.util.find_spec(m) for m in ("pesq", "pystoi", "scipy"))
needs_scorers = pytest.mark.skipif(
    not HAVE_SCORERS, reason="pesq/pystoi not installed (pip install -e '.[bench]')"
)
ROW_KEYS = {"bitrate", "fec", "expected_loss_pct", "loss_pct", "bursty", "pesq", "stoi"}


def test_random_losses_are_seeded_and_near_the_rate():
    a = codec.random_losses(20_000, 5.0, random.Random(1))
    assert a == codec.random_losses(20_000, 5.0, random.Random(1))
    assert abs(sum(a) / len(a) - 0.05) < 0.005
    assert not any(codec.random_losses(1000, 0.0, random.Random(2)))


def test_gilbert_elliott_losses_have_the_rate_and_the_burst_length():
    lost = codec.bursty_losses(200_000, 3.0, random.Random(3), mean_burst=3.0)
    assert abs(sum(lost) / len(lost) - 0.03) < 0.003
    bursts = [len(list(run)) for is_lost, run in itertools.groupby(lost) if is_lost]
    assert abs(float(np.mean(bursts)) - 3.0) < 0.2
    independent = codec.random_losses(200_000, 3.0, random.Random(3))
    singles = [len(list(run)) for is_lost, run in itertools.groupby(independent) if is_lost]
    assert float(np.mean(singles)) < 1.1  # random loss: almost every burst is one packet


@pytest.mark.parametrize("loss", [-1.0, 100.0])
def test_gilbert_elliott_refuses_impossible_rates(loss):
    with pytest.raises(ValueError):
        codec.bursty_losses(10, loss, random.Random(0))


@pytest.mark.skipif(not fec_supported(), reason="needs libopus for FEC")
def test_receive_rebuilds_a_single_loss_from_fec_and_conceals_a_burst(encode_all):
    pcm = speech_like(1.0, pitch_hz=130.0, seed=5)
    packets = encode_all(pcm, OpusEncoderConfig(fec=True, expected_loss_percent=10))
    lost = [False] * len(packets)
    lost[20] = True  # single: FEC from packet 21
    lost[30] = lost[31] = True  # burst: 30 is concealed (31 is lost too), 31 from FEC

    expected, decoder = [], LibopusDecoder()
    for i, packet in enumerate(packets):
        if i in (20, 31):
            expected.append(decoder.recover(packets[i + 1]))
        elif i == 30:
            expected.append(decoder.conceal())
        else:
            expected.append(decoder.decode(packet))
    got = codec.receive(packets, lost)
    assert np.array_equal(got, np.concatenate(expected))


def test_missing_scorers_give_one_clear_line(monkeypatch):
    real_import = builtins.__import__

    def no_pesq(name, *args, **kwargs):
        if name == "pesq":
            raise ImportError("No module named 'pesq'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pesq)
    with pytest.raises(CliError, match=r"pip install -e '\.\[bench\]'"):
        codec.load_scorer()


def test_speech_sample_has_the_asked_length():
    pcm, source = codec.speech_sample(1.0, use_espeak=False)
    assert (pcm.size, source) == (48_000, "synthetic")


@needs_scorers
def test_harness_scores_a_one_second_sample():
    pcm, source = codec.speech_sample(1.0, use_espeak=False)
    rows = codec.measure_config(
        pcm, source, 24_000, 5, [(0.0, False), (10.0, True)], seeds=1, score=codec.load_scorer()
    )
    assert [(r.loss_pct, r.bursty, r.fec, r.expected_loss_pct) for r in rows] == [
        (0.0, False, True, 5),
        (10.0, True, True, 5),
    ]
    for row in rows:
        assert math.isfinite(row.pesq) and 1.0 <= row.pesq <= 4.7
        assert math.isfinite(row.stoi) and 0.0 <= row.stoi <= 1.0
        assert row.bytes_per_frame == 60.0
    assert rows[0].dropped_pct == 0.0


@needs_scorers
def test_bench_codec_json_rows(capsys):
    argv = ["bench", "codec", "--json", "--seconds", "1", "--seeds", "1"]
    argv += ["--bitrates", "24000", "--expected-loss", "0"]
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    rows = [json.loads(line) for line in out.splitlines()]  # stdout is the rows alone
    assert "bench codec: 24 kbit/s, FEC for 0 % — setting 1 of 1" in err  # progress on stderr
    assert len(rows) == 5  # 0, 2, 5, 10 % random and 3 % bursty
    for row in rows:
        assert ROW_KEYS <= row.keys()
        assert row["bitrate"] == 24_000 and row["fec"] is False
    assert [r["loss_pct"] for r in rows] == [0.0, 2.0, 5.0, 10.0, 3.0]
    assert [r["bursty"] for r in rows] == [False] * 4 + [True]


@pytest.mark.parametrize(
    "args",
    [
        ["--seeds", "0"],
        ["--seeds", "101"],
        ["--seconds", "61"],
        ["--bitrates", "1000"],
        ["--bitrates", "24000,x"],
        ["--expected-loss", "101"],
    ],
)
def test_bench_codec_refuses_arguments_out_of_bounds(args):
    assert cli.main(["bench", "codec", *args]) == 2


@pytest.mark.load
@pytest.mark.skipif(not HAVE_SCORERS or espeak_binary() is None, reason="needs pesq and espeak-ng")
def test_codec_quality_load():
    """The measured reasons for the defaults (docs/network.md), on espeak-ng speech."""
    score = codec.load_scorer()
    pcm, source = codec.speech_sample(10.0)
    cases = [(0.0, False), (5.0, False)]

    def by(bitrate: int, expected: int) -> dict[float, float]:
        rows = codec.measure_config(pcm, source, bitrate, expected, cases, 5, score)
        return {r.loss_pct: r.pesq for r in rows}

    default = by(OpusEncoderConfig().bitrate, 0)
    old_default = by(24_000, 10)
    tuned = by(OpusEncoderConfig().bitrate, 5)
    assert default[0.0] >= 3.5  # the goal for the lossless score is 3.1
    assert default[0.0] >= old_default[0.0] + 1.0  # FEC for 10 % cost a lossless link dearly
    assert tuned[5.0] >= default[5.0] + 0.8  # where packets are lost, FEC pays
    assert tuned[5.0] >= 0.9 * tuned[0.0]


def test_dred_counts_as_working_only_when_every_call_succeeds():
    ok = DredSupport(
        "libopus 9", set_dred_duration=0, dred_alloc=0, dred_decoder_create=0, dred_size=10_000
    )
    assert ok.works
    for broken in (
        replace(ok, set_dred_duration=dred.OPUS_UNIMPLEMENTED),
        replace(ok, dred_alloc=dred.OPUS_UNIMPLEMENTED),
        replace(ok, dred_decoder_create=-7),
        replace(ok, dred_size=0),
    ):
        assert not broken.works


@pytest.mark.skipif(not fec_supported(), reason="needs libopus")
def test_bench_codec_dred_prints_libopus_answers(capsys):
    assert cli.main(["bench", "codec", "--dred", "--json"]) == 0
    fields = json.loads(capsys.readouterr().out)
    assert fields["version"].startswith("libopus ")
    for key in ("set_dred_duration", "dred_alloc", "dred_decoder_create"):
        assert isinstance(fields[key], int) and fields[key] <= 0
    assert fields["works"] == (fields["dred_size"] > 0 and fields["set_dred_duration"] == 0)
