"""Generate spec/vectors/*.json from fixed seeds with this repository's e2ee/ (spec §21).

Run from the repository root:  .venv/bin/python spec/gen_vectors.py
Every random input comes from SHAKE-256 of a fixed label, so the output is
reproducible byte for byte.  spec/verify_vectors.py re-checks every value
without importing e2ee/.  (The RFC 9605 header vectors are not generated:
they are copied from the RFC.)
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from e2ee import canonical, frame, identity, invite, kdf, padding, pairwise, xchacha  # noqa: E402
from e2ee.room import labels as room_labels  # noqa: E402
from e2ee.sender_key import SenderKey, frame_key_and_salt  # noqa: E402
from e2ee.sframe_header import encode_header  # noqa: E402

OUT = ROOT / "spec" / "vectors"


def seeded(name: str) -> Callable[[int], bytes]:
    """A deterministic rng: call i returns SHAKE-256("hushroom vectors/" name "/" i)[0:n]."""
    count = [0]

    def rng(n: int) -> bytes:
        count[0] += 1
        return hashlib.shake_256(f"hushroom vectors/{name}/{count[0]}".encode()).digest(n)

    return rng


def tagged(value: canonical.Value) -> object:
    """JSON form of a canonical value: {"int"|"bin"|"bin_zeros"|"str"|"bool"|"nil"|"array": ...}."""
    if value is None:
        return {"nil": None}
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, int):
        return {"int": str(value)}
    if isinstance(value, bytes):
        if len(value) > 1000 and not any(value):
            return {"bin_zeros": len(value)}
        return {"bin": value.hex()}
    if isinstance(value, str):
        return {"str": value}
    return {"array": [tagged(v) for v in value]}


def write(name: str, doc: dict[str, object]) -> None:
    (OUT / name).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {OUT / name}")


def gen_canonical() -> None:
    values: list[canonical.Value] = [
        None,
        True,
        False,
        0,
        1,
        127,
        128,
        255,
        256,
        65535,
        65536,
        2**32 - 1,
        2**32,
        2**64 - 1,
        -1,
        -32,
        -33,
        -128,
        -129,
        -32768,
        -32769,
        -(2**31),
        -(2**31) - 1,
        -(2**63),
        b"",
        b"\x00",
        bytes(range(32)),
        bytes(255),
        bytes(256),
        bytes(65536),
        "",
        "a",
        "hushroom",
        "é",
        "x" * 31,
        "x" * 32,
        "x" * 256,
        [],
        [1, b"\x01", "one", None, [True, []]],
        list(range(16)),
    ]
    valid = [{"value": tagged(v), "encoding": canonical.encode(v).hex()} for v in values]
    for case in valid:  # bytes(65536) and friends: keep the file small by describing them
        enc = case["encoding"]
        assert isinstance(enc, str)
        if len(enc) > 200:
            case["encoding_sha256"] = hashlib.sha256(bytes.fromhex(enc)).hexdigest()
            case["encoding_prefix"] = enc[:16]
            del case["encoding"]
    invalid = {
        "d005": "NON_CANONICAL (int8 used for 5)",
        "cc05": "NON_CANONICAL (uint8 used for 5)",
        "cd00ff": "NON_CANONICAL (uint16 used for 255)",
        "d0ff": "NON_CANONICAL (int8 used for -1)",
        "d90161": "NON_CANONICAL (str8 used for a 1-byte string)",
        "c5000161": "NON_CANONICAL (bin16 used for a 1-byte value)",
        "dc000101": "NON_CANONICAL (array16 used for 1 element)",
        "8101 02": "MALFORMED (map)",
        "cb0000000000000000": "MALFORMED (float64)",
        "ca00000000": "MALFORMED (float32)",
        "d40100": "MALFORMED (ext)",
        "0102": "MALFORMED (trailing byte)",
        "a1ff": "MALFORMED (invalid UTF-8)",
        "9201": "MALFORMED (truncated)",
        "c1": "MALFORMED (reserved byte)",
    }
    bad = []
    for hexdata, why in invalid.items():
        data = bytes.fromhex(hexdata.replace(" ", ""))
        try:
            canonical.decode(data)
        except canonical.RemoteProtocolError as exc:
            assert why.startswith(exc.code.name), (hexdata, exc.code)
        else:
            raise AssertionError(hexdata)
        bad.append({"encoding": data.hex(), "error": why})
    write(
        "canonical.json",
        {
            "description": "Canonical msgpack subset (spec §4). Values are tagged JSON; ints "
            "as decimal strings.",
            "valid": valid,
            "invalid": bad,
        },
    )


def gen_identity() -> None:
    rng = seeded("identity")
    ident = identity.IdentityKey.generate(rng)
    session = identity.SessionKey.generate(rng)
    seed = canonical.decode(ident.to_file_bytes())[2]  # type: ignore[index]
    label = b"hushroom v1 sig test"
    message = b"hushroom test message"
    cert = session.certify(ident)
    write(
        "identity.json",
        {
            "description": "Identity signature, fingerprint, safety code, identity file and "
            "session certificate (spec §5).",
            "identity_seed": seed.hex(),  # type: ignore[union-attr]
            "identity_public": ident.public.hex(),
            "signature_label": label.decode(),
            "message": message.hex(),
            "signed_bytes": identity.signed_bytes(label, message).hex(),
            "signature": ident.sign(label, message).hex(),
            "fingerprint": identity.fingerprint(ident.public).hex(),
            "safety_code": identity.safety_code(ident.public),
            "identity_file": ident.to_file_bytes().hex(),
            "session_private": session._private.hex(),
            "session_public": session.public.hex(),
            "session_cert_signed_payload": identity.SessionCertificate.signed_payload(
                ident.public, session.public
            ).hex(),
            "session_certificate": cert.encode().hex(),
        },
    )


def gen_invite() -> None:
    rng = seeded("invite")
    founder = identity.IdentityKey.generate(rng)
    pin = hashlib.sha256(b"example relay SubjectPublicKeyInfo DER").digest()
    cases = []
    made = [
        invite.Invite.create(host, port, pin, founder.public, rng)
        for host, port in (("relay.example.org", 7443), ("192.0.2.7", 443), ("2001:db8::1", 7443))
    ]
    rotated = made[0].rotated(rng(32))  # a rotated invite carries the room id (§6.1, §13.6)
    for inv in (*made, rotated):
        host, port = inv.host, inv.port
        link = inv.to_link()
        secrets = inv.secrets()
        auth = invite.authority(host, port)
        payload = inv.payload()
        code = link.split("#", 1)[1]
        i = len(code) // 2
        typo = code[:i] + ("b" if code[i] != "b" else "c") + code[i + 1 :]
        cases.append(
            {
                "host": host,
                "port": port,
                "authority": auth,
                "room_secret": inv.room_secret.hex(),
                "relay_pin": pin.hex(),
                "founder_identity": founder.public.hex(),
                **({} if inv.room_id is None else {"carried_room_id": inv.room_id.hex()}),
                "payload": payload.hex(),
                "checksum": invite._checksum(auth, payload).hex(),
                "link": link,
                "room_tag": secrets.room_tag.hex(),
                "admission_key": secrets.admission_key.hex(),
                "room_id": secrets.room_id.hex(),
                "mistyped_link": link.split("#")[0] + "#" + typo,
                "mistyped_error": "CHECKSUM",
            }
        )
    write(
        "invite.json",
        {
            "description": "Invite links and room-secret derivations (spec §6).",
            "cases": cases,
            **gen_invite_lists(rng, pin, founder.public),
        },
    )


def gen_invite_lists(rng: Callable[[int], bytes], pin: bytes, founder: bytes) -> dict[str, object]:
    """Links naming several relay addresses (spec §6.2), valid and invalid."""
    lists = [
        (("node-1.example.org", 7443), ("node-2.example.org", 7443)),
        (("relay.example.org", 7443), ("2001:db8::7", 7443), ("192.0.2.7", 443)),
    ]
    valid = []
    for relays in lists:
        (host, port), *rest = relays
        inv = invite.Invite.create(host, port, pin, founder, rng, tuple(rest))
        auths = invite.authority_list(inv.relays)
        valid.append(
            {
                "relays": [list(r) for r in relays],
                "authorities": auths,
                "room_secret": inv.room_secret.hex(),
                "relay_pin": pin.hex(),
                "founder_identity": founder.hex(),
                "checksum": invite._checksum(auths, inv.payload()).hex(),
                "link": inv.to_link(),
            }
        )
    code = valid[0]["link"].split("#", 1)[1]
    five = ",".join(f"node-{i}.example.org:7443" for i in range(1, 6))
    payload = base64.b32decode(code.upper() + "=" * (-len(code) % 8))[: -invite.CHECKSUM_LEN]
    five_code = base64.b32encode(payload + invite._checksum(five, payload)).decode()
    invalid = [
        # five addresses with a correct checksum over all five: refused for the count
        {"link": f"hushroom://{five}/#{five_code.rstrip('=').lower()}", "error": "MALFORMED"},
        {"link": f"hushroom://node-1.example.org:7443,/#{code}", "error": "MALFORMED"},
        {"link": f"hushroom://a.example:1,,b.example:2/#{code}", "error": "MALFORMED"},
        {"link": f"hushroom://a.example:1,a.example:1/#{code}", "error": "MALFORMED"},
        # the two-address link with its addresses swapped: the checksum covers the order
        {
            "link": "hushroom://node-2.example.org:7443,node-1.example.org:7443/#" + code,
            "error": "CHECKSUM",
        },
    ]
    return {"relay_lists": valid, "invalid_relay_lists": invalid}


def gen_pairwise() -> None:
    rng = seeded("pairwise")
    room_id = invite.RoomSecrets.derive(rng(32), rng(32)).room_id
    ida, idb = identity.IdentityKey.generate(rng), identity.IdentityKey.generate(rng)
    sa, sb = identity.SessionKey.generate(rng), identity.SessionKey.generate(rng)
    a = pairwise.PairwiseChannel(
        room_id=room_id,
        my_identity=ida.public,
        my_session=sa,
        peer_identity=idb.public,
        peer_session=sb.public,
    )
    b = pairwise.PairwiseChannel(
        room_id=room_id,
        my_identity=idb.public,
        my_session=sb,
        peer_identity=ida.public,
        peer_session=sa.public,
    )
    shared = sa.exchange(sb.public)
    pa, pb = ida.public + sa.public, idb.public + sb.public
    low, high = sorted((pa, pb))
    root = kdf.hkdf(kdf.PAIRWISE_ROOT, shared, 32, salt=room_id, context=low + high)
    chains = {
        "low_to_high": kdf.hkdf(kdf.PAIRWISE_CHAIN, root, 32, context=b"\x00"),
        "high_to_low": kdf.hkdf(kdf.PAIRWISE_CHAIN, root, 32, context=b"\x01"),
    }
    messages = []
    for sender, receiver, me, peer, texts in (
        (a, b, pa, pb, [b"hello from a", b"", b"sender key update goes here"]),
        (b, a, pb, pa, [b"hello from b"]),
    ):
        direction = "low_to_high" if me == low else "high_to_low"
        ck = chains[direction]
        for n, text in enumerate(texts):
            mk, next_ck = pairwise.ratchet_step(ck)
            nonce = bytes(16) + n.to_bytes(8, "big")
            aad = kdf.labelled(kdf.PAIRWISE_AAD, room_id + me + peer) + n.to_bytes(8, "big")
            wire = sender.seal(text)
            assert receiver.open(wire) == text
            ct = xchacha.encrypt(mk, nonce, text, aad)
            assert wire == canonical.encode([1, n, ct])
            messages.append(
                {
                    "from": "a" if sender is a else "b",
                    "direction": direction,
                    "counter": n,
                    "chain_key": ck.hex(),
                    "message_key": mk.hex(),
                    "next_chain_key": next_ck.hex(),
                    "nonce": nonce.hex(),
                    "aad": aad.hex(),
                    "plaintext": text.hex(),
                    "message": wire.hex(),
                }
            )
            ck = next_ck
    write(
        "pairwise.json",
        {
            "description": "A pairwise channel between a and b, both directions (spec §9).",
            "room_id": room_id.hex(),
            "a_identity": ida.public.hex(),
            "a_session_private": sa._private.hex(),
            "a_session_public": sa.public.hex(),
            "b_identity": idb.public.hex(),
            "b_session_private": sb._private.hex(),
            "b_session_public": sb.public.hex(),
            "x25519_shared": shared.hex(),
            "low_party": "a" if pa == low else "b",
            "root_key": root.hex(),
            "chain_low_to_high": chains["low_to_high"].hex(),
            "chain_high_to_low": chains["high_to_low"].hex(),
            "messages": messages,
        },
    )


def gen_sender_key() -> None:
    rng = seeded("sender key")
    key = SenderKey.fresh(rng, epoch=5)
    steps = []
    for epoch in (5, 6, 9, 10):
        if epoch != key.epoch:
            key = key.ratchet(epoch)
        fk, salt = frame_key_and_salt(key.secret, key.kid)
        steps.append(
            {
                "kid": key.kid,
                "epoch": epoch,
                "secret": key.secret.hex(),
                "frame_key": fk.hex(),
                "frame_salt": salt.hex(),
                "hchacha20_subkey": xchacha.hchacha20(fk, salt[:16]).hex(),
                "update_next_counter_1000": key.encode_update(1000).hex(),
            }
        )
    write(
        "sender_key.json",
        {
            "description": "A sender key and three ratchet steps (spec §10). Each step's "
            "secret is the ratchet of the previous one with the listed epoch.",
            "steps": steps,
        },
    )


def gen_frames() -> None:
    rng = seeded("frames")
    room_id, sender_id = rng(32), rng(32)
    key = SenderKey.fresh(rng, epoch=7, kid=9)
    fk, salt = frame_key_and_salt(key.secret, key.kid)
    cases = []
    for ctr, size, padded in (
        (0, 80, False),
        (7, 80, True),
        (8, 80, False),
        (255, 1, True),
        (256, 47, True),
        (10_000, 80, False),
        (10_000, 80, True),
        (2**32, 200, True),
        (2**64 - 1, 0, False),
    ):
        payload = hashlib.shake_256(f"opus {ctr} {size}".encode()).digest(size)
        tx = frame.FrameSender(
            key, room_id=room_id, sender_id=sender_id, padded=padded, next_counter=ctr
        )
        protected = tx.protect(payload)
        header = encode_header(key.kid % frame.KID_PHASES, ctr)
        nonce = bytes(a ^ b for a, b in zip(salt, bytes(16) + ctr.to_bytes(8, "big"), strict=True))
        aad = frame.frame_aad_prefix(room_id, key.epoch, sender_id, padded) + header
        plaintext = padding.pad(payload) if padded else payload
        assert protected == header + xchacha.encrypt(fk, nonce, plaintext, aad)
        rx = frame.FrameReceiver(room_id=room_id, sender_id=sender_id, padded=padded)
        rx.add_key(key, ctr)
        assert rx.unprotect(protected, 0.0) == (ctr, payload)
        cases.append(
            {
                "counter": str(ctr),
                "padded": padded,
                "payload": payload.hex(),
                "header": header.hex(),
                "nonce": nonce.hex(),
                "ietf_nonce": (bytes(4) + nonce[16:]).hex(),
                "aad": aad.hex(),
                "plaintext": plaintext.hex(),
                "frame": protected.hex(),
                "overhead_bytes": len(protected) - size,
            }
        )
    write(
        "frames.json",
        {
            "description": "Protected frames under one sender key at several counters, with "
            "and without padding (spec §11).",
            "room_id": room_id.hex(),
            "sender_id": sender_id.hex(),
            "kid": key.kid,
            "epoch": key.epoch,
            "secret": key.secret.hex(),
            "frame_key": fk.hex(),
            "frame_salt": salt.hex(),
            "hchacha20_subkey": xchacha.hchacha20(fk, salt[:16]).hex(),
            "buckets": list(padding.BUCKETS),
            "cases": cases,
        },
    )


# Kind and output length of every label (spec §3.4): "kdf" = KDF(label, ikm, L, salt, ctx),
# "hash" = H(label, data)[0:L], "signature" = Ed25519 over labelled(label, data),
# "aad" = the associated-data prefix labelled(label, data).
LABEL_KINDS: dict[str, tuple[str, int]] = {
    "ROOM_TAG": ("kdf", 16),
    "ADMISSION_KEY": ("kdf", 32),
    "ROOM_ID": ("kdf", 32),
    "PAIRWISE_ROOT": ("kdf", 32),
    "PAIRWISE_CHAIN": ("kdf", 32),
    "PAIRWISE_AAD": ("aad", 0),
    "SENDER_KEY_RATCHET": ("kdf", 32),
    "FRAME_KEY": ("kdf", 32),
    "FRAME_SALT": ("kdf", 24),
    "FRAME_AAD": ("aad", 0),
    "DATAGRAM_KEY": ("kdf", 32),
    "DATAGRAM_AAD": ("aad", 0),
    "FINGERPRINT": ("hash", 32),
    "INVITE_CHECKSUM": ("hash", 4),
    "SIG_SESSION_KEY": ("signature", 64),
    "COMMIT_HEAD": ("hash", 32),
    "STATE_DIGEST": ("hash", 32),
    "SAFETY_CODE": ("hash", 32),
    "WELCOME_DIGEST": ("hash", 32),
    "KEY_CONFIRM": ("hash", 32),
    "FORWARDER": ("hash", 8),
    "PAYLOAD_HINT": ("hash", 8),
    "SIG_COMMIT": ("signature", 64),
    "SIG_SNAPSHOT": ("signature", 64),
    "SIG_JOIN_REQUEST": ("signature", 64),
    "SIG_WELCOME": ("signature", 64),
    "SIG_CONTROL": ("signature", 64),
    "SIG_BEACON": ("signature", 64),
    "EPOCH_KEY": ("kdf", 32),
    "CONTROL_KEY": ("kdf", 32),
    "SENDER_BASE": ("kdf", 32),
    "SEAL_KEY": ("kdf", 56),
    "PAIR_WRAP_KEY": ("kdf", 32),
    "BEACON_KEY": ("kdf", 32),
    "FRAME_DIGEST": ("hash", 32),
    "PROOF_KEY": ("kdf", 32),
    "FRAME_HEADER_KEY": ("kdf", 32),
    "SIG_SPEAKER_PROOF": ("signature", 64),
}


def label_sample(label: bytes, kind: str, length: int, inputs: dict[str, bytes]) -> bytes:
    """What one label produces on the fixed sample inputs of labels.json (spec §3.3)."""
    if kind == "kdf":
        return kdf.hkdf(label, inputs["ikm"], length, salt=inputs["salt"], context=inputs["data"])
    if kind == "hash":
        return kdf.labelled_hash(label, inputs["data"])[:length]
    if kind == "signature":
        return identity.IdentityKey(inputs["seed"]).sign(label, inputs["data"])
    return kdf.labelled(label, inputs["data"])


def gen_labels() -> None:
    inputs = {
        "ikm": bytes(range(32)),
        "salt": bytes(range(32, 64)),
        "data": b"hushroom label sample",
        "seed": bytes(range(64, 96)),
    }
    every = {**kdf.LABELS, **room_labels.ALL}
    assert set(every) == set(LABEL_KINDS), "every label needs a kind"
    write(
        "labels.json",
        {
            "description": "Every label of spec §3.4, as ASCII, and what each produces on fixed "
            "sample inputs (kdf: KDF(label, ikm, length, salt, ctx = data); hash: H(label, "
            "data)[0:length]; signature: Ed25519 with seed over labelled(label, data); aad: "
            "labelled(label, data)).  The verifier checks every row and that the other "
            "vectors use exactly these bytes.",
            "labels": {name: label.decode() for name, label in kdf.LABELS.items()},
            "room_labels": {name: label.decode() for name, label in room_labels.ALL.items()},
            "sample_inputs": {name: value.hex() for name, value in inputs.items()},
            "registry": [
                {
                    "name": name,
                    "label": label.decode(),
                    "kind": LABEL_KINDS[name][0],
                    "length": LABEL_KINDS[name][1],
                    "output": label_sample(label, *LABEL_KINDS[name], inputs).hex(),
                }
                for name, label in every.items()
            ],
        },
    )


def main(argv: list[str] | None = None) -> None:
    global OUT
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--out"]:
        OUT = Path(args[1])
    OUT.mkdir(parents=True, exist_ok=True)
    gen_labels()
    gen_canonical()
    gen_identity()
    gen_invite()
    gen_pairwise()
    gen_sender_key()
    gen_frames()


if __name__ == "__main__":
    main()
