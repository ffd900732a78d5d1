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
"""
