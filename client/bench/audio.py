"""Audio pipeline measurements: packet sizes, round-trip quality, codec cost.

Runs as ``hushroom bench audio [--json] [--seconds S]`` (or ``python -m
client.bench.audio``).  Every number is measured on this machine when it runs;
none is a goal checked by the unit tests.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from client.audio.decoder import DecoderBackend, fec_supported, open_decoder
from client.audio.encoder import OpusEncoderConfig, OpusFrameEncoder, VbrMode
from client.audio.format import FRAME_SAMPLES, frames_from_pcm, level_dbfs
from client.audio.jitter import JitterConfig
from client.audio.quality import aligned_correlation, windowed_correlation
from client.audio.receiver import RoomAudioReceiver
from client.audio.sources import espeak_binary, synthesize_speech
from client.audio.synth import speech_like, tone
from client.bench.progress import Progress
from client.commands.common import positive_seconds

HELP = "audio pipeline: Opus bytes per frame, round-trip correlation, encode/decode µs"

SAY = (
    "Welcome to the room. Today we talk about end to end encryption for audio rooms, "
    "where the relay forwards frames it cannot read. Please raise your hand to speak."
)

SPEAKER = bytes(32)
"""The one speaker's member id in the receiver run."""


def _encode(pcm: npt.NDArray[np.int16], config: OpusEncoderConfig) -> tuple[list[bytes], float]:
    encoder = OpusFrameEncoder(config)
    frames = frames_from_pcm(pcm)
    start = time.perf_counter()
    packets = [encoder.encode(f) for f in frames]
    elapsed = time.perf_counter() - start
    return [p for p in packets if p is not None], elapsed / len(frames) * 1e6


def _sizes(pcm: npt.NDArray[np.int16], packets: list[bytes]) -> dict[str, float]:
    sizes = np.array([len(p) for p in packets], dtype=np.float64)
    voiced = np.array(
        [len(p) for p, f in zip(packets, frames_from_pcm(pcm), strict=False) if level_dbfs(f) > -35]
    )
    return {
        "mean_bytes": round(float(sizes.mean()), 1),
        "voiced_mean_bytes": round(float(voiced.mean()), 1) if voiced.size else 0.0,
        "p95_bytes": float(np.percentile(sizes, 95)),
        "min_bytes": float(sizes.min()),
        "max_bytes": float(sizes.max()),
        "kbps": round(float(sizes.mean()) * 8 * 50 / 1000, 2),
        "voiced_kbps": round(float(voiced.mean()) * 8 * 50 / 1000, 2) if voiced.size else 0.0,
    }


def _decode_cost(packets: list[bytes], backend: DecoderBackend) -> float:
    decoder = open_decoder(backend)
    start = time.perf_counter()
    for p in packets:
        decoder.decode(p)
    return (time.perf_counter() - start) / len(packets) * 1e6


def _through_receiver(
    pcm: npt.NDArray[np.int16],
    packets: list[bytes],
    loss: float,
    spike_every: int = 0,
    seed: int = 1,
) -> dict[str, float]:
    """Correlation after the receiver, with random loss and, optionally, every
    ``spike_every``-th packet held back 100 ms (late for a 60 ms buffer)."""
    rng = random.Random(seed)
    receiver = RoomAudioReceiver(JitterConfig(target_frames=3))
    arrivals = sorted(
        (i * 0.02 + (0.1 if spike_every and i % spike_every == spike_every - 1 else 0.0), i, p)
        for i, p in enumerate(packets)
        if rng.random() >= loss
    )
    out = []
    k = 0
    for tick in range(len(packets) + 20):
        now = tick * 0.02 + 0.001
        while k < len(arrivals) and arrivals[k][0] <= now:
            receiver.push(SPEAKER, arrivals[k][1], arrivals[k][2], arrivals[k][0])
            k += 1
        out.append(receiver.tick(now))
    recorded = np.concatenate(out)
    corr, _ = aligned_correlation(pcm, recorded, max_lag=48_000)
    windowed, _ = windowed_correlation(pcm, recorded, max_lag=48_000)
    jitter = receiver.jitter_stats(SPEAKER)
    decoded = receiver.decode_stats(SPEAKER)
    return {
        "correlation": round(corr, 4),
        "windowed_correlation": round(windowed, 4),
        "late": jitter.late,
        "concealed": decoded.concealed,
        "fec_recovered": decoded.fec_recovered,
        "stretched": jitter.stretched,
    }


def measure(
    seconds: float = 10.0, include_espeak: bool = True, progress: Progress | None = None
) -> dict[str, Any]:
    """All measurements as a JSON-able dict (espeak-ng speech too when installed)."""
    progress = progress or Progress("audio")
    progress.phase("preparing signals")
    signals: dict[str, npt.NDArray[np.int16]] = {
        "speech_like": speech_like(seconds, pitch_hz=125.0, seed=7),
        "tone_440": tone(440.0, seconds),
    }
    if include_espeak and espeak_binary() is not None:
        signals["espeak"] = synthesize_speech(SAY)
    result: dict[str, Any] = {
        "fec_decoder": "libopus (ctypes)" if fec_supported() else "pyav (PLC only)",
        "frame_samples": FRAME_SAMPLES,
        "signals": {},
    }
    for number, (name, pcm) in enumerate(signals.items(), 1):
        progress.phase(f"signal {number} of {len(signals)}", name)
        entry: dict[str, Any] = {"seconds": round(pcm.size / 48_000, 2)}
        for bitrate in (24_000, 32_000):
            for vbr in ("on", "off"):
                vbr_mode: VbrMode = "on" if vbr == "on" else "off"
                packets, enc_us = _encode(pcm, OpusEncoderConfig(bitrate=bitrate, vbr=vbr_mode))
                entry[f"{bitrate // 1000}k_vbr_{vbr}"] = {
                    **_sizes(pcm, packets),
                    "encode_us_per_frame": round(enc_us, 1),
                }
        packets, _ = _encode(pcm, OpusEncoderConfig())
        entry["decode_us_per_frame"] = {
            backend: round(_decode_cost(packets, backend), 1)
            for backend in (("libopus", "pyav") if fec_supported() else ("pyav",))
        }
        decoder = open_decoder()
        decoded = np.concatenate([decoder.decode(p) for p in packets])
        corr, lag = aligned_correlation(pcm, decoded, max_lag=4800)
        entry["codec_round_trip"] = {"correlation": round(corr, 4), "lag_samples": lag}
        if name != "tone_440":  # a pure tone aligns at any period: correlation says little
            entry["receiver_correlation"] = {
                "clean": _through_receiver(pcm, packets, 0.0),
                "loss_10pct": _through_receiver(pcm, packets, 0.10),
                "loss_20pct": _through_receiver(pcm, packets, 0.20),
                "spike_100ms_every_25": _through_receiver(pcm, packets, 0.0, spike_every=25),
            }
        dtx_packets, _ = _encode(pcm, OpusEncoderConfig(dtx=True))
        entry["dtx_frames_sent_pct"] = round(100 * len(dtx_packets) / len(packets), 1)
        result["signals"][name] = entry
    return result


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--seconds", type=positive_seconds, default=10.0, help="signal length (default 10)"
    )


def run(args: argparse.Namespace) -> int:
    progress = Progress("audio")
    result = measure(args.seconds, progress=progress)
    progress.done()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"decoder with FEC: {result['fec_decoder']}")
    for name, entry in result["signals"].items():
        print(f"\n{name} ({entry['seconds']} s)")
        for key, value in entry.items():
            if key != "seconds":
                print(f"  {key}: {value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m client.bench.audio", description=HELP)
    register(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
