"""``hushroom bench auth --json`` runs and reports the spec's proof sizes (spec §15.6)."""

from __future__ import annotations

import json

import pytest

from client import cli


def test_bench_auth_json_reports_both_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "auth", "--json", "--frames", "100", "--rounds", "1"]) == 0
    figures = json.loads(capsys.readouterr().out)
    stage, audience = figures["stage"], figures["audience"]
    optimistic = figures["stage_optimistic"]
    # a proof is 10 + 2 + 32 r + 64 bytes: 34 stage proofs (n = 3 and a last n = 1, r = 1) for
    # 100 frames, 5 optimistic stage proofs (n = 20, r = 2), and 4 in the audience (n = 25, r = 3)
    assert stage["auth_bytes_per_frame"] == pytest.approx(34 * 108 / 100, abs=0.01)
    assert optimistic["auth_bytes_per_frame"] == pytest.approx(5 * 140 / 100, abs=0.01)
    assert audience["auth_bytes_per_frame"] == pytest.approx(4 * 172 / 100, abs=0.01)
    assert stage["auth_latency_ms_max"] >= 40.0  # the first frame of a batch waits 2 periods
    assert optimistic["auth_latency_ms_max"] == 0.0, "played first once the speaker is verified"
    assert optimistic["auth_latency_ms_first_batch_max"] >= 380.0  # held until then
    assert optimistic["auth_detect_ms"] == pytest.approx(500.0)
    assert audience["auth_latency_ms_max"] >= 480.0
    assert figures["audience_of_optimistic_stage"]["auth_latency_ms_max"] >= 380.0
    for cls in (stage, optimistic, audience):
        assert cls["auth_sign_us"] > 0 and cls["auth_verify_us"] > 0
