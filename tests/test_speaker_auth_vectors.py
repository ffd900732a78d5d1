"""Speaker-proof vectors (spec §15.6): generator, independent verifier, implementation."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

from e2ee.room import speaker_proof

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "spec" / "vectors"
VERIFIER = ROOT / "spec" / "verify_auth.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT)


def test_generator_reproduces_auth_json(tmp_path: Path) -> None:
    proc = run(str(ROOT / "spec" / "gen_auth_vectors.py"), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "auth.json").read_text() == (VECTORS / "auth.json").read_text()


def test_independent_verifier_passes_and_catches_a_wrong_byte(tmp_path: Path) -> None:
    proc = run(str(VERIFIER))
    assert proc.returncode == 0 and "0 failed" in proc.stdout, proc.stdout + proc.stderr
    shutil.copytree(VECTORS, tmp_path / "v")
    data = json.loads((tmp_path / "v" / "auth.json").read_text())
    p = data["valid"][1]["proof"]
    data["valid"][1]["proof"] = p[:-2] + ("00" if p[-2:] != "00" else "01")
    (tmp_path / "v" / "auth.json").write_text(json.dumps(data))
    proc = run(str(VERIFIER), "--vectors", str(tmp_path / "v"))
    assert proc.returncode == 1 and "MISMATCH" in proc.stdout


def test_independent_verifier_imports_nothing_from_the_repository() -> None:
    tops = set()
    for node in ast.walk(ast.parse(VERIFIER.read_text())):
        if isinstance(node, ast.Import):
            tops |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            tops.add(node.module.split(".")[0])
    assert tops - set(sys.stdlib_module_names) <= {"nacl", "cryptography", "__future__"}


def test_the_implementation_verifies_the_vector_proofs_after_the_stated_losses() -> None:
    data = json.loads((VECTORS / "auth.json").read_text())
    for v in data["valid"]:
        i = v["inputs"]
        room_id, member = bytes.fromhex(i["room_id"]), bytes.fromhex(v["member_id"])
        proof = speaker_proof.open_proof(
            bytes.fromhex(v["proof_key"]), i["epoch"], bytes.fromhex(v["proof"])
        )
        frames = [bytes.fromhex(f) for f in i["frames"]]
        known = {
            i["first"] + k: speaker_proof.frame_digest(f)
            for k, f in enumerate(frames)
            if k not in i["lost"]
        }
        digests = speaker_proof.recover_digests(proof, known)
        assert digests is not None and [d.hex() for d in digests] == v["digests"]
        speaker_proof.verify_proof(room_id, member, proof, digests)
