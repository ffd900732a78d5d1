"""``hushroom relay --print-pin`` and a tiny ``hushroom bench fanout`` smoke run (proofs on)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from client import cli
from relay.state import load_or_create
from relay.wire.pin import decode_pin


def test_print_pin_creates_the_key_once_and_prints_base64url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    assert cli.main(["relay", "--state-dir", str(state), "--print-pin"]) == 0
    first = capsys.readouterr().out.strip()
    assert cli.main(["relay", "--state-dir", str(state), "--print-pin"]) == 0
    assert capsys.readouterr().out.strip() == first
    assert len(first) == 43 and decode_pin(first) == load_or_create(state).pin


def test_bad_listen_address_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["relay", "--state-dir", str(tmp_path), "--listen", "nonsense"])
    assert status == 1
    assert capsys.readouterr().err.startswith("hushroom: error: expected HOST:PORT")


def test_world_readable_key_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ident = load_or_create(tmp_path)
    ident.key_path.chmod(0o644)
    assert cli.main(["relay", "--state-dir", str(tmp_path), "--print-pin"]) == 1
    assert "chmod 600" in capsys.readouterr().err


def test_decode_pin_rejects_wrong_lengths() -> None:
    with pytest.raises(ValueError):
        decode_pin("abc")


def test_fanout_bench_smoke() -> None:
    """A real relay process and load processes: 2 speakers, 20 listeners, 1 s, proofs on."""
    from client.bench import fanout
    from client.bench.progress import Progress

    parser = argparse.ArgumentParser()
    fanout.register(parser)
    args = parser.parse_args(["--speakers", "2", "--listeners", "20", "--seconds", "1"])
    result = fanout.measure(args, Progress("fanout"))
    # What the run did, not how fast: delivery and latency goals are load tests
    # (tests/test_load_fanout.py) and bench figures, not default-suite thresholds.
    assert result["listeners"] == 20 and result["speakers"] == 2
    assert result["audience_samples"] > 0 and result["delivered_ratio"] > 0
    assert result["forwarded_fps"] > 0
    assert result["audience_p99_ms"] >= result["audience_p50_ms"]
    # A room's defaults: a real frame's payload, optimistic mode, a proof per stage batch.
    assert result["payload_bytes"] == fanout.media_payload_len()
    auth = (result["auth"], result["auth_batch"], result["proof_payload_bytes"])
    assert auth == ("optimistic", 20, 140)
    frames, proofs, batch = result["frames_sent"], result["proofs_sent"], result["auth_batch"]
    assert (proofs - 2) * batch < frames <= proofs * batch  # one per batch, each partial one too
    # Proofs reach the other speaker and the sampled listeners; the byte count
    # the delivered ratio compares with includes them (without: about 1.3).
    assert 0 < result["proofs_heard_on_stage"] <= proofs
    assert 0 < result["proofs_heard_sampled"] <= proofs * result["sampled_links"]
    assert result["delivered_ratio"] <= 1.0


@pytest.mark.parametrize(
    ("mode", "speakers", "expected"),
    [
        ("off", 4, (0, 0, 0)),
        ("hold", 4, (3, 1, 108)),  # the stage batch while others are on stage
        ("optimistic", 4, (20, 2, 140)),
        ("hold", 1, (25, 3, 172)),  # alone on stage: the audience batch
        ("optimistic", 1, (25, 3, 172)),
    ],
)
def test_fanout_auth_plan_is_the_rooms_batch_and_proof_size(
    mode: str, speakers: int, expected: tuple[int, int, int]
) -> None:
    """Spec §15.6: a proof is a 10-byte header, n and r, r 32-byte parities, a signature."""
    from client.bench.fanout import auth_plan
    from e2ee.room.speaker_proof import is_speaker_proof, open_proof

    plan = auth_plan(mode, speakers)
    assert (plan.batch, plan.parity, len(plan.proof)) == expected
    if plan.batch:  # a real proof of a whole batch, under the plan's zero proof key
        opened = open_proof(bytes(32), 0, plan.proof)
        assert is_speaker_proof(plan.proof) and (opened.n, len(opened.parity)) == expected[:2]


def test_fanout_default_payload_is_a_protected_38_kbit_frame() -> None:
    """95-byte CBR packet -> 96-byte bucket, + 16-byte tag, + 3-byte SFrame header (spec §11)."""
    from client.bench.fanout import media_payload_len

    assert media_payload_len() == 96 + 16 + 3


def test_fanout_auth_flag_defaults_to_optimistic_and_refuses_other_modes() -> None:
    from client.bench import fanout

    parser = argparse.ArgumentParser()
    fanout.register(parser)
    assert parser.parse_args([]).auth == "optimistic" and parser.parse_args([]).payload is None
    assert parser.parse_args(["--auth", "off"]).auth == "off"
    with pytest.raises(SystemExit):
        parser.parse_args(["--auth", "sometimes"])


async def test_relay_process_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    """``hushroom relay`` as a real process: pin printed, SIGTERM -> SHUTTING_DOWN, exit 0."""
    import signal
    import subprocess
    import sys

    import trio

    from client.link import RelayClosed, connect_relay
    from e2ee.envelope import EnvelopeType, RelayErrorCode

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "client",
            "relay",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            str(tmp_path / "state"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = await trio.to_thread.run_sync(proc.stdout.readline)
        assert line.startswith("hushroom relay listening on 127.0.0.1:")
        port = int(line.split()[4].rsplit(":", 1)[1])
        pin = decode_pin(line.split()[-1])
        assert pin == load_or_create(tmp_path / "state").pin
        link = await connect_relay("127.0.0.1", port, pin)
        await link.send_envelope(EnvelopeType.JOIN, bytes(16), 0, b"\x01")
        assert (await link.receive())[0].type == EnvelopeType.WELCOME
        proc.send_signal(signal.SIGTERM)
        with pytest.raises(RelayClosed) as exc:
            while True:
                await link.receive()
        assert exc.value.code == RelayErrorCode.SHUTTING_DOWN
        status = await trio.to_thread.run_sync(proc.wait, 10)
        assert status == 0
        assert proc.stderr is not None
        log = proc.stderr.read()
        assert "127.0.0.1" not in log  # no client address without --debug
        assert bytes(16).hex() not in log
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
