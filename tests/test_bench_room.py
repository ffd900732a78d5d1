"""``hushroom bench room`` (client/bench/room.py) on the real relay router.

The default suite runs a small room and checks what the bench reports, not
how fast: every field is there, the critical path is the sum of its parts and
no more than all the CPU the kick cost, the kicked members hear nothing.
Under ``-m load`` a 1,000-member room is held to the re-key goals scaled from
5,000 members (spec §16.6).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import pytest

from client.bench import room, room_work


def bench(capsys: pytest.CaptureFixture[str], members: int, samples: int) -> dict[str, Any]:
    args = argparse.Namespace(members=members, speakers=2, samples=samples, batch=50, json=True)
    assert room.run(args) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_a_small_room_reports_a_critical_path_within_the_kick(
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = bench(capsys, members=40, samples=3)
    assert r["members"] == 40 and r["speakers"] == 2
    assert r["victim_frames_after_kick"] == 0
    parts = (r["critical_moderator_ms"], r["critical_relay_ms"], r["critical_slowest_member_us"])
    assert all(p > 0 for p in parts)
    assert r["critical_path_ms"] == pytest.approx(parts[0] + parts[1] + parts[2] / 1000, abs=0.2)
    for path, total in zip(r["critical_path_ms_samples"], r["kick_rekey_ms_samples"], strict=True):
        assert path <= total
    assert r["commit_bytes"] == 293  # an ADD commit: independent of the room's size
    assert r["rekey_bytes_delivered"] > r["rekey_bytes_total"]


@pytest.mark.load
def test_critical_path_and_admission_goals_at_one_thousand_members(
    capsys: pytest.CaptureFixture[str],
) -> None:
    r = bench(capsys, members=1000, samples=15)
    assert r["admit_ms_per_member"] <= 5
    assert r["critical_path_ms"] <= 150 * 1000 / 5000


@pytest.mark.load
@pytest.mark.xfail(
    strict=True,
    reason="one Ed25519 check and the Python around it cost ~200 us per member on this machine",
)
def test_kick_rekey_goal_at_one_thousand_members(capsys: pytest.CaptureFixture[str]) -> None:
    r = bench(capsys, members=1000, samples=3)
    assert r["kick_rekey_ms"] <= 600 * 1000 / 5000


def test_room_work_counts_one_commit_check_per_member(capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m client.bench.room_work``: bytecodes and calls per member re-keyed."""
    assert room_work.main(["--members", "12", "--kicks", "2"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["members"] == 12 and r["kicks"] == 2
    assert len(r["bytecodes_per_member"]) == len(r["calls_per_member"]) == 2
    pairs = zip(r["bytecodes_per_member"], r["calls_per_member"], strict=True)
    assert all(b > c > 0 for b, c in pairs)
    calls = r["calls"]
    # each member re-keyed (10, then 9) checks the kick commit once, and so do
    # the moderator (its own copy) and the kicked member: 2 more per kick
    expected = (12 / 10 + 11 / 9) / 2
    assert calls["room/commit.py:decode_commit"] == pytest.approx(expected, abs=0.01)
    assert calls["e2ee/identity.py:verify_signature"] == pytest.approx(expected, abs=0.01)


#: Python bytecodes per member re-keyed by a kick, all parties counted, at 24
#: members (room_work's deterministic measure of kick_rekey_ms's loop).  The
#: tree this bound was set on runs 6,500 to 6,800 (the tree before it 8,200 to
#: 8,700): a change that puts Python back on the per-member path fails here.
MAX_BYTECODES_PER_MEMBER = 7_200


def test_a_kick_re_keys_each_member_within_its_python_budget() -> None:
    r = room_work.count_kicks(24, 3)
    assert max(r["bytecodes_per_member"]) <= MAX_BYTECODES_PER_MEMBER, r["top"][:10]
    calls = r["calls"]
    # one decode of the commit (each array once), no generic subset walk of a
    # decoded re-key message, and no enum constructed per member
    assert calls["room/commit.py:_well_formed"] == pytest.approx(
        calls["room/commit.py:decode_commit"]
    )
    assert "room/commit.py:_checked" not in calls
    assert "e2ee/canonical.py:_check_decoded" not in calls
    assert not [name for name in calls if name.endswith("enum.py:__call__")]
    # per member: K_e, then C_e of the epoch before when the next kick opens (one HKDF each)
    assert calls["e2ee/kdf.py:hkdf"] <= 2.0
    # hints: one to seal each payload; on receipt the commit's matches the first
    # candidate key, the re-key secret's the third
    assert calls["room/seal.py:hint"] <= 5.0
