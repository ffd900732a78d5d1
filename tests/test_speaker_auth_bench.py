"""``hushroom bench auth --json`` runs and reports the spec's proof sizes (spec §15.6)."""

from __future__ import annotations

import json

import pytest

from client import cli


def test_bench_auth_json_reports_the_defaults_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "auth", "--json", "--frames", "100", "--rounds", "1"]) == 0
    figures = json.loads(capsys.readouterr().out)
    stage, audience, hold = figures["stage"], figures["audience"], figures["stage_hold"]
    assert list(figures)[:3] == ["stage", "audience", "audience_of_stage"]
    assert (stage["mode"], stage["batch"], stage["parity"]) == ("optimistic", 20, 2)
    # a proof is 10 + 2 + 32 r + 64 bytes: 5 stage proofs (n = 20, r = 2) for 100 frames,
    # 4 in the audience (n = 25, r = 3), 34 hold-mode stage proofs (n = 3 and a last n = 1)
    assert stage["auth_bytes_per_frame"] == pytest.approx(5 * 140 / 100, abs=0.01)
    assert audience["auth_bytes_per_frame"] == pytest.approx(4 * 172 / 100, abs=0.01)
    assert hold["auth_bytes_per_frame"] == pytest.approx(34 * 108 / 100, abs=0.01)
    assert stage["auth_latency_ms_max"] == 0.0, "played first once the speaker is verified"
    assert stage["auth_latency_ms_first_batch_max"] >= 380.0  # held until then
    assert stage["auth_detect_ms"] == pytest.approx(800.0)  # tentative_wait: 20 frames + 0.4 s
    assert audience["auth_latency_ms_max"] >= 480.0
    assert figures["audience_of_stage"]["auth_latency_ms_max"] >= 380.0
    assert hold["auth_latency_ms_max"] >= 40.0  # the first frame of a batch waits 2 periods
    assert figures["audience_of_hold_stage"]["batch"] == 3
    for cls in (stage, audience, hold):
        assert cls["auth_sign_us"] > 0 and cls["auth_verify_us"] > 0
