"""The test vectors (spec §21): independent verifier, regeneration, and KATs against e2ee/."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from e2ee import identity, invite
from e2ee.frame import FrameReceiver
from e2ee.pairwise import PairwiseChannel
from e2ee.sender_key import SenderKey

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "spec" / "vectors"
VERIFIER = ROOT / "spec" / "verify_vectors.py"


def _load(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((VECTORS / name).read_text())


def test_verifier_passes_on_the_committed_vectors() -> None:
    proc = subprocess.run([sys.executable, str(VERIFIER)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "checks passed" in proc.stdout
    for name in (
        "canonical",
        "identity",
        "invite",
        "pairwise",
        "sender_key",
        "frames",
        "rfc9605",
    ):
        assert name in proc.stdout


def test_verifier_catches_a_wrong_byte(tmp_path: Path) -> None:
    shutil.copytree(VECTORS, tmp_path / "v")
    frames = json.loads((tmp_path / "v" / "frames.json").read_text())
    f = frames["cases"][3]["frame"]
    frames["cases"][3]["frame"] = f[:-2] + ("00" if f[-2:] != "00" else "01")
    (tmp_path / "v" / "frames.json").write_text(json.dumps(frames))
    proc = subprocess.run(
        [sys.executable, str(VERIFIER), "--vectors", str(tmp_path / "v")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "MISMATCH" in proc.stdout and "FAILED" in proc.stdout


def test_verifier_shares_no_code_with_e2ee() -> None:
    tree = ast.parse(VERIFIER.read_text())
    tops = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            tops.add(node.module.split(".")[0])
    third_party = tops - set(sys.stdlib_module_names)
    assert third_party <= {"nacl", "cryptography", "__future__"}, third_party


def test_generator_reproduces_the_committed_vectors(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "spec" / "gen_vectors.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    generated = sorted(p.name for p in tmp_path.glob("*.json"))
    assert generated
    for name in generated:
        assert (tmp_path / name).read_text() == (VECTORS / name).read_text(), name


def test_kat_identity() -> None:
    v = _load("identity.json")
    key = identity.IdentityKey.from_file_bytes(bytes.fromhex(v["identity_file"]))
    assert key.public.hex() == v["identity_public"]
    label = v["signature_label"].encode()
    assert key.sign(label, bytes.fromhex(v["message"])).hex() == v["signature"]
    assert identity.safety_code(key.public) == v["safety_code"]
    cert = identity.SessionCertificate.decode(bytes.fromhex(v["session_certificate"]))
    assert cert.session_public.hex() == v["session_public"]


@pytest.mark.parametrize("case", _load("invite.json")["cases"], ids=lambda c: c["host"])
def test_kat_invite(case: dict) -> None:  # type: ignore[type-arg]
    inv = invite.Invite.from_link(case["link"])
    assert inv.room_secret.hex() == case["room_secret"]
    assert inv.secrets().room_tag.hex() == case["room_tag"]
    assert inv.secrets().room_id.hex() == case["room_id"]
    with pytest.raises(invite.RemoteProtocolError) as exc:
        invite.Invite.from_link(case["mistyped_link"])
    assert exc.value.code.name == case["mistyped_error"]


def test_kat_pairwise_messages_open() -> None:
    v = _load("pairwise.json")
    sb = identity.SessionKey(bytes.fromhex(v["b_session_private"]))
    b = PairwiseChannel(
        room_id=bytes.fromhex(v["room_id"]),
        my_identity=bytes.fromhex(v["b_identity"]),
        my_session=sb,
        peer_identity=bytes.fromhex(v["a_identity"]),
        peer_session=bytes.fromhex(v["a_session_public"]),
    )
    from_a = [m for m in v["messages"] if m["from"] == "a"]
    for m in from_a:
        assert b.open(bytes.fromhex(m["message"])).hex() == m["plaintext"]


def test_kat_frames_open() -> None:
    v = _load("frames.json")
    key = SenderKey(v["kid"], v["epoch"], bytes.fromhex(v["secret"]))
    for case in v["cases"]:
        rx = FrameReceiver(
            room_id=bytes.fromhex(v["room_id"]),
            sender_id=bytes.fromhex(v["sender_id"]),
            padded=case["padded"],
        )
        rx.add_key(key, int(case["counter"]))
        out = rx.unprotect(bytes.fromhex(case["frame"]), 0.0)
        assert (out.counter, out.payload.hex()) == (int(case["counter"]), case["payload"])
