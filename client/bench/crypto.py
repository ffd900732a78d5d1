"""``hushroom bench crypto``: per-frame protect/unprotect cost and bytes added (spec §11).

Definitions (issue 2):

* ``overhead_bytes`` — bytes added to an 80-byte Opus frame at counter 10,000 with
  padding off (SFrame header + 16-byte tag).
* ``protect_us`` / ``unprotect_us`` — median microseconds per frame.
* ``floor_us`` — median of one bare ``cryptography`` ChaCha20Poly1305 encrypt of
  the same size, measured in the same run.
* ``ratio`` — (protect_us + unprotect_us) / (2 x floor_us).

Medians are over batches (each batch times ``--batch`` calls and divides), so
one descheduling does not skew the figure.  Pairwise-channel seal/open costs
(spec §9) are reported too, and the speaker-authentication figures of
``hushroom bench auth`` (spec §15.6) with a ``_stage`` / ``_audience`` suffix.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from client.bench import auth
from client.bench.progress import Progress
from client.commands.common import positive_int
from e2ee.frame import FrameReceiver, FrameSender
from e2ee.identity import SessionKey
from e2ee.pairwise import PairwiseChannel
from e2ee.sender_key import SenderKey

HELP = "per-frame protect/unprotect cost and bytes added (spec: Frame protection)"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--size", type=positive_int, default=80, help="Opus frame size in bytes")
    parser.add_argument("--batches", type=positive_int, default=60, help="timed batches per figure")
    parser.add_argument("--batch", type=positive_int, default=500, help="calls per batch")


def _median_us(batches: int, batch: int, make_call: Callable[[], Callable[[], object]]) -> float:
    samples = []
    for _ in range(batches):
        call = make_call()
        start = time.perf_counter_ns()
        for _ in range(batch):
            call()
        samples.append((time.perf_counter_ns() - start) / batch / 1000)
    return statistics.median(samples)


def measure(
    size: int = 80, batches: int = 60, batch: int = 500, progress: Progress | None = None
) -> dict[str, float | int | str]:
    """Run the benchmark and return the figures (see module docstring)."""
    progress = progress or Progress("crypto")
    progress.phase("timing frame protection", f"{batches} batches x {batch} calls")
    room, sender = os.urandom(32), os.urandom(32)
    payload = os.urandom(size)
    key = SenderKey.fresh(os.urandom, epoch=1)
    start_ctr = 10_000
    tx = FrameSender(key, room_id=room, sender_id=sender, padded=False, next_counter=start_ctr)
    rx = FrameReceiver(room_id=room, sender_id=sender, padded=False, max_jump=1 << 40)
    rx.add_key(key, start_ctr)
    overhead = len(tx.protect(payload)) - size

    aead = ChaCha20Poly1305(os.urandom(32))
    nonce = bytes(12)
    floor_us = _median_us(batches, batch, lambda: lambda: aead.encrypt(nonce, payload, None))
    protect_us = _median_us(batches, batch, lambda: lambda: tx.protect(payload))

    def unprotect_batch() -> Callable[[], object]:
        frames = iter([tx.protect(payload) for _ in range(batch)])
        return lambda: rx.unprotect(next(frames), 0.0)

    unprotect_us = _median_us(batches, batch, unprotect_batch)

    ida, idb = os.urandom(32), os.urandom(32)
    sa, sb = SessionKey.generate(os.urandom), SessionKey.generate(os.urandom)
    a = PairwiseChannel(
        room_id=room, my_identity=ida, my_session=sa, peer_identity=idb, peer_session=sb.public
    )
    pw_batches = max(5, batches // 4)
    message = os.urandom(100)
    progress.phase("timing pairwise channels")
    pairwise_seal_us = _median_us(pw_batches, batch, lambda: lambda: a.seal(message))

    def open_batch() -> Callable[[], object]:
        sender_side = PairwiseChannel(
            room_id=room, my_identity=ida, my_session=sa, peer_identity=idb, peer_session=sb.public
        )
        receiver_side = PairwiseChannel(
            room_id=room, my_identity=idb, my_session=sb, peer_identity=ida, peer_session=sa.public
        )
        msgs = iter([sender_side.seal(message) for _ in range(batch)])
        return lambda: receiver_side.open(next(msgs))

    pairwise_open_us = _median_us(pw_batches, batch, open_batch)
    setup_us = _median_us(
        max(3, batches // 20),
        50,
        lambda: (
            lambda: PairwiseChannel(
                room_id=room,
                my_identity=ida,
                my_session=sa,
                peer_identity=idb,
                peer_session=sb.public,
            )
        ),
    )
    speaker_auth = auth.measure(size, frames=300, rounds=max(3, batches // 20), progress=progress)
    auth_figures = {
        f"{name}_{cls}": value
        for cls in ("stage", "audience")
        for name, value in speaker_auth[cls].items()  # type: ignore[attr-defined]
        if name.startswith("auth_")
    }
    return {
        **auth_figures,
        "frame_bytes": size,
        "counter": start_ctr,
        "overhead_bytes": overhead,
        "protect_us": round(protect_us, 3),
        "unprotect_us": round(unprotect_us, 3),
        "floor_us": round(floor_us, 3),
        "ratio": round((protect_us + unprotect_us) / (2 * floor_us), 3),
        "pairwise_seal_us": round(pairwise_seal_us, 3),
        "pairwise_open_us": round(pairwise_open_us, 3),
        "pairwise_setup_us": round(setup_us, 3),
        "method": f"median of {batches} batches x {batch} calls, time.perf_counter_ns",
    }


def run(args: argparse.Namespace) -> int:
    progress = Progress("crypto")
    figures = measure(args.size, args.batches, args.batch, progress)
    progress.done()
    if args.json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            print(f"{name:>18}: {value}")
    return 0
