"""The room vectors (spec §21) are reproducible and pass the independent checker."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "spec"))

import verify_room  # noqa: E402


def test_committed_room_vectors_verify() -> None:
    assert verify_room.verify(ROOT / "spec" / "vectors") == 0


def test_generator_reproduces_the_committed_vectors(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "spec" / "gen_room_vectors.py"), "--out", str(tmp_path)],
        check=True,
        cwd=ROOT,
    )
    for new in tmp_path.glob("room_*.json"):
        assert new.read_text() == (ROOT / "spec" / "vectors" / new.name).read_text()


def test_checker_catches_a_wrong_byte(tmp_path: Path) -> None:
    for f in (ROOT / "spec" / "vectors").glob("room_*.json"):
        shutil.copy(f, tmp_path / f.name)
    path = tmp_path / "room_commits.json"
    data = json.loads(path.read_text())
    sig = data["cases"][1]["signature"]
    data["cases"][1]["signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]
    path.write_text(json.dumps(data))
    assert verify_room.verify(tmp_path) == 1
