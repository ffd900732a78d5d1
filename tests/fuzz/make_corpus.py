"""Write the seed corpus ``tests/fuzz/corpus/<harness>/``: ``python -m tests.fuzz.make_corpus``.

Seeds come from the spec vectors (spec/vectors/*.json) and from the recorded
room (:mod:`scenario`), each wrapped in its harness's input format.  File
names are the SHA-1 of the content, as libFuzzer names its own finds, so
rerunning this is idempotent.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _vector_seeds() -> Iterator[tuple[str, bytes]]:
    from e2ee import canonical
    from e2ee.invite import Invite
    from e2ee.room import seal

    from .cursor import join_chunks
    from .vectors import hexval, load

    for group in ("valid", "invalid"):
        for case in load("canonical")[group]:
            if "encoding" in case:  # long values are stored as a hash and a prefix only
                yield "canonical", bytes.fromhex(case["encoding"])
    for name, field in (
        ("identity", "identity_file"),
        ("identity", "session_certificate"),
        ("room_snapshot", "snapshot"),
    ):
        yield "canonical", hexval(name, field)
    for case in load("invite")["cases"]:
        yield "invite", case["link"].encode()
        yield "invite", case["mistyped_link"].encode()
        yield "canonical", bytes.fromhex(case["payload"])
    host = ".".join(["a" * 63] * 3 + ["b" * 57])  # the longest authority with a 5-digit port
    yield "invite", Invite(host, 65535, bytes(32), bytes(32), bytes(range(32))).to_link().encode()
    env = load("envelope")
    streams = [
        bytes.fromhex(c["encoded"]) for g in ("valid", "invalid", "truncated") for c in env[g]
    ]
    for i, stream in enumerate(streams):
        yield "envelope", bytes((i % 3, 0)) + stream
        yield "envelope", bytes((i % 3, 3, 1, 25, 2)) + stream
    valid = b"".join(bytes.fromhex(c["encoded"]) for c in env["valid"])
    yield "envelope", bytes((0, 4, 26, 1, 100, 7)) + valid
    for case in load("sframe_header_rfc9605")["cases"]:
        yield "sframe_header", bytes.fromhex(case["header"])
    frames = load("frames")["cases"]
    for padded in (0, 1):
        mine = [bytes.fromhex(c["frame"]) for c in frames if int(c["padded"]) == padded]
        yield "frame", bytes((padded,)) + join_chunks(mine)
        yield "frame", bytes((padded | 2,)) + join_chunks(mine[::-1] + mine)
    for case in frames:
        yield "sframe_header", bytes.fromhex(case["header"])
    messages = [
        bytes.fromhex(m["message"]) for m in load("pairwise")["messages"] if m["from"] == "a"
    ]
    yield "pairwise", join_chunks(messages)
    yield "pairwise", join_chunks(messages[::-1] + messages)
    updates = [bytes.fromhex(s["update_next_counter_1000"]) for s in load("sender_key")["steps"]]
    yield "sender_key_update", join_chunks(updates)
    rp = load("room_payloads")
    yield "join_request", bytes.fromhex(rp["join_request"]["plaintext"])
    yield "canonical", bytes.fromhex(rp["join_request"]["session_certificate"])
    yield "welcome", bytes.fromhex(rp["welcome"]["plaintext"])
    yield "control", b"\0" + bytes.fromhex(rp["control"]["message"])
    yield "control", b"\1" + bytes.fromhex(rp["beacon"]["plaintext"])
    for part in ("commit_payload", "control", "join_request", "welcome", "beacon"):
        yield "room_payload", bytes.fromhex(rp[part]["payload"])
    sealed = bytes.fromhex(rp["welcome"]["payload"])
    chunk = seal.split_chunks(sealed, bytes(8))[0]
    adm, room_id = hexval("room_payloads", "admission_key"), hexval("room_payloads", "room_id")
    yield "room_payload", seal.seal_admission(adm, room_id, chunk, bytes, seal.Kind.SEALED_CHUNK)
    yield "room_payload", bytes.fromhex(rp["pairwise"]["payload"])
    commits = [bytes.fromhex(c["commit"]) for c in load("room_commits")["cases"]]
    commits.append(bytes.fromhex(rp["commit_payload"]["commit"]))
    for commit in commits:
        yield "commit", commit
        body = canonical.decode_array(commit, 2, "commit")[0]
        assert isinstance(body, bytes)
        yield "roster_ops", canonical.encode(canonical.decode_array(body, 7, "body")[5])
    snap = hexval("room_snapshot", "snapshot")
    yield "snapshot", b"\0" + snap
    body = canonical.decode_array(snap, 3, "snapshot")[0]
    assert isinstance(body, bytes)
    yield "snapshot", b"\1" + canonical.encode(canonical.decode_array(body, 5, "body")[4])


def _session_seeds() -> Iterator[tuple[str, bytes]]:
    from e2ee.envelope import RELAY_TYPES, EnvelopeType, encode_envelope
    from e2ee.room import seal

    from .scenario import _invite, recorded
    from .target_session import FLIP, NEXT, PICK, RAW, RUN, WAIT

    control = sorted(RELAY_TYPES).index(EnvelopeType.UNICAST)
    for index, script in enumerate(recorded()):
        n = len(script)
        stream = b"".join(
            encode_envelope(
                d.envelope.type, d.envelope.room_tag, d.envelope.slot, d.envelope.payload
            )
            for d in script
        )
        yield "envelope", bytes((2, 5, 26, 1, 200, 13, 64)) + stream  # as the client decodes it
        yield "session", bytes((index,)) + bytes((RUN, 15)) * (n // 16 + 1)
        yield "session", bytes((index,)) + bytes((NEXT,)) * n
        yield "session", bytes((index, RUN, 15, WAIT, 255, PICK, 3, PICK, 2, RUN, 15, RUN, 15))
        flips = b"".join(bytes((FLIP, 0, i * 7 % 256, i % 8)) for i in range(n))
        yield "session", bytes((index,)) + flips
        # a two-piece SEALED_CHUNK transfer (spec §13.4) of a junk sealed payload
        inv = _invite()
        pieces = [
            seal.seal_admission(inv.admission_key, inv.room_id, body, bytes, seal.Kind.SEALED_CHUNK)
            for body in (b"transfer" + bytes((0, i, 0, 2)) + bytes(90) for i in range(2))
        ]
        raw = b"".join(bytes((RAW, control, 1, 2)) + len(p).to_bytes(2, "big") + p for p in pieces)
        yield "session", bytes((index, NEXT)) + raw


def main() -> None:
    sys.path.insert(0, str(HERE.parent))
    from fuzz.run import HARNESSES

    written = 0
    for harness, seed in (*_vector_seeds(), *_session_seeds()):
        assert harness in HARNESSES, harness
        folder = HERE / "corpus" / harness
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / hashlib.sha1(seed).hexdigest()
        if not path.exists():
            path.write_bytes(seed)
            written += 1
    print(f"{written} new seed files")


if __name__ == "__main__":
    main()
