"""``hushroom demo`` end to end: in-process relay, five clients, checks on what the relay saw."""

from __future__ import annotations

from pathlib import Path

import pytest

from client import cli


def test_demo_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["demo", "--out", str(tmp_path), "--seconds", "1"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "=== what the relay saw ===" in out
    assert "(display names, identity keys): 0 found" in out
    assert "found in clear" in out and " 0 found in clear" in out
    for name in ("Bob", "Carol", "Dave"):
        line = next(line for line in out.splitlines() if line.strip().startswith(f"{name}: "))
        assert float(line.split(":")[1]) >= 0.9
    assert (tmp_path / "room.wav").stat().st_size > 48_000 * 2  # more than a second of audio
    assert "Dave raises his hand" in out and "Dave Dixon is now a speaker" in out
