"""``hushroom bench crypto --json`` prints one JSON object with the issue's fields."""

from __future__ import annotations

import json

import pytest

from client import cli


def test_bench_crypto_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "crypto", "--json", "--batches", "3", "--batch", "20"]) == 0
    figures = json.loads(capsys.readouterr().out)
    for name in ("overhead_bytes", "protect_us", "unprotect_us", "floor_us", "ratio"):
        assert name in figures
    assert figures["overhead_bytes"] == 19  # 1 config byte + 2-byte CTR (10,000) + 16-byte tag
    assert figures["floor_us"] > 0
    expected = (figures["protect_us"] + figures["unprotect_us"]) / (2 * figures["floor_us"])
    assert figures["ratio"] == pytest.approx(expected, rel=0.01)
