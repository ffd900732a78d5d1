"""``hushroom bench auth``: what speaker authentication costs (spec §15.6).

Figures for five rows, side by side, the defaults first: ``stage`` (the
default optimistic stage mode: a stage member plays a verified speaker's
frames first and its 20-frame proof confirms them), ``audience`` (a speaker
alone on stage, its 25-frame audience batch), ``audience_of_stage`` (the
audience, which always holds, of a speaker that shares the stage: the
20-frame stage batch), then the room parameter ``stage_mode = hold``:
``stage_hold`` (a stage member holds each 3-frame batch until proven) and
``audience_of_hold_stage``.  A receiver that holds plays each batch from a
playout buffer that spans it (spec §15.6), so for the audience the hold is
that buffer, not a delay added to it:

* ``auth_bytes_per_frame`` — proof bytes per 20 ms frame (the MEDIA payload;
  ``auth_wire_bytes_per_frame`` adds the relay envelope of each proof).
* ``auth_latency_ms`` — added delay before a frame may be played: arrival of
  the frame to its release by the receiver's gate, frames sent every 20 ms on
  a lossless link, plus the measured signing and verification time of the
  proof that releases it; max and mean over the run, leaving out the first
  batch (a speaker not verified yet is held in every mode; its figure is
  ``auth_latency_ms_first_batch_max``).  A frame played first waits 0 ms.
* ``auth_detect_ms`` (optimistic stage only) — the stated bound within which
  a frame played first is proven or reported (``tentative_wait``).
* ``auth_sign_us`` / ``auth_verify_us`` — median microseconds per frame the
  speaker spends (digest + its share of a signature) and a listener spends
  (digest, holding, its share of a verification; in the optimistic mode also
  the second opening of each played frame that moves its replay window).
* ``auth_listener_cpu_4_speakers`` — ``4 x 50 x auth_verify_us`` as a share of
  one core, in percent.

Times are medians over ``--rounds`` rounds of ``--frames`` frames, with
``time.perf_counter_ns``; nothing here runs in the unit tests.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import Counter

from client.bench.progress import Progress
from client.commands.common import positive_int
from e2ee.envelope import EnvelopeType, encode_envelope
from e2ee.frame import FrameReceiver, FrameSender
from e2ee.identity import IdentityKey
from e2ee.room import keys
from e2ee.room.speaker_auth import (
    FRAME_SECONDS,
    STAGE_HOLD,
    AuthConfig,
    ProofBatcher,
    ProofGate,
)
from e2ee.room.speaker_proof import is_speaker_proof
from e2ee.sender_key import SenderKey
from e2ee.sframe_header import decode_header

HELP = "speaker authentication: bytes, added delay, sign/verify cost (spec: Speaker authentication)"
EPOCH = 3


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--frames", type=_enough_frames, default=500, help="frames per round (at least 100)"
    )
    parser.add_argument("--rounds", type=positive_int, default=9, help="timed rounds per figure")
    parser.add_argument("--size", type=int, default=80, help="Opus frame size in bytes")


MIN_FRAMES = 100  # two of the longest batch (the stage's 20, the audience's 25) and more


def _enough_frames(text: str) -> int:
    """An argparse type: frames per round, enough for steady-state figures after a first batch."""
    frames = positive_int(text)
    if frames < MIN_FRAMES:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_FRAMES}, not {text!r}")
    return frames


Context = tuple[bytes, bytes, bytes, SenderKey]  # room id, speaker id, proof key, its key


def _stream(size: int, frames: int, params: tuple[int, int]) -> tuple[list[bytes], float, Context]:
    """One speaker's MEDIA payloads (frames and proofs, in order) and its µs per frame."""
    ident = IdentityKey(os.urandom(32))
    room = os.urandom(32)
    base = keys.sender_base(os.urandom(32), ident.public)
    tx = FrameSender(SenderKey(EPOCH, EPOCH, base), room_id=room, sender_id=ident.public)
    batcher = ProofBatcher(ident, room)
    proof_key = keys.proof_key(base)
    sealed = [tx.protect(os.urandom(size)) for _ in range(frames)]
    out: list[bytes] = []
    start = time.perf_counter_ns()
    for i, f in enumerate(sealed):
        out.append(f)
        out += batcher.add(f, EPOCH, i * FRAME_SECONDS, params, lambda: proof_key)
    out += batcher.flush()
    sign_us = (time.perf_counter_ns() - start) / frames / 1000
    return out, sign_us, (room, ident.public, proof_key, tx.key)


def _receive(
    payloads: list[bytes], config: AuthConfig, on_stage: bool, ctx: Context
) -> tuple[float, dict[int, float]]:
    """Feed one speaker's payloads to a gate; µs per frame and each frame's wait in s.

    A stage member opens each confirmed frame a second time (spec §15.6); that
    opening is timed as part of the listener's cost.
    """
    room, member, proof_key, key = ctx
    gate = ProofGate(room, config, Counter())
    rx = FrameReceiver(room_id=room, sender_id=member)
    rx.add_key(key)
    arrived: list[float] = []
    waits: dict[int, float] = {}
    candidates = [(EPOCH, proof_key)]
    start = time.perf_counter_ns()
    for payload in payloads:
        if is_speaker_proof(payload):  # it arrives with the frame it follows
            now = (len(arrived) - 1) * FRAME_SECONDS
            released = gate.proof(member, payload, now, candidates)
        else:
            now = len(arrived) * FRAME_SECONDS
            arrived.append(now)
            released = gate.frame(member, payload, now, on_stage)
        for frame in released.confirmed:
            rx.unprotect(frame, now)
        for frame in released.tentative + released.frames:
            ctr = decode_header(frame)[1]
            waits[ctr] = now - arrived[ctr]
    verify_us = (time.perf_counter_ns() - start) / len(arrived) / 1000
    assert len(waits) == len(arrived), "every frame was released"
    return verify_us, waits


def measure_class(
    config: AuthConfig, alone: bool, on_stage: bool, size: int, frames: int, rounds: int
) -> dict[str, object]:
    """The figures for one row: a speaker ``alone`` on stage or not, a receiver on stage or not."""
    params = config.params(not alone)
    signs, verifies = [], []
    waits: dict[int, float] = {}
    proof_bytes = wire_bytes = 0
    for _ in range(rounds):
        payloads, sign_us, ctx = _stream(size, frames, params)
        verify_us, waits = _receive(payloads, config, on_stage, ctx)
        signs.append(sign_us)
        verifies.append(verify_us)
        proofs = [p for p in payloads if is_speaker_proof(p)]
        proof_bytes = sum(len(p) for p in proofs)
        wire_bytes = sum(len(encode_envelope(EnvelopeType.MEDIA, bytes(16), 1, p)) for p in proofs)
    sign_us, verify_us = statistics.median(signs), statistics.median(verifies)
    batch = params[0]
    crypto_ms = (sign_us + verify_us) * batch / 1000  # one signature and one verification

    def added_ms(wait: float) -> float:
        return wait * 1000 + crypto_ms if wait > 0 else 0.0  # a frame played first waits 0

    steady = [added_ms(w) for c, w in waits.items() if c >= batch]
    optimistic = on_stage and config.stage_mode == "optimistic"
    return {
        "mode": config.stage_mode if on_stage else "hold",
        "batch": batch,
        "parity": params[1],
        "auth_bytes_per_frame": round(proof_bytes / frames, 2),
        "auth_wire_bytes_per_frame": round(wire_bytes / frames, 2),
        "auth_latency_ms_max": round(max(steady), 2),
        "auth_latency_ms_mean": round(statistics.fmean(steady), 2),
        "auth_latency_ms_first_batch_max": round(
            max(added_ms(w) for c, w in waits.items() if c < batch), 2
        ),
        **({"auth_detect_ms": round(config.tentative_wait * 1000, 2)} if optimistic else {}),
        "auth_sign_us": round(sign_us, 2),
        "auth_verify_us": round(verify_us, 2),
        "auth_listener_cpu_4_speakers": round(4 * 50 * verify_us / 1e6 * 100, 3),
    }


def measure(
    size: int = 80, frames: int = 500, rounds: int = 9, progress: Progress | None = None
) -> dict[str, object]:
    """The defaults, then the hold stage mode (see module docstring)."""
    progress = progress or Progress("auth")
    config = AuthConfig()
    rows: dict[str, object] = {}
    for name, cfg, alone, on_stage in (
        ("stage", config, False, True),
        ("audience", config, True, False),
        ("audience_of_stage", config, False, False),
        ("stage_hold", STAGE_HOLD, False, True),
        ("audience_of_hold_stage", STAGE_HOLD, False, False),
    ):
        progress.phase(name, f"{rounds} rounds x {frames} frames")
        rows[name] = measure_class(cfg, alone, on_stage, size, frames, rounds)
    return {
        **rows,
        "frame_bytes": size,
        "method": f"median of {rounds} rounds x {frames} frames, time.perf_counter_ns",
    }


def run(args: argparse.Namespace) -> int:
    progress = Progress("auth")
    figures = measure(args.size, args.frames, args.rounds, progress)
    progress.done()
    if args.json:
        print(json.dumps(figures))
    else:
        print(json.dumps(figures, indent=2))
    return 0
