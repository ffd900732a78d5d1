"""Identity on disk and ``hushroom id``: 0600, atomic, rotation with confirmation."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from client import cli
from client.errors import CliError
from client.home import resolve_home
from client.identity_store import IdentityStore


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_created_identity_is_private_and_reloads(tmp_path: Path) -> None:
    store = IdentityStore(tmp_path / "home")
    first = store.load_or_create()
    assert mode(store.path) == 0o600
    assert mode(store.home) == 0o700
    again = IdentityStore(tmp_path / "home").load_or_create()
    assert again.public == first.public


def test_world_readable_identity_is_refused(tmp_path: Path) -> None:
    store = IdentityStore(tmp_path)
    store.create()
    os.chmod(store.path, 0o644)
    with pytest.raises(CliError, match="chmod 600"):
        store.load()


def test_corrupt_identity_is_one_clear_error(tmp_path: Path) -> None:
    store = IdentityStore(tmp_path)
    store.create()
    store.path.write_bytes(b"garbage")
    os.chmod(store.path, 0o600)
    with pytest.raises(CliError, match="not a valid Hushroom identity"):
        store.load()


def test_home_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUSHROOM_HOME", str(tmp_path / "env"))
    assert resolve_home(None) == tmp_path / "env"
    assert resolve_home(str(tmp_path / "flag")) == tmp_path / "flag"
    monkeypatch.delenv("HUSHROOM_HOME")
    assert "hushroom" in str(resolve_home(None))


def test_id_command_prints_fingerprint_and_safety_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["id", "--home", str(tmp_path)]) == 0
    out1 = capsys.readouterr().out
    assert cli.main(["id", "--home", str(tmp_path)]) == 0
    out2 = capsys.readouterr().out
    assert out1 == out2  # same identity the second time
    code_line = next(line for line in out1.splitlines() if line.startswith("safety code:"))
    groups = code_line.split(":", 1)[1].split()
    assert len(groups) == 6 and all(len(g) == 5 and g.isdigit() for g in groups)


def test_id_new_needs_confirmation_when_not_interactive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["id", "--home", str(tmp_path)]) == 0
    before = capsys.readouterr().out
    status = cli.main(["id", "--home", str(tmp_path), "--new"])
    err = capsys.readouterr().err
    assert status == 1 and "--yes" in err and "Traceback" not in err
    assert cli.main(["id", "--home", str(tmp_path), "--new", "--yes"]) == 0
    after = capsys.readouterr().out
    assert after.splitlines()[1] != before.splitlines()[0]
    fp_before = before.splitlines()[0]
    fp_after = next(line for line in after.splitlines() if line.startswith("fingerprint"))
    assert fp_before != fp_after
    assert mode(tmp_path / "identity.previous") == 0o600
