"""Generate spec/vectors/room_*.json (spec §12–§16) from fixed seeds with the implementation.

    python spec/gen_room_vectors.py [--out spec/vectors]

spec/verify_room.py recomputes every value from the inputs without importing
e2ee/.  All randomness comes from a fixed byte stream (SHA-256 of a counter),
and every random value used is written into the vector as an input.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path
from typing import Any

from e2ee.canonical import Value
from e2ee.frame import FrameSender
from e2ee.identity import IdentityKey, SessionKey
from e2ee.room import admission, header_protection, keys, seal, speaker_proof
from e2ee.room.authority import verify_proof
from e2ee.room.commit import (
    Commit,
    key_confirmation,
    sign_commit,
    sign_snapshot,
    snapshot_body,
    state_digest,
)
from e2ee.room.control import ControlType, encode_beacon, sign_control
from e2ee.room.roster import (
    Op,
    Policy,
    RemoveReason,
    Role,
    RosterState,
    op_add,
    op_deputy,
    op_hand,
    op_policy,
    op_remove,
    op_role,
)
from e2ee.room.safety import room_safety_code
from e2ee.room.succession import take_over_ops
from e2ee.sender_key import SenderKey


class Stream:
    """Deterministic rng: SHA-256(seed || counter) blocks; records what it handed out."""

    def __init__(self, seed: bytes) -> None:
        self.seed = seed
        self.n = 0

    def __call__(self, k: int) -> bytes:
        out = b""
        while len(out) < k:
            out += hashlib.sha256(self.seed + self.n.to_bytes(8, "big")).digest()
            self.n += 1
        return out[:k]


def h(b: bytes) -> str:
    return b.hex()


def commit_case(name: str, c: Commit, previous_key: bytes, fresh: bytes = b"") -> dict[str, Any]:
    """A commit as a vector case: every input and output in hex (spec §12.3)."""
    return {
        "name": name,
        "epoch": c.epoch,
        "parent": h(c.parent),
        "signer": h(c.signer),
        "ops": [[h(x) if isinstance(x, bytes) else x for x in op] for op in c.ops],
        "rekey": c.rekey,
        "previous_key": h(previous_key),
        "fresh": h(fresh),
        "key_confirm": h(c.key_confirm),
        "body": h(c.body),
        "signature": h(c.signature),
        "head": h(c.head),
        "commit": h(c.encode()),
    }


def deputy_vectors(
    seeds: tuple[bytes, bytes], m_sess: bytes, room_id: bytes, genesis: Commit, k0: bytes
) -> dict[str, Any]:
    """The founder admits Bob, then names him deputy; Bob takes the chair (§12.2, §13.2)."""
    founder, member = IdentityKey(seeds[0]), IdentityKey(seeds[1])

    def after(signer: IdentityKey, parent: Commit, previous: bytes, ops: list[Op]) -> Commit:
        confirm = key_confirmation(previous, b"")  # K_{e-1}, no fresh secret (§12.3)
        epoch = parent.epoch + 1
        return sign_commit(signer, room_id, epoch, parent.head, ops, False, key_confirm=confirm)

    add = after(founder, genesis, k0, [op_add(member.public, m_sess, "Bob", Role.LISTENER)])
    k1 = keys.next_epoch_key(k0, add.head)
    named = after(founder, add, k1, [op_deputy(member.public)])
    k2 = keys.next_epoch_key(k1, named.head)
    take = after(member, named, k2, take_over_ops(member.public))
    # a take-over right after the admission, which named nobody: no proof reaches Bob
    forged = after(member, add, k1, take_over_ops(member.public))
    state = RosterState(Policy.KNOCK)
    for c in (genesis, add, named):
        state.apply_ops(list(c.ops))
    body = snapshot_body(room_id, 2, named.head, state)
    promotion_proof = (named.encode(), take.encode())
    verify_proof(founder.public, room_id, member.public, promotion_proof)
    return {
        "description": (
            "Deputy and take-over (spec §12.2, §13.2): the founder admits Bob at epoch 1 "
            "and names him deputy at epoch 2; Bob's commit of epoch 3 promotes himself"
        ),
        "founder_seed": h(seeds[0]),
        "member_seed": h(seeds[1]),
        "room_id": h(room_id),
        "genesis_head": h(genesis.head),
        "cases": [
            commit_case("add", add, k0),
            commit_case("named", named, k1),
            commit_case("take_over", take, k2),
        ],
        "snapshot_body": h(body),
        "deputy_proof": [h(named.encode())],
        "promotion_proof": [h(c) for c in promotion_proof],
        "invalid_promotion_proof": [h(add.encode()), h(forged.encode())],
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).parent / "vectors"))
    out = Path(ap.parse_args().out)
    rng = Stream(b"hushroom room vectors")
    founder_seed, member_seed = rng(32), rng(32)
    founder, member = IdentityKey(founder_seed), IdentityKey(member_seed)
    f_sess_priv, m_sess_priv = rng(32), rng(32)
    f_sess, m_sess = SessionKey(f_sess_priv), SessionKey(m_sess_priv)
    room_id = rng(32)
    admission_key = rng(32)

    # -- commits, heads (§12.3, §12.4) --------------------------------------
    genesis_ops = [
        op_policy(Policy.KNOCK),
        op_add(founder.public, f_sess.public, "Ada", Role.MODERATOR),
    ]
    fresh0, fresh2 = rng(32), rng(32)
    confirm0 = key_confirmation(b"", fresh0)
    genesis = sign_commit(founder, room_id, 0, bytes(32), genesis_ops, False, key_confirm=confirm0)
    k0 = keys.first_epoch_key(fresh0, genesis.head)
    add_ops = [
        op_add(member.public, m_sess.public, "Bob", Role.LISTENER),
        op_hand(member.public, True),
    ]
    add = sign_commit(
        founder, room_id, 1, genesis.head, add_ops, False, key_confirm=key_confirmation(k0, b"")
    )
    k1 = keys.next_epoch_key(k0, add.head)
    kick_ops = [op_remove(member.public, RemoveReason.KICKED)]
    confirm2 = key_confirmation(k1, fresh2)
    kick = sign_commit(founder, room_id, 2, add.head, kick_ops, True, key_confirm=confirm2)
    confirm_inputs = {0: (b"", fresh0), 1: (k0, b""), 2: (k1, fresh2)}
    commits: dict[str, Any] = {
        "description": (
            "Roster commits (spec §12.3, §12.4): key confirmation, body, signature, head, wire form"
        ),
        "founder_seed": h(founder_seed),
        "room_id": h(room_id),
        "cases": [
            commit_case(name, c, *confirm_inputs[c.epoch])
            for name, c in (("genesis", genesis), ("add_and_hand", add), ("kick", kick))
        ],
    }

    # -- snapshot (§12.6) ---------------------------------------------------
    state = RosterState(Policy.KNOCK)
    state.apply_ops(list(genesis.ops))
    state.apply_ops(list(add.ops))
    body = snapshot_body(room_id, 1, add.head, state)
    snap = sign_snapshot(founder, room_id, body, [[founder.public, []]])
    snapshot = {
        "description": "Roster snapshot at epoch 1 (spec §12.6)",
        "founder_seed": h(founder_seed),
        "room_id": h(room_id),
        "epoch": 1,
        "head": h(add.head),
        "members": [
            [h(m.id), h(m.session_key), m.name, int(m.role)] for m in state.members.values()
        ],
        "hands": [h(x) for x in state.hands],
        "policy": int(state.policy),
        "snapshot_body": h(body),
        "state_digest": h(state_digest(body)),
        "snapshot": h(snap),
    }

    # -- key schedule (§15.1) -------------------------------------------------
    k2 = keys.next_epoch_key(k1, kick.head, fresh2)
    key_vectors = {
        "description": "Epoch keys, control keys, sender secrets (spec §15.1)",
        "room_id": h(room_id),
        "fresh_0": h(fresh0),
        "head_0": h(genesis.head),
        "K_0": h(k0),
        "head_1": h(add.head),
        "K_1": h(k1),
        "fresh_2": h(fresh2),
        "head_2": h(kick.head),
        "K_2": h(k2),
        "C_1": h(keys.control_key(k1, room_id)),
        "member_id": h(member.public),
        "S_1_member": h(keys.sender_base(k1, member.public)),
    }

    # -- payload envelopes (§13.1, §13.2, §13.4, §14, §16.2) -------------------
    c1 = keys.control_key(k1, room_id)
    ctrl_nonce_start = rng.n
    ctrl = sign_control(member, m_sess.public, room_id, ControlType.CHAT, 7, 1, add.head, ["hello"])
    rec_args: list[Value] = [True]
    rec = sign_control(
        member, m_sess.public, room_id, ControlType.RECORDING, 8, 1, add.head, rec_args
    )
    loss_args: list[Value] = [founder.public, 37]
    loss = sign_control(
        member, m_sess.public, room_id, ControlType.LOSS_REPORT, 9, 1, add.head, loss_args
    )
    commit_payload_rng = Stream(b"commit payload nonce")
    commit_payload = seal.seal_epoch(
        seal.Kind.COMMIT,
        keys.control_key(k0, room_id),
        room_id,
        0,
        add.encode(),
        commit_payload_rng,
    )
    ctrl_rng = Stream(b"control nonce")
    ctrl_payload = seal.seal_epoch(seal.Kind.CONTROL, c1, room_id, 1, ctrl, ctrl_rng)
    del ctrl_nonce_start
    cert = m_sess.certify(member)
    f_cert = f_sess.certify(founder)
    knock_pt = admission.encode_knock()
    knock_payload = seal.seal_admission(admission_key, room_id, knock_pt, Stream(b"knock nonce"))
    challenge = rng(16)
    offer_pt = admission.encode_offer(challenge, f_cert, ())
    offer_payload = seal.seal_admission(admission_key, room_id, offer_pt, Stream(b"offer nonce"))
    join_pt = admission.encode_join_request(member, cert, "Bob", room_id, founder.public, challenge)
    join_sealed = seal.seal_to(f_sess.public, room_id, join_pt, Stream(b"join eph and nonce"))
    request_pt = admission.encode_request(join_sealed)
    join_payload = seal.seal_admission(admission_key, room_id, request_pt, Stream(b"join nonce"))
    welcome_pt = admission.encode_welcome(
        founder, room_id, m_sess.public, snap, k1, [[founder.public, 3]]
    )
    welcome_rng = Stream(b"welcome eph and nonce")
    welcome_payload = seal.seal_to(m_sess.public, room_id, welcome_pt, welcome_rng)
    # the founder's own proof is empty; the member's is this one commit
    promote = sign_commit(
        founder,
        room_id,
        2,
        add.head,
        [op_role(member.public, Role.MODERATOR)],
        False,
        key_confirm=key_confirmation(k1, b""),
    )
    denial_pt = admission.encode_denial(member, room_id, f_sess.public, (promote.encode(),))
    denial_payload = seal.seal_to(f_sess.public, room_id, denial_pt, Stream(b"denial eph"))
    beacon_pt = encode_beacon(member, room_id, 1, [add.head, genesis.head])
    beacon_mac = seal.beacon_mac(k1, room_id, beacon_pt)
    beacon_rng = Stream(b"beacon nonce")
    beacon_payload = seal.seal_admission(
        admission_key, room_id, beacon_pt + beacon_mac, beacon_rng, seal.Kind.BEACON
    )
    ch = seal.PairChannel(f_sess, founder.public, member.public, m_sess.public, room_id)
    pair_pt = b"a pairwise plaintext"
    pair_payload = ch.seal(pair_pt, Stream(b"pairwise wrap nonce"))
    pair_message = seal.open_keyed(ch.key, room_id, pair_payload)[1]
    payloads = {
        "description": "Room payloads and signed plaintexts (spec §13.1-§13.4, §14.2, §16.2)",
        "founder_seed": h(founder_seed),
        "member_seed": h(member_seed),
        "founder_session_private": h(f_sess_priv),
        "member_session_private": h(m_sess_priv),
        "room_id": h(room_id),
        "admission_key": h(admission_key),
        "K_0": h(k0),
        "K_1": h(k1),
        "description_v2": "every payload: hint 8 | nonce 24 | ct, or eph 32 | ct (spec §14.1)",
        "commit_payload": {
            "nonce": h(Stream(b"commit payload nonce")(24)),
            "hint": h(commit_payload[:8]),
            "commit": h(add.encode()),
            "payload": h(commit_payload),
        },
        "control": {
            "type": int(ControlType.CHAT),
            "seq": 7,
            "epoch": 1,
            "head": h(add.head),
            "args": ["hello"],
            "message": h(ctrl),
            "nonce": h(Stream(b"control nonce")(24)),
            "payload": h(ctrl_payload),
        },
        "control_recording": {
            "type": int(ControlType.RECORDING),
            "seq": 8,
            "epoch": 1,
            "head": h(add.head),
            "args": [True],
            "message": h(rec),
        },
        "control_loss_report": {
            "type": int(ControlType.LOSS_REPORT),
            "seq": 9,
            "epoch": 1,
            "head": h(add.head),
            "speaker_id": h(founder.public),
            "loss_permille": 37,
            "message": h(loss),
        },
        "knock": {
            "plaintext": h(knock_pt),
            "nonce": h(Stream(b"knock nonce")(24)),
            "payload": h(knock_payload),
        },
        "offer": {
            "challenge": h(challenge),
            "moderator_session_certificate": h(f_cert.encode()),
            "plaintext": h(offer_pt),
            "nonce": h(Stream(b"offer nonce")(24)),
            "payload": h(offer_payload),
        },
        "join_request": {
            "name": "Bob",
            "session_certificate": h(cert.encode()),
            "plaintext": h(join_pt),
            "ephemeral_private": h(Stream(b"join eph and nonce")(32)),
            "sealed": h(join_sealed),
            "request_plaintext": h(request_pt),
            "nonce": h(Stream(b"join nonce")(24)),
            "payload": h(join_payload),
        },
        "welcome": {
            "plaintext": h(welcome_pt),
            "ephemeral_private": h(Stream(b"welcome eph and nonce")(32)),
            "payload": h(welcome_payload),
        },
        "denial": {
            "description": "a denial by the member, promoted by the founder at epoch 2",
            "promotion_commit": h(promote.encode()),
            "plaintext": h(denial_pt),
            "ephemeral_private": h(Stream(b"denial eph")(32)),
            "payload": h(denial_payload),
        },
        "beacon": {
            "epoch": 1,
            "heads": [h(add.head), h(genesis.head)],
            "plaintext": h(beacon_pt),
            "mac": h(beacon_mac),
            "nonce": h(Stream(b"beacon nonce")(24)),
            "payload": h(beacon_payload),
        },
        "pairwise": {
            "description": "founder -> member, first message of the channel (spec §9, §15.3)",
            "wrap_key": h(ch.key),
            "plaintext": h(pair_pt),
            "message": h(pair_message),
            "nonce": h(Stream(b"pairwise wrap nonce")(24)),
            "payload": h(pair_payload),
        },
    }
    safety = safety_vectors(room_id, genesis_ops, add_ops, member.public)
    audio = audio_vectors(room_id, k1, member)
    deputy = deputy_vectors((founder_seed, member_seed), m_sess.public, room_id, genesis, k0)
    out.mkdir(parents=True, exist_ok=True)
    for name, data in (
        ("room_commits", commits),
        ("room_snapshot", snapshot),
        ("room_keys", key_vectors),
        ("room_payloads", payloads),
        ("room_safety_code", safety),
        ("room_audio", audio),
        ("room_deputy", deputy),
    ):
        (out / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    return 0


def safety_vectors(
    room_id: bytes, genesis_ops: list[Any], add_ops: list[Any], bob: bytes
) -> dict[str, Any]:
    """Room safety codes (spec §16.1) of a roster as ops change it: a raised or
    lowered hand leaves the code as it is; a join, a role change, a removal change it."""
    state = RosterState(Policy.KNOCK)
    steps = [
        ("founder alone", genesis_ops),
        ("Bob joins with his hand raised", add_ops),
        ("Bob lowers his hand", [op_hand(bob, False)]),
        ("Bob becomes a speaker", [op_role(bob, Role.SPEAKER)]),
        ("Bob is kicked", [op_remove(bob, RemoveReason.KICKED)]),
    ]
    cases = []
    for name, ops in steps:
        state.apply_ops(list(ops))
        cases.append(
            {
                "name": name,
                "members": [[h(m.id), int(m.role)] for m in state.members.values()],
                "code": room_safety_code(room_id, state),
            }
        )
    return {"description": "Room safety codes (spec §16.1)", "room_id": h(room_id), "cases": cases}


def audio_vectors(room_id: bytes, k1: bytes, member: IdentityKey) -> dict[str, Any]:
    """Room frames and a speaker proof on the wire (spec §15.4.1) at epoch 1, with intermediates."""
    epoch, me = 1, member.public
    secret = keys.sender_base(k1, me)
    hp_key = header_protection.header_key(secret)
    cases = []
    for counter, payload in (
        (5, b"\xfc" + bytes(40)),
        (300, b"\xfc" + bytes(90)),
        (2**32 - 1, b""),
    ):
        tx = FrameSender(
            SenderKey(epoch, epoch, secret), room_id=room_id, sender_id=me, next_counter=counter
        )
        frame = tx.protect(payload)
        wire = header_protection.hide_frame(frame, hp_key)
        hlen = len(frame) - len(wire) + header_protection.ROOM_HEADER_LEN
        sample = frame[hlen : hlen + header_protection.SAMPLE_LEN]
        mask = header_protection.header_mask(hp_key, sample, header_protection.ROOM_HEADER_LEN)
        cases.append(
            {
                "counter": counter,
                "payload": h(payload),
                "frame": h(frame),
                "room_header": h(bytes((epoch % 8,)) + counter.to_bytes(4, "big")),
                "sample": h(sample),
                "mask": h(mask),
                "masked_header": h(wire[: header_protection.ROOM_HEADER_LEN]),
                "wire": h(wire),
                "digest": h(speaker_proof.frame_digest(frame)),
            }
        )
    proof = speaker_proof.make_proof(
        member, keys.proof_key(secret), room_id, epoch, 5, [bytes(32)], 1
    )
    wire_proof = header_protection.hide_proof(proof, hp_key)
    end = 1 + header_protection.PROOF_FIELDS
    proof_sample = proof[end : end + header_protection.SAMPLE_LEN]
    return {
        "description": (
            "Room audio on the wire (spec §15.4.1): the header key of a speaker at epoch 1, "
            "frames at three counters (their §11 form, sample, mask, masked header, wire "
            "form and the digest a speaker proof signs), and a speaker proof masked"
        ),
        "room_id": h(room_id),
        "epoch": epoch,
        "member_id": h(me),
        "S_1_member": h(secret),
        "hp_key": h(hp_key),
        "frames": cases,
        "proof": {
            "clear": h(proof),
            "sample": h(proof_sample),
            "mask": h(header_protection.header_mask(hp_key, proof_sample, end - 1)),
            "wire": h(wire_proof),
        },
    }


if __name__ == "__main__":
    raise SystemExit(main())
