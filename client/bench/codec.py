"""Speech quality through the codec alone: bit rate, in-band FEC and packet loss.

Runs as ``hushroom bench codec [--json]`` (or ``python -m client.bench.codec``).
In process, no network: speech (espeak-ng when installed, else the synthetic
voice of :mod:`client.audio.synth`) is encoded with the client's encoder
(:class:`~client.audio.encoder.OpusFrameEncoder`), packets are dropped by a
seeded loss model (independent random loss, or Gilbert–Elliott bursts), the
rest is decoded with the client's decoder (:func:`~client.audio.decoder.open_decoder`:
a lost frame is rebuilt from the next packet's FEC data when it has some, else
concealed), and the result is scored against the source with wideband PESQ
(ITU-T P.862.2, the ``pesq`` package, at 16 kHz) and STOI (``pystoi``).
Those two packages are the optional ``bench`` extra.  Every number is measured
when the bench runs; none is a goal checked by the unit tests.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from client.audio import dred
from client.audio.decoder import open_decoder
from client.audio.encoder import OpusEncoderConfig, OpusFrameEncoder
from client.audio.format import SAMPLE_RATE, frames_from_pcm
from client.audio.quality import find_lag
from client.audio.sources import espeak_binary, synthesize_speech
from client.audio.synth import speech_like
from client.bench.progress import Progress
from client.commands.common import positive_seconds
from client.errors import CliError

HELP = "speech quality (wideband PESQ, STOI) by bit rate, FEC and packet loss, in process"

SCORE_RATE = 16_000
"""Wideband PESQ is defined at 16 kHz; STOI is computed at the same rate."""

SAY = (
    "Welcome to the room. Today we talk about end to end encryption for audio rooms, "
    "where the relay forwards frames it cannot read. Please raise your hand if you "
    "want to speak, and a moderator will bring you on stage in a moment."
)

BITRATES = (16_000, 24_000, 32_000, 38_000, 48_000)
"""Measured by default.  On the wire a frame costs its padding bucket (spec
§11.4): 24 kbit/s (60 bytes) is in the 64-byte bucket, 28–38 kbit/s (70–95
bytes) in the 96-byte one, 48 kbit/s (120 bytes) in the 128-byte one."""
EXPECTED_LOSSES = (0, 5, 10)
"""Expected-loss settings told to libopus; 0 means in-band FEC off."""
LOSSES: tuple[tuple[float, bool], ...] = ((0.0, False), (2.0, False), (5.0, False), (10.0, False))
BURSTY_LOSS_PCT = 3.0
MEAN_BURST_FRAMES = 3.0
"""Gilbert–Elliott: mean length of a loss burst, in 20 ms frames."""

MAX_SECONDS = 60.0
"""Longest speech sample (PESQ is specified for samples of about 8–20 s)."""
MAX_SEEDS = 100

Pcm = npt.NDArray[np.int16]


@dataclass(frozen=True)
class CodecRow:
    """One measured case (the JSON row)."""

    bitrate: int
    fec: bool
    expected_loss_pct: int
    loss_pct: float
    bursty: bool
    pesq: float
    stoi: float
    dropped_pct: float
    """Share of packets the loss model actually dropped (mean over the seeds)."""
    bytes_per_frame: float
    seeds: int
    source: str


def random_losses(count: int, loss_pct: float, rng: random.Random) -> list[bool]:
    """Independent loss: each packet is lost with probability ``loss_pct`` / 100."""
    p = loss_pct / 100.0
    return [rng.random() < p for _ in range(count)]


def bursty_losses(
    count: int, loss_pct: float, rng: random.Random, mean_burst: float = MEAN_BURST_FRAMES
) -> list[bool]:
    """Gilbert–Elliott loss with a lossless good state and an all-lost bad state.

    Leaving the bad state has probability ``r = 1 / mean_burst``; entering it
    ``p = r * L / (1 - L)``, so the stationary loss is ``p / (p + r) = L``.
    """
    loss = loss_pct / 100.0
    if not 0.0 <= loss < 1.0 or mean_burst < 1.0:
        raise ValueError("bursty loss needs 0 <= loss < 100 % and bursts of at least one frame")
    r = 1.0 / mean_burst
    p = r * loss / (1.0 - loss)
    bad = False
    lost = []
    for _ in range(count):
        bad = rng.random() >= r if bad else rng.random() < p
        lost.append(bad)
    return lost


def receive(packets: Sequence[bytes], lost: Sequence[bool]) -> Pcm:
    """Decode what arrived as the receive path does: FEC from the next packet, else PLC."""
    decoder = open_decoder()
    out = []
    for i, packet in enumerate(packets):
        if not lost[i]:
            out.append(decoder.decode(packet))
            continue
        nxt = packets[i + 1] if i + 1 < len(packets) and not lost[i + 1] else None
        if nxt is not None and decoder.has_fec(nxt):
            out.append(decoder.recover(nxt))
        else:
            out.append(decoder.conceal())
    return np.concatenate(out)


Scorer = Callable[[Pcm, Pcm], tuple[float, float]]


def load_scorer() -> Scorer:
    """``score(reference, degraded) -> (pesq, stoi)`` at 16 kHz, both aligned already.

    Raises :class:`~client.errors.CliError` when the ``bench`` extra is missing.
    """
    try:
        from pesq import pesq
        from pystoi import stoi
        from scipy.signal import resample_poly
    except ImportError:
        raise CliError(
            "hushroom bench codec needs pesq and pystoi: pip install -e '.[bench]'"
        ) from None

    def score(reference: Pcm, degraded: Pcm) -> tuple[float, float]:
        ref = resample_poly(reference.astype(np.float64) / 32768.0, 1, SAMPLE_RATE // SCORE_RATE)
        deg = resample_poly(degraded.astype(np.float64) / 32768.0, 1, SAMPLE_RATE // SCORE_RATE)
        return float(pesq(SCORE_RATE, ref, deg, "wb")), float(stoi(ref, deg, SCORE_RATE))

    return score


def speech_sample(seconds: float, use_espeak: bool = True) -> tuple[Pcm, str]:
    """``seconds`` of speech and its origin (``"espeak-ng"`` or ``"synthetic"``).

    espeak-ng's sentence is repeated or cut to the length; without espeak-ng the
    synthetic voice stands in (PESQ is then only comparable within one run).
    """
    count = round(seconds * SAMPLE_RATE)
    if use_espeak and espeak_binary() is not None:
        said = synthesize_speech(SAY)
        return np.resize(said, count).astype(np.int16), "espeak-ng"
    return speech_like(seconds, pitch_hz=125.0, seed=7), "synthetic"


def _encode(pcm: Pcm, config: OpusEncoderConfig) -> list[bytes]:
    encoder = OpusFrameEncoder(config)
    packets = [encoder.encode(frame) for frame in frames_from_pcm(pcm)]
    return [p for p in packets if p is not None]


def _aligned(reference: Pcm, decoded: Pcm, lag: int) -> tuple[Pcm, Pcm]:
    """Both signals cut to where they overlap once ``decoded`` is moved back by ``lag``."""
    shifted = decoded[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag, np.int16), decoded])
    n = min(reference.size, shifted.size)
    return reference[:n], shifted[:n]


def measure_config(
    pcm: Pcm,
    source: str,
    bitrate: int,
    expected_loss_pct: int,
    losses: Sequence[tuple[float, bool]],
    seeds: int,
    score: Scorer,
) -> list[CodecRow]:
    """All loss cases for one encoder setting (FEC on when ``expected_loss_pct`` > 0)."""
    fec = expected_loss_pct > 0
    config = OpusEncoderConfig(bitrate=bitrate, fec=fec, expected_loss_percent=expected_loss_pct)
    packets = _encode(pcm, config)
    clean = receive(packets, [False] * len(packets))
    lag = find_lag(pcm, clean, max_lag=SAMPLE_RATE // 10)  # the codec's own delay
    size = float(np.mean([len(p) for p in packets]))
    rows = []
    for loss_pct, bursty in losses:
        runs = 1 if loss_pct == 0 else seeds
        scores, dropped = [], []
        for seed in range(runs):
            rng = random.Random(f"{seed}:{loss_pct}:{bursty}")
            model = bursty_losses if bursty else random_losses
            lost = model(len(packets), loss_pct, rng)
            dropped.append(100.0 * sum(lost) / len(lost))
            scores.append(score(*_aligned(pcm, receive(packets, lost), lag)))
        rows.append(
            CodecRow(
                bitrate=bitrate,
                fec=fec,
                expected_loss_pct=expected_loss_pct,
                loss_pct=loss_pct,
                bursty=bursty,
                pesq=round(statistics.fmean(s[0] for s in scores), 3),
                stoi=round(statistics.fmean(s[1] for s in scores), 3),
                dropped_pct=round(statistics.fmean(dropped), 2),
                bytes_per_frame=round(size, 1),
                seeds=runs,
                source=source,
            )
        )
    return rows


def measure(
    seconds: float = 10.0,
    bitrates: Sequence[int] = BITRATES,
    expected_losses: Sequence[int] = EXPECTED_LOSSES,
    losses: Sequence[tuple[float, bool]] = (*LOSSES, (BURSTY_LOSS_PCT, True)),
    seeds: int = 5,
    use_espeak: bool = True,
    progress: Progress | None = None,
) -> Iterator[dict[str, Any]]:
    """Every (bit rate, expected loss, loss) case as a JSON-able row, as it is measured."""
    progress = progress or Progress("codec")
    score = load_scorer()
    progress.phase("speech sample", f"{seconds:g} s")
    pcm, source = speech_sample(seconds, use_espeak)
    settings = [(b, e) for b in bitrates for e in expected_losses]
    for done, (bitrate, expected) in enumerate(settings):
        progress.phase(
            f"{bitrate / 1000:g} kbit/s, FEC for {expected} %",
            f"setting {done + 1} of {len(settings)}, {len(losses)} loss cases x {seeds} seeds",
        )
        for row in measure_config(pcm, source, bitrate, expected, losses, seeds, score):
            yield asdict(row)
    progress.done()


def _int_list(low: int, high: int) -> Callable[[str], list[int]]:
    """An argparse type: comma-separated integers, each within ``low..high``."""

    def parse(text: str) -> list[int]:
        try:
            values = [int(part) for part in text.split(",") if part]
        except ValueError:
            values = []
        if not values or not all(low <= v <= high for v in values):
            raise argparse.ArgumentTypeError(
                f"must be comma-separated integers from {low} to {high}, not {text!r}"
            )
        return values

    return parse


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON row per line")
    parser.add_argument(
        "--dred", action="store_true", help="only ask the loaded libopus whether DRED works"
    )
    parser.add_argument(
        "--seconds", type=positive_seconds, default=10.0, help="speech length (default 10)"
    )
    parser.add_argument(
        "--seeds", type=int, default=5, help="loss patterns averaged per lossy case (default 5)"
    )
    parser.add_argument(
        "--bitrates",
        type=_int_list(6_000, 510_000),
        default=list(BITRATES),
        help="bit/s, comma-separated",
    )
    parser.add_argument(
        "--expected-loss",
        type=_int_list(0, 100),
        default=list(EXPECTED_LOSSES),
        help="libopus expected-loss settings in %% (0 = FEC off), comma-separated",
    )


def _report_dred(as_json: bool) -> int:
    support = dred.probe()
    fields: dict[str, Any] = (
        {"libopus": None} if support is None else {**asdict(support), "works": support.works}
    )
    if as_json:
        print(json.dumps(fields))
    else:
        for key, value in fields.items():
            print(f"{key}: {value}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.dred:
        return _report_dred(args.json)
    if not 1 <= args.seeds <= MAX_SEEDS:
        raise CliError(f"--seeds must be from 1 to {MAX_SEEDS}", exit_code=2)
    if args.seconds > MAX_SECONDS:
        raise CliError(f"--seconds must be at most {MAX_SECONDS:g}", exit_code=2)
    rows = measure(args.seconds, args.bitrates, args.expected_loss, seeds=args.seeds)
    if args.json:
        for row in rows:
            print(json.dumps(row), flush=True)
        return 0
    print("kbit/s  FEC@%  loss%  bursty   PESQ   STOI  bytes  source")
    for r in rows:
        print(
            f"{r['bitrate'] / 1000:6.0f}  {r['expected_loss_pct']:5d}  {r['loss_pct']:5.1f}"
            f"  {'yes' if r['bursty'] else 'no':>6}  {r['pesq']:5.2f}  {r['stoi']:5.3f}"
            f"  {r['bytes_per_frame']:5.1f}  {r['source']}",
            flush=True,
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m client.bench.codec", description=HELP)
    register(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
