"""Check the room vectors (spec/vectors/room_*.json) independently of e2ee/ (spec §12–§16).

Uses only hashlib, ``cryptography``, ``PyNaCl`` and ``msgpack``; imports nothing
from this repository.  Every value is recomputed from the vector's inputs
following spec/protocol.md sections 12–16 (and §11 for room frames).

    python spec/verify_room.py [--vectors DIR]      # exit status 1 on any mismatch
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
from pathlib import Path
from typing import Any

import msgpack
import nacl.bindings
import nacl.exceptions
import nacl.signing
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

L = {
    "head": b"hushroom v1 room commit head",
    "state": b"hushroom v1 room state digest",
    "code": b"hushroom v1 room safety code",
    "welcome_digest": b"hushroom v1 room welcome digest",
    "key_confirm": b"hushroom v1 room key confirmation",
    "sig_commit": b"hushroom v1 sig room commit",
    "sig_snapshot": b"hushroom v1 sig room snapshot",
    "sig_join": b"hushroom v1 sig room fresh join request",
    "sig_welcome": b"hushroom v1 sig room welcome",
    "sig_control": b"hushroom v1 sig room control",
    "sig_beacon": b"hushroom v1 sig room head beacon",
    "sig_session": b"hushroom v1 sig session key",
    "epoch_key": b"hushroom v1 room epoch key",
    "control_key": b"hushroom v1 room control key",
    "sender_base": b"hushroom v1 room sender base",
    "seal_key": b"hushroom v1 room seal key",
    "payload_hint": b"hushroom v1 room payload hint",
    "pair_wrap": b"hushroom v1 room pair wrap key",
    "beacon_key": b"hushroom v1 room beacon key",
    "pairwise_root": b"hushroom v1 pairwise root",
    "frame_key": b"hushroom v1 frame key",
    "frame_salt": b"hushroom v1 frame salt",
    "frame_aad": b"hushroom v1 frame aad",
    "frame_header_key": b"hushroom v1 room frame header key",
    "frame_digest": b"hushroom v1 room frame digest",
}
BUCKETS = (32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 4096)  # §11.4


def labelled(label: bytes, data: bytes = b"") -> bytes:
    """u8(len(label)) || label || data (spec §3.3)."""
    return bytes((len(label),)) + label + data


def lhash(label: bytes, data: bytes) -> bytes:
    return hashlib.sha256(labelled(label, data)).digest()


def hkdf(label: bytes, ikm: bytes, salt: bytes = b"", ctx: bytes = b"", n: int = 32) -> bytes:
    return HKDF(hashes.SHA256(), n, salt or None, labelled(label, ctx)).derive(ikm)


def pad(kind: int, body: bytes) -> bytes:
    """kind || body || 0x80 || zeros to 2^k >= 256, or a multiple of 65,536 (spec §14.1)."""
    data = bytes((kind,)) + body
    need = len(data) + 1
    size = -(-need // 65536) * 65536 if need > 65536 else max(256, 1 << (need - 1).bit_length())
    return data + b"\x80" + bytes(size - need)


def keyed(
    room_id: bytes, key: bytes, kind: int, body: bytes, nonce: bytes, extra: bytes = b""
) -> bytes:
    """hint | nonce | XChaCha(key, nonce, pad(kind || body), 0x02 || room_id || hint || extra)."""
    hint = lhash(L["payload_hint"], key + nonce)[:8]
    return hint + nonce + xchacha(key, nonce, pad(kind, body), b"\x02" + room_id + hint + extra)


def pack(value: Any) -> bytes:
    out: bytes = msgpack.packb(value, use_bin_type=True)
    return out


def sign(seed: bytes, label: bytes, msg: bytes) -> bytes:
    sig: bytes = nacl.signing.SigningKey(seed).sign(labelled(label, msg)).signature
    return sig


def pub(seed: bytes) -> bytes:
    return bytes(nacl.signing.SigningKey(seed).verify_key)


def xchacha(key: bytes, nonce: bytes, pt: bytes, aad: bytes) -> bytes:
    out: bytes = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(pt, aad, nonce, key)
    return out


def x(s: str) -> bytes:
    return bytes.fromhex(s)


class Checker:
    def __init__(self) -> None:
        self.ok = 0
        self.failed: list[str] = []

    def eq(self, what: str, got: Any, want: Any) -> None:
        if got == want:
            self.ok += 1
        else:
            self.failed.append(what)


def _op(raw: list[Any]) -> list[Any]:
    """Hex fields of an op back to bytes: the id, and ADD's session key (spec §12.2)."""
    op = list(raw)
    if op[0] in (1, 2, 3, 4, 5, 8):
        op[1] = x(op[1])
    if op[0] == 1:
        op[2] = x(op[2])
    return op


def check_commits(c: Checker, v: dict[str, Any]) -> dict[str, bytes]:
    seed, room_id = x(v["founder_seed"]), x(v["room_id"])
    heads: dict[str, bytes] = {}
    parent = bytes(32)
    for case in v["cases"]:
        n = case["name"]
        c.eq(f"commit {n} parent chains", x(case["parent"]), parent)
        c.eq(f"commit {n} signer", x(case["signer"]), pub(seed))
        ops = [_op(o) for o in case["ops"]]
        confirm = lhash(L["key_confirm"], x(case["previous_key"]) + x(case["fresh"]))
        c.eq(f"commit {n} key confirmation", confirm.hex(), case["key_confirm"])
        body = pack([2, room_id, case["epoch"], parent, pub(seed), ops, case["rekey"], confirm])
        c.eq(f"commit {n} body", body.hex(), case["body"])
        sig = sign(seed, L["sig_commit"], body)
        c.eq(f"commit {n} signature", sig.hex(), case["signature"])
        head = lhash(L["head"], body)
        c.eq(f"commit {n} head", head.hex(), case["head"])
        c.eq(f"commit {n} wire", pack([body, sig]).hex(), case["commit"])
        heads[n] = head
        parent = head
    return heads


def check_snapshot(c: Checker, v: dict[str, Any]) -> None:
    seed, room_id = x(v["founder_seed"]), x(v["room_id"])
    members = [[x(m[0]), x(m[1]), m[2], m[3]] for m in v["members"]]
    hands = [x(h) for h in v["hands"]]
    state = [v["policy"], members, hands, [], [], [], False, None]  # no deputy
    body = pack([1, room_id, v["epoch"], x(v["head"]), state])
    c.eq("snapshot body", body.hex(), v["snapshot_body"])
    digest = lhash(L["state"], body)
    c.eq("snapshot state digest", digest.hex(), v["state_digest"])
    sig = sign(seed, L["sig_snapshot"], room_id + digest)
    authority = [[pub(seed), []]]  # the founder's promotion proof is empty (§13.2)
    c.eq("snapshot wire", pack([body, pub(seed), sig, authority]).hex(), v["snapshot"])


def _commit_fields(raw: bytes) -> tuple[list[Any], bool]:
    """The body fields of a commit's wire form, and whether its signature holds (§12.3)."""
    body, sig = msgpack.unpackb(raw, raw=False)
    fields = msgpack.unpackb(body, raw=False)
    try:
        nacl.signing.VerifyKey(fields[4]).verify(labelled(L["sig_commit"], body), sig)
    except nacl.exceptions.BadSignatureError:
        return fields, False
    return fields, True


def proof_holds(
    founder: bytes, room_id: bytes, target: bytes, proof: list[bytes], deputy: bool
) -> bool:
    """Spec §13.2 with §12.2: c_1 by the founder; each c_{i+1} signed by an identity c_i
    promotes or names deputy; c_n promotes ``target`` (names it deputy for a deputy proof)."""
    holder, last_epoch = founder, -1
    for i, raw in enumerate(proof):
        fields, signed = _commit_fields(raw)
        _, rid, epoch, _, signer, ops, _, _ = fields
        if not signed or rid != room_id or signer != holder or epoch <= last_epoch:
            return False
        last = i + 1 == len(proof)
        nxt = target if last else _commit_fields(proof[i + 1])[0][4]
        promotes = any(
            (op[0] == 3 and op[1] == nxt and op[2] == 2)
            or (op[0] == 1 and op[1] == nxt and op[4] == 2)
            for op in ops
        )
        named = [op[1] for op in ops if op[0] == 8]
        names = bool(named) and named[-1] == nxt
        if not (names if last and deputy else promotes or (names and not last)):
            return False
        holder, last_epoch = nxt, epoch
    return bool(proof) or target == founder


def check_deputy(c: Checker, v: dict[str, Any]) -> None:
    """DEPUTY op, the deputy's take-over and the proofs through it (spec §12.2, §13.2)."""
    f_seed, m_seed, room_id = x(v["founder_seed"]), x(v["member_seed"]), x(v["room_id"])
    parent = x(v["genesis_head"])
    signers = {"add": f_seed, "named": f_seed, "take_over": m_seed}
    for case in v["cases"]:
        n, seed = case["name"], signers[case["name"]]
        ops = [_op(o) for o in case["ops"]]
        confirm = lhash(L["key_confirm"], x(case["previous_key"]))
        body = pack([2, room_id, case["epoch"], parent, pub(seed), ops, case["rekey"], confirm])
        c.eq(f"deputy commit {n} body", body.hex(), case["body"])
        sig = sign(seed, L["sig_commit"], body)
        c.eq(f"deputy commit {n} wire", pack([body, sig]).hex(), case["commit"])
        parent = lhash(L["head"], body)
        c.eq(f"deputy commit {n} head", parent.hex(), case["head"])
    _, named, take = v["cases"]
    c.eq("deputy named", [8, pub(m_seed).hex()], named["ops"][-1])
    c.eq("take-over is ROLE(signer, 2) alone", take["ops"], [[3, pub(m_seed).hex(), 2]])
    c.eq("take-over does not re-key", take["rekey"], False)
    state = msgpack.unpackb(x(v["snapshot_body"]), raw=False)[4]
    c.eq("snapshot state has 8 fields, deputy last", (len(state), state[7]), (8, pub(m_seed)))
    founder = pub(f_seed)
    proofs = {k: [x(r) for r in v[k]] for k in ("deputy_proof", "promotion_proof")}
    c.eq(
        "deputy proof holds",
        proof_holds(founder, room_id, pub(m_seed), proofs["deputy_proof"], True),
        True,
    )
    c.eq(
        "promotion proof through the deputy holds",
        proof_holds(founder, room_id, pub(m_seed), proofs["promotion_proof"], False),
        True,
    )
    invalid = [x(r) for r in v["invalid_promotion_proof"]]
    c.eq(
        "a take-over nobody named does not hold",
        proof_holds(founder, room_id, pub(m_seed), invalid, False),
        False,
    )
    c.eq(
        "a deputy proof is no promotion proof",
        proof_holds(founder, room_id, pub(m_seed), proofs["deputy_proof"], False),
        False,
    )


def check_keys(c: Checker, v: dict[str, Any]) -> None:
    room_id = x(v["room_id"])
    k0 = hkdf(L["epoch_key"], x(v["fresh_0"]), ctx=x(v["head_0"]))
    c.eq("K_0", k0.hex(), v["K_0"])
    k1 = hkdf(L["epoch_key"], b"", salt=k0, ctx=x(v["head_1"]))
    c.eq("K_1 (ratchet)", k1.hex(), v["K_1"])
    k2 = hkdf(L["epoch_key"], x(v["fresh_2"]), salt=k1, ctx=x(v["head_2"]))
    c.eq("K_2 (re-key)", k2.hex(), v["K_2"])
    c.eq("C_1", hkdf(L["control_key"], k1, ctx=room_id).hex(), v["C_1"])
    c.eq("S_1,m", hkdf(L["sender_base"], k1, ctx=x(v["member_id"])).hex(), v["S_1_member"])


def check_payloads(
    c: Checker, v: dict[str, Any], heads: dict[str, bytes], snap: dict[str, Any]
) -> None:
    room_id, adm = x(v["room_id"]), x(v["admission_key"])
    f_seed, m_seed = x(v["founder_seed"]), x(v["member_seed"])
    f_sess_priv, m_sess_priv = x(v["founder_session_private"]), x(v["member_session_private"])
    f_sess = nacl.bindings.crypto_scalarmult_base(f_sess_priv)
    m_sess = nacl.bindings.crypto_scalarmult_base(m_sess_priv)
    k0, k1 = x(v["K_0"]), x(v["K_1"])
    u32 = lambda n: n.to_bytes(4, "big")  # noqa: E731

    cp = v["commit_payload"]
    c0 = hkdf(L["control_key"], k0, ctx=room_id)
    want = keyed(room_id, c0, 2, x(cp["commit"]), x(cp["nonce"]), u32(0))
    c.eq("COMMIT payload hint", want[:8].hex(), cp["hint"])
    c.eq("COMMIT payload", want.hex(), cp["payload"])

    def control_message(ct: dict[str, Any]) -> bytes:
        body = pack([1, ct["type"], pub(m_seed), ct["seq"], ct["epoch"], x(ct["head"]), ct["args"]])
        return pack([body, sign(m_seed, L["sig_control"], room_id + m_sess + body)])

    ct = v["control"]
    msg = control_message(ct)
    c.eq("control message", msg.hex(), ct["message"])
    rec = v["control_recording"]
    c.eq("RECORDING type", rec["type"], 10)
    c.eq("RECORDING args", rec["args"], [True])
    c.eq("RECORDING control message", control_message(rec).hex(), rec["message"])
    lr = v["control_loss_report"]
    c.eq("LOSS_REPORT type", lr["type"], 11)
    c.eq("LOSS_REPORT speaker id length", len(x(lr["speaker_id"])), 32)
    c.eq("LOSS_REPORT permille in 0..1000", 0 <= lr["loss_permille"] <= 1000, True)
    lr_args = {**lr, "args": [x(lr["speaker_id"]), lr["loss_permille"]]}
    c.eq("LOSS_REPORT control message", control_message(lr_args).hex(), lr["message"])
    c1 = hkdf(L["control_key"], k1, ctx=room_id)
    want = keyed(room_id, c1, 3, msg, x(ct["nonce"]), u32(1))
    c.eq("CONTROL payload", want.hex(), ct["payload"])

    def admission_payload(pt: bytes, nonce: bytes) -> bytes:
        return keyed(room_id, adm, 1, pt, nonce)

    def sealed_to(recipient_priv: bytes, eph_priv: bytes, pt: bytes) -> bytes:
        recipient = nacl.bindings.crypto_scalarmult_base(recipient_priv)
        eph = nacl.bindings.crypto_scalarmult_base(eph_priv)
        shared = nacl.bindings.crypto_scalarmult(eph_priv, recipient)
        c.eq("seal DH both ways", shared, nacl.bindings.crypto_scalarmult(recipient_priv, eph))
        kn = hkdf(L["seal_key"], shared, ctx=eph + recipient, n=56)
        aad = b"\x02" + room_id + eph + recipient
        return eph + xchacha(kn[:32], kn[32:], pad(5, pt), aad)

    def cert_of(seed: bytes, session: bytes) -> bytes:
        signed = pack([1, pub(seed), session])
        return pack([1, pub(seed), session, sign(seed, L["sig_session"], signed)])

    def verdict(seed: bytes, kind: int, body: bytes) -> bytes:
        digest = lhash(L["welcome_digest"], body)
        sig = sign(seed, L["sig_welcome"], room_id + bytes((kind,)) + digest)
        return pack([2, kind, pub(seed), body, sig])

    kn = v["knock"]
    c.eq("knock plaintext", pack([2, 1]).hex(), kn["plaintext"])
    want = admission_payload(pack([2, 1]), x(kn["nonce"]))
    c.eq("KNOCK payload", want.hex(), kn["payload"])

    of = v["offer"]
    f_cert = cert_of(f_seed, f_sess)
    c.eq("moderator session certificate", f_cert.hex(), of["moderator_session_certificate"])
    challenge = x(of["challenge"])
    pt = pack([2, 2, challenge, f_cert, []])
    c.eq("offer plaintext", pt.hex(), of["plaintext"])
    c.eq("OFFER payload", admission_payload(pt, x(of["nonce"])).hex(), of["payload"])

    jr = v["join_request"]
    cert = cert_of(m_seed, m_sess)
    c.eq("session certificate", cert.hex(), jr["session_certificate"])
    name = jr["name"]
    signed = room_id + pub(f_seed) + challenge + cert + name.encode()
    pt = pack([2, 3, challenge, cert, name, sign(m_seed, L["sig_join"], signed)])
    c.eq("join request plaintext", pt.hex(), jr["plaintext"])
    sealed = sealed_to(f_sess_priv, x(jr["ephemeral_private"]), pt)
    c.eq("join request sealed to the moderator", sealed.hex(), jr["sealed"])
    pt = pack([2, 3, sealed])
    c.eq("REQUEST plaintext", pt.hex(), jr["request_plaintext"])
    c.eq("REQUEST payload", admission_payload(pt, x(jr["nonce"])).hex(), jr["payload"])

    w = v["welcome"]
    snapshot = x(snap["snapshot"])
    body = pack([m_sess, snapshot, k1, [[pub(f_seed), 3]]])
    pt = verdict(f_seed, 1, body)
    c.eq("welcome plaintext", pt.hex(), w["plaintext"])
    want = sealed_to(m_sess_priv, x(w["ephemeral_private"]), pt)
    c.eq("SEALED welcome payload", want.hex(), w["payload"])

    d = v["denial"]
    promote = msgpack.unpackb(x(d["promotion_commit"]), raw=False)
    fields = msgpack.unpackb(promote[0], raw=False)
    c.eq("promotion commit signer is the founder", fields[4], pub(f_seed))
    c.eq("promotion commit promotes the member", [3, pub(m_seed), 2] in fields[5], True)
    vk = nacl.signing.VerifyKey(pub(f_seed))
    vk.verify(labelled(L["sig_commit"], promote[0]), promote[1])
    body = pack([f_sess, [x(d["promotion_commit"])]])
    pt = verdict(m_seed, 2, body)
    c.eq("denial plaintext", pt.hex(), d["plaintext"])
    want = sealed_to(f_sess_priv, x(d["ephemeral_private"]), pt)
    c.eq("SEALED denial payload", want.hex(), d["payload"])

    b = v["beacon"]
    hs = [x(h) for h in b["heads"]]
    c.eq("beacon heads are the chain", hs, [heads["add_and_hand"], heads["genesis"]])
    sig = sign(m_seed, L["sig_beacon"], room_id + u32(b["epoch"]) + b"".join(hs))
    pt = pack([1, pub(m_seed), b["epoch"], hs, sig])
    c.eq("beacon plaintext", pt.hex(), b["plaintext"])
    bk = hkdf(L["beacon_key"], k1, ctx=room_id)
    mac = hmac.digest(bk, pt, "sha512")[:32]
    c.eq("beacon MAC", mac.hex(), b["mac"])
    want = keyed(room_id, adm, 7, pt + mac, x(b["nonce"]))
    c.eq("BEACON payload", want.hex(), b["payload"])

    p = v["pairwise"]
    lo, hi = sorted((pub(f_seed) + f_sess, pub(m_seed) + m_sess))
    shared = nacl.bindings.crypto_scalarmult(f_sess_priv, m_sess)
    root = hkdf(L["pairwise_root"], shared, salt=room_id, ctx=lo + hi)
    wrap = hkdf(L["pair_wrap"], root)
    c.eq("pair wrap key", wrap.hex(), p["wrap_key"])
    want = keyed(room_id, wrap, 4, x(p["message"]), x(p["nonce"]))
    c.eq("PAIRWISE payload", want.hex(), p["payload"])


def check_safety(c: Checker, v: dict[str, Any]) -> None:
    room_id = x(v["room_id"])
    for case in v["cases"]:
        entries = sorted(x(mid) + bytes([role]) for mid, role in case["members"])
        d = lhash(L["code"], room_id + b"".join(entries))
        groups = [int.from_bytes(d[5 * i : 5 * i + 5], "big") % 100_000 for i in range(6)]
        code = " ".join(f"{g:05d}" for g in groups)
        c.eq(f"safety code: {case['name']}", code, case["code"])


def verify_count(vectors_dir: str | Path) -> int:
    """Check every room vector; return how many checks ran; AssertionError on any mismatch.

    The interface spec/verify_vectors.py uses for its independent checkers.
    """
    c = _run(vectors_dir)
    if c.failed:
        raise AssertionError(f"{len(c.failed)} mismatches, first: {c.failed[0]}")
    return c.ok


def verify(vectors_dir: str | Path) -> int:
    """Check every room vector in ``vectors_dir``; print a summary; 0 if all match, else 1."""
    c = _run(vectors_dir)
    for what in c.failed:
        print(f"MISMATCH room: {what}")
    print(f"room vectors: {c.ok} checks passed, {len(c.failed)} failed")
    return 1 if c.failed else 0


def check_confirm_inputs(c: Checker, commits: dict[str, Any], keys: dict[str, Any]) -> None:
    """A commit's key confirmation covers K_{e-1} and fresh_e of the key schedule (§12.3)."""
    want = {0: ("", keys["fresh_0"]), 1: (keys["K_0"], ""), 2: (keys["K_1"], keys["fresh_2"])}
    for case in commits["cases"]:
        got = (case["previous_key"], case["fresh"])
        c.eq(f"commit {case['name']} confirmation inputs", got, want[case["epoch"]])


def sframe_header(kid: int, ctr: int) -> bytes:
    """The RFC 9605 header of §11.2: a value below 8 in the nibble, else its minimal bytes."""

    def field(v: int) -> tuple[int, bytes]:
        n = (v.bit_length() + 7) // 8
        return (v, b"") if v < 8 else (0x8 | (n - 1), v.to_bytes(n, "big"))

    (k, kb), (c, cb) = field(kid), field(ctr)
    return bytes(((k << 4) | c,)) + kb + cb


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(p ^ q for p, q in zip(a, b, strict=True))


def hp_mask(hp_key: bytes, sample: bytes, n: int) -> bytes:
    """ChaCha20(hp_key, counter = sample[0:4] LE, nonce = sample[4:16]) over n zeros (§15.4.1)."""
    return Cipher(algorithms.ChaCha20(hp_key, sample), mode=None).encryptor().update(bytes(n))


def check_audio(c: Checker, v: dict[str, Any]) -> None:
    """Room frames and a proof on the wire (spec §15.4.1), from S_e,m and the payloads."""
    room_id, member, epoch = x(v["room_id"]), x(v["member_id"]), v["epoch"]
    secret = x(v["S_1_member"])
    hp = hkdf(L["frame_header_key"], secret)
    c.eq("audio hp_key", hp.hex(), v["hp_key"])
    fk = hkdf(L["frame_key"], secret, ctx=epoch.to_bytes(8, "big"))
    salt = hkdf(L["frame_salt"], secret, ctx=epoch.to_bytes(8, "big"), n=24)
    prefix = labelled(L["frame_aad"], room_id + epoch.to_bytes(8, "big") + member + b"\x01")
    for case in v["frames"]:
        ctr, payload = case["counter"], x(case["payload"])
        where = f"audio frame ctr={ctr}"
        header = sframe_header(epoch % 8, ctr)
        nonce = salt[:16] + xor(salt[16:], ctr.to_bytes(8, "big"))
        size = min(b for b in BUCKETS if b >= len(payload) + 1)
        pt = payload + b"\x80" + bytes(size - len(payload) - 1)
        body = xchacha(fk, nonce, pt, prefix + header)
        c.eq(f"{where} §11 frame", (header + body).hex(), case["frame"])
        room_header = bytes((epoch % 8,)) + ctr.to_bytes(4, "big")
        c.eq(f"{where} room header", room_header.hex(), case["room_header"])
        c.eq(f"{where} sample", body[:16].hex(), case["sample"])
        mask = hp_mask(hp, body[:16], 5)
        c.eq(f"{where} mask", mask.hex(), case["mask"])
        masked = bytes((room_header[0] ^ (mask[0] & 0x7F),)) + xor(room_header[1:], mask[1:])
        c.eq(f"{where} masked header", masked.hex(), case["masked_header"])
        c.eq(f"{where} wire", (masked + body).hex(), case["wire"])
        c.eq(f"{where} below 0x80", masked[0] < 0x80, True)
        digest = lhash(L["frame_digest"], header + body)
        c.eq(f"{where} digest of the §11 frame", digest.hex(), case["digest"])
    proof = x(v["proof"]["clear"])
    sample = proof[10:26]
    c.eq("audio proof sample", sample.hex(), v["proof"]["sample"])
    mask = hp_mask(hp, sample, 9)
    c.eq("audio proof mask", mask.hex(), v["proof"]["mask"])
    wire = proof[:1] + xor(proof[1:10], mask) + proof[10:]
    c.eq("audio proof wire", wire.hex(), v["proof"]["wire"])


def _run(vectors_dir: str | Path) -> Checker:
    d = Path(vectors_dir)
    load = lambda name: json.loads((d / f"{name}.json").read_text())  # noqa: E731
    c = Checker()
    heads = check_commits(c, load("room_commits"))
    snap = load("room_snapshot")
    check_snapshot(c, snap)
    check_keys(c, load("room_keys"))
    check_confirm_inputs(c, load("room_commits"), load("room_keys"))
    check_payloads(c, load("room_payloads"), heads, snap)
    check_safety(c, load("room_safety_code"))
    check_audio(c, load("room_audio"))
    check_deputy(c, load("room_deputy"))
    return c


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vectors", default=str(Path(__file__).parent / "vectors"))
    sys.exit(verify(ap.parse_args().vectors))
