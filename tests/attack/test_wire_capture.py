"""No name, chat, key, fingerprint, safety code, secret, invite, Opus or PCM reaches the relay.

Spec §20 lists what the relay sees; everything else travels inside the
encryption.  The capture (tests/attack/capture.py) records a whole session
through the real router: every envelope both ways, every value reachable from
the router's state, its stats and every log record.
"""

from __future__ import annotations

import logging
import random

import pytest

from attack.capture import blob, encodings, find_leaks, record_session, visible_metadata


def test_no_secret_appears_on_the_wire_or_at_the_relay(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        cap = record_session()
    logs = [r.getMessage() for r in caplog.records] + [repr(r.__dict__) for r in caplog.records]
    looked_for = {label.split(" ")[0] for label in cap.secrets}
    assert looked_for >= {"chat", "room", "invite", "name", "identity", "fingerprint", "session"}
    assert looked_for >= {"opus", "pcm"}
    assert sum(label.startswith("room safety code") for label in cap.secrets) >= 4
    assert find_leaks(cap.secrets, blob(cap.wire())) == []
    assert find_leaks(cap.secrets, blob(cap.relay_values)) == []
    assert find_leaks(cap.secrets, blob(logs)) == []
    seen = visible_metadata(cap)
    assert seen["audio_frames"] == sum(1 for k in cap.secrets if k.startswith("opus frame"))
    assert seen["speaker_proofs"] > 0, "the frames travel with their speakers' proofs"


def test_the_leak_finder_finds_every_encoding_it_claims() -> None:
    rng = random.Random(11)
    for secret in (bytes(range(40)), "Zoë Quartermain"):
        for form, needle in encodings(secret).items():
            haystack = rng.randbytes(300) + needle + rng.randbytes(300)
            assert f"s as {form}" in find_leaks({"s": secret}, haystack)
            assert find_leaks({"s": secret}, haystack.replace(needle, b"")) == []
