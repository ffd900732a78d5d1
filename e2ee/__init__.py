"""Hushroom's sans-IO protocol core (spec/protocol.md).

Bytes and events in, bytes and events out.  Nothing in this package performs
I/O, reads a clock or draws randomness by itself: callers pass ``now`` (float
seconds) and a ``rng`` (a callable returning *n* random bytes) where needed.

Core API (module -> main names; spec section)
---------------------------------------------
errors      HushroomError > LocalProtocolError, RemoteProtocolError(msg, code) > DecryptionFailed;
            ErrorCode (§18)
canonical   encode(value) -> bytes, decode(bytes) -> Value, decode_array(data, n, what),
            expect_int / expect_bytes / expect_str / expect_version (§4)
kdf         hkdf(label, ikm, length, salt=, context=), hmac_sha256, labelled, labelled_hash,
            LABELS and one constant per label (§3.3, §3.4)
identity    IdentityKey(seed) / .generate(rng) / .public / .sign(label, msg) /
            .to_file_bytes() / .from_file_bytes(data);
            verify_signature(pub, label, msg, sig) -> None (raises DecryptionFailed);
            SessionKey.generate(rng) / .public / .certify(identity) -> SessionCertificate /
            .exchange(peer_pub); SessionCertificate.decode(data) (verifies) / .encode();
            fingerprint(pub), safety_code(pub) -> "12345 67890 ..." (§5)
            Signature labels must start with b"hushroom v1 sig " and be listed in spec §3.4.
xchacha     XChaChaPrefix(key, prefix16).encrypt(suffix8, pt, aad) / .decrypt(...) — HChaCha20
            subkey cached once; encrypt(key, nonce24, pt, aad), decrypt(...), hchacha20 (§3.2)
invite      Invite(host, port, room_secret, relay_pin, founder_identity); Invite.create(host, port,
            relay_pin, founder_identity, rng); .to_link() -> "hushroom://h:p/#code";
            Invite.from_link(text) (RemoteProtocolError, code CHECKSUM for typos); .secrets() ->
            RoomSecrets(room_tag: 16 B, admission_key: 32 B, room_id: 32 B);
            RoomSecrets.derive(room_secret, founder_identity) (§6)
pairwise    PairwiseChannel(room_id=, my_identity=, my_session: SessionKey, peer_identity=,
            peer_session=, max_skip=1000, max_stored_skipped=2000); .seal(pt) -> bytes;
            .open(msg) -> bytes (REPLAY / TOO_FAR / DecryptionFailed); ratchet_step(ck) (§9)
sender_key  SenderKey(kid, epoch, secret); SenderKey.fresh(rng, epoch, kid=0); .ratchet(epoch);
            .encode_update(next_counter) / SenderKey.decode_update(data) -> (key, next_counter);
            frame_key_and_salt(secret, kid) (§10)
frame       FrameSender(key, room_id=, sender_id=, padded=True, next_counter=0, counter_limit=)
            .protect(payload) -> bytes; .ratchet(epoch); .rekey(rng, epoch); .key_update() -> bytes;
            .export_for_joiner(epoch) -> bytes; .key; .next_counter
            FrameReceiver(room_id=, sender_id=, padded=True, window=256, max_jump=2**20, grace=1.0)
            .add_key(key, next_counter) / .add_update(bytes) / .ratchet_to(epoch) / .expire(now)
            .unprotect(frame, now) -> DecryptedFrame(counter, payload)  (one receiver per
            speaker; counter is monotonic per speaker across key changes: the jitter sequence) (§11)
sframe_header encode_header(kid, ctr), decode_header(data) -> (kid, ctr, header_len) (RFC 9605 §4.3)
padding     pad / unpad / BUCKETS (§11.4);  replay  ReplayWindow(size, max_jump) (§11.6)
"""
