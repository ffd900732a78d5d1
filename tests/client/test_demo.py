"""``hushroom demo`` end to end: in-process relay, five clients, checks on what the relay saw."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from client import cli
from client.demo import run_demo


async def test_demo_runs_and_the_relay_sees_nothing_in_clear(tmp_path: Path) -> None:
    lines: list[str] = []
    old_umask = os.umask(0)  # the recordings stay private even so
    try:
        result = await run_demo(tmp_path / "out", 1.0, lines.append)
    finally:
        os.umask(old_umask)
    out = tmp_path / "out"
    for folder in (out, out / "speakers"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE((out / "room.wav").stat().st_mode) == 0o600
    assert result.leaks == 0  # no display name or identity key in any byte to or from the relay
    assert result.audio_in_clear == 0  # no Opus packet either
    summary = "\n".join(result.relay_summary)
    assert "(display names, identity keys): 0 found" in summary
    searched = next(line for line in result.relay_summary if "Opus packets" in line)
    assert int(searched.split("searched for ")[1].split()[0]) >= 100  # packets were looked for
    assert searched.endswith(": 0 found in clear")
    assert set(result.correlations) == {"Bob", "Carol", "Dave"}
    assert result.seconds_recorded > 1.0
    assert (out / "room.wav").stat().st_size > 48_000 * 2  # more than a second of audio
    log = "\n".join(lines)
    assert "Dave raises his hand" in log and "Dave Dixon is now a speaker" in log


@pytest.mark.load
def test_demo_command_passes_its_quality_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["demo", "--out", str(tmp_path), "--seconds", "1"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "=== what the relay saw ===" in out
    assert " 0 found in clear" in out
    for name in ("Bob", "Carol", "Dave"):
        line = next(line for line in out.splitlines() if line.strip().startswith(f"{name}: "))
        assert float(line.split(":")[1]) >= 0.9
