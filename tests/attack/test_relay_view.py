"""What the relay can tell apart, measured on a recorded session (spec §20, issue 8 item 11).

The session (:func:`attack.capture.record_session`) has joins, promotions, a
raised hand, chat, a kick with its re-key, a speaker's reconnect and a round
of beacons, all through the real router.  Each assertion below is one line of
§20's list of what remains visible; the insider column (``kinds_by_size``)
shows that a payload's size does not give its kind away.
"""

from __future__ import annotations

from functools import cache

from attack.capture import Capture, record_session, visible_metadata
from e2ee.envelope import EnvelopeType
from e2ee.room import seal


@cache
def recorded() -> tuple[Capture, dict[str, object]]:
    cap = record_session()
    return cap, visible_metadata(cap)


def test_reliable_payloads_show_only_a_padded_size_and_a_fresh_hint() -> None:
    _, seen = recorded()
    sizes = seen["reliable_sizes"]
    assert isinstance(sizes, list) and seen["reliable_sizes_all_padded"] is True
    assert set(sizes) <= {32 + n + 16 for n in (256, 512, 1024, 2048, 4096)}
    assert seen["repeated_hints"] == 0, "a hint repeated: payloads would be linkable"
    by_size = seen["kinds_by_size"]
    assert isinstance(by_size, dict)
    opened = {n: set(kinds) - {"unopened"} for n, kinds in by_size.items()}
    assert any("BEACON" in k for k in opened.values())
    for n, kinds in opened.items():
        assert len(kinds) >= 2, f"every {n}-byte payload is a {kinds}: the size tells the kind"


def test_every_broadcast_has_its_echo_so_commits_do_not_stand_out() -> None:
    cap, seen = recorded()
    kinds: dict[bytes, set[str]] = {}
    for env, kind in cap.relay.kinds:
        kinds.setdefault(env.payload, set()).add(kind)
    broadcast = {e.payload for _, e in cap.relay.up if e.type is EnvelopeType.CONTROL}
    commits = {p for p in broadcast if seal.Kind.COMMIT.name in kinds.get(p, set())}
    others = {p for p in broadcast if kinds.get(p, set()) - {seal.Kind.COMMIT.name, "unopened"}}
    assert commits and others, "the session has commits and other broadcasts"
    # every broadcast, commit or not, reaches its own sender in the room's order (§17.3),
    # and no member sends anything to its own slot: nothing marks a commit or its author
    assert seen["broadcasts_without_echo"] == 0
    assert seen["unicasts_to_own_slot"] == 0


def test_audio_headers_show_no_key_phase_and_no_counter() -> None:
    _, seen = recorded()
    assert seen["audio_frames"] and seen["speaker_proofs"]
    # a frame's first byte only says "not a proof"; its other 7 bits take many values per
    # speaker across a commit and a reconnect, not one per epoch phase (spec §15.4.1)
    assert seen["audio_first_bytes_below_0x80"] is True
    assert isinstance(seen["audio_first_byte_values_min"], int)
    assert seen["audio_first_byte_values_min"] >= 32
    assert isinstance(seen["proof_phase_byte_values_min"], int)
    # a stage batch of 20 frames gives a speaker few proofs in the session; unmasked, their
    # phase byte would take one value per epoch (at most 3 here)
    assert seen["proof_phase_byte_values_min"] >= 5
    for name in ("audio_counter_fields", "proof_first_fields"):
        field = seen[name]
        assert isinstance(field, dict)
        assert field["repeats"] == 0 and field["plus_one_steps"] == 0, name
        assert 0.3 <= field["rising_fraction"] <= 0.7, f"{name}: {field}"
