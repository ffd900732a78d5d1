"""`hushroom devices`, the device flags and the saved recording, through the real entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from client import cli
from tests.client.cli_support import free_port, invite_for, missing_audio_part, one_error_line
from tests.client.test_cli_client import relay_process

__all__ = ["relay_process"]  # the fixture, shared with the other command-line tests


def test_devices_without_the_extra_names_the_install_and_the_system_package(
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = missing_audio_part()
    assert cli.main(["devices"]) == 1
    line = one_error_line(capsys)
    assert "libportaudio2" in line
    if missing == "sounddevice":
        assert "pip install -e '.[mic]'" in line
    else:  # the extra is there: only the system package is named
        assert "apt-get install libportaudio2" in line


def test_input_device_with_a_file_source_is_a_bad_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["join", invite_for(free_port()), "--home", str(tmp_path), "--tone"]
    assert cli.main([*argv, "--input-device", "2", "--plain"]) == 2
    assert "--input-device picks a microphone" in one_error_line(capsys)


def test_input_device_without_sound_devices_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing_audio_part()
    argv = ["join", invite_for(free_port()), "--home", str(tmp_path), "--input-device", "USB"]
    assert cli.main([*argv, "--plain"]) == 1
    assert "libportaudio2" in one_error_line(capsys)


def test_the_saved_recording_is_named_on_exit(
    relay_process: tuple[int, str], tmp_path: Path
) -> None:
    port, pin = relay_process
    wav = tmp_path / "room.wav"
    argv = ["room", "create", "--relay", f"127.0.0.1:{port}", f"--pin={pin}", "--plain"]
    argv += ["--home", str(tmp_path / "a"), "--record", str(wav), "--duration", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "client", *argv], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[-1] == f"recording saved to {wav.resolve()}"
    assert wav.stat().st_size > 44  # a WAV header and some audio
