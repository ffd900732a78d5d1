"""What the wire and the relay see during a whole room session (spec §20), recorded and measured.

:func:`record_session` plays a full session — a moderator, two speakers with
real Opus audio from real PCM, listeners, promotions, a raised hand, a chat
message, a kick, a speaker's reconnect — through the real relay router, and keeps every envelope
every client sends and receives, every value reachable from the relay's
state, its stats and every log record.  :func:`visible_metadata` measures
what of that an observer of the envelopes can still tell apart.

``python -m attack.capture`` (run from ``tests/``) prints the measurement as
JSON; docs/security.md quotes it.
"""

from __future__ import annotations

import base64
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

from room.harness import Link, Router, new_identity, rng_for
from room.insider import kind_of

from e2ee.envelope import Envelope, EnvelopeType, encode_envelope
from e2ee.identity import fingerprint, safety_code
from e2ee.invite import Invite
from e2ee.room import RoomSession, seal, speaker_proof
from e2ee.room.events import AudioReceived, ChatReceived, Removed

NAMES = (
    "Ottoline Vance-Moderator",
    "Bartholomew Quill",
    "Philippa Nwosu",
    "Ignatius Fairweather",
    "Rosalind Achterberg",
    "Mallory Evesham",
)
CHAT = "the vault code is heliotrope-8812"
PCM_FRAMES = 25  # per speaker and phase (0.5 s)


class CapturingRelay(Router):
    """The harness relay, keeping every envelope in both directions with its sender."""

    def __init__(self) -> None:
        self.up: list[tuple[Link, Envelope]] = []
        self.down: list[tuple[Link, Envelope]] = []
        self.kinds: list[tuple[Envelope, str]] = []  # reliable payloads, as recipients open them
        super().__init__()

    def _route_envelopes(self, link: Link, envelopes: list[Envelope]) -> None:
        self.up.extend((link, e) for e in envelopes)
        super()._route_envelopes(link, envelopes)

    def _deliver(self, to: Link, env: Envelope) -> None:
        self.down.append((to, env))
        if env.type in (EnvelopeType.CONTROL, EnvelopeType.UNICAST):
            kind = kind_of(to.session, env.payload)
            self.kinds.append((env, "unopened" if kind is None else kind.name))
        super()._deliver(to, env)


@dataclass
class Capture:
    relay: CapturingRelay
    links: dict[str, Link]
    secrets: dict[str, bytes | str] = field(default_factory=dict)
    relay_values: list[bytes | str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)

    def wire(self) -> list[bytes]:
        """Every envelope as the bytes a link carries, both directions."""
        return [
            encode_envelope(e.type, e.room_tag, e.slot, e.payload)
            for _, e in self.relay.up + self.relay.down
        ]


def _reachable(obj: object, seen: set[int], out: list[bytes | str], skip: tuple[type, ...]) -> None:
    """Every bytes and str value reachable from ``obj`` (the relay's own objects only)."""
    if id(obj) in seen or isinstance(obj, skip):
        return
    seen.add(id(obj))
    if isinstance(obj, bytes | bytearray | str):
        out.append(bytes(obj) if not isinstance(obj, str) else obj)
        out.append(repr(obj))
        return
    if isinstance(obj, int | float | bool) or obj is None:
        out.append(repr(obj))
        return
    if isinstance(obj, dict):
        items: list[object] = [*obj.keys(), *obj.values()]
    elif isinstance(obj, list | tuple | set | frozenset):
        items = list(obj)
    else:
        out.append(repr(obj))
        names = list(getattr(obj, "__dict__", {}))
        for cls in type(obj).__mro__:
            names += list(getattr(cls, "__slots__", ()))
        items = [getattr(obj, n) for n in names if n != "transport" and hasattr(obj, n)]
    for item in items:
        _reachable(item, seen, out, skip)


def record_session() -> Capture:
    """A full room session through the real router (see the module docstring)."""
    from client.audio.encoder import OpusFrameEncoder
    from client.audio.format import frames_from_pcm
    from client.audio.synth import speech_like

    relay = CapturingRelay()
    ids = [new_identity(9000 + i) for i in range(len(NAMES))]
    invite = Invite.create(
        "relay.example.org", 4433, bytes(range(32)), ids[0].public, rng_for(9100)
    )
    link_text = invite.to_link()
    invite = Invite.from_link(link_text)
    mod = relay.attach(RoomSession.create(ids[0], invite, NAMES[0], "open", rng_for(9101), 0.0))
    relay.pump()
    others = [
        relay.attach(RoomSession.join(ids[i], invite, NAMES[i], rng_for(9101 + i), 0.0))
        for i in range(1, len(NAMES))
    ]
    relay.pump()
    speakers, listeners, eve = others[:2], others[2:4], others[4]
    cap = Capture(relay, {n: x for n, x in zip(NAMES, [mod, *others], strict=True)})
    codes: set[str] = set()
    for s in speakers:  # promotions
        mod.session.invite_to_speak(s.session.me)
        relay.pump()
        s.session.accept_invitation()
        relay.pump()
    listeners[0].session.raise_hand()
    relay.pump()
    encoders = [OpusFrameEncoder() for _ in speakers]
    opus_frames: list[bytes] = []
    pcm_blocks: list[bytes] = []

    def talk(phase: int) -> None:
        for i, (s, enc) in enumerate(zip(speakers, encoders, strict=True)):
            pcm = speech_like(PCM_FRAMES * 0.02, pitch_hz=110.0 + 40 * i, seed=10 * phase + i)
            for frame in frames_from_pcm(pcm)[:PCM_FRAMES]:
                packet = enc.encode(frame)
                pcm_blocks.append(frame.tobytes())
                if packet is not None:
                    opus_frames.append(packet)
                    s.session.send_audio(packet, relay.now)
            relay.advance(0.02 * (i + 1 + phase))

    talk(0)
    codes.update(x.session.safety_code() for x in (mod, *others))
    speakers[0].session.send_chat(CHAT)
    relay.pump()
    mod.session.kick(eve.session.me)
    relay.pump()
    talk(1)
    relay.reconnect(speakers[0])  # a new link: the relay must not link it to the old one
    relay.pump()
    talk(2)
    relay.advance(31.0)  # beacons
    codes.update(x.session.safety_code() for x in (mod, *others))
    assert any(isinstance(e, ChatReceived) and e.text == CHAT for e in listeners[1].events)
    assert any(isinstance(e, Removed) for e in eve.events)
    assert sum(isinstance(e, AudioReceived) for e in listeners[1].events) >= len(opus_frames) // 2

    secrets: dict[str, bytes | str] = {"chat": CHAT, "room secret": invite.room_secret}
    secrets["invite link"] = link_text
    secrets["invite payload"] = link_text.split("#", 1)[1]  # the part after the relay address
    for name, ident, x in zip(NAMES, ids, [mod, *others], strict=True):
        secrets[f"name {name}"] = name
        secrets[f"identity key of {name}"] = ident.public
        secrets[f"fingerprint of {name}"] = fingerprint(ident.public)
        secrets[f"identity safety code of {name}"] = safety_code(ident.public)
        secrets[f"session key of {name}"] = x.session._session_key.public
    for code in codes:
        secrets[f"room safety code {code}"] = code
        secrets[f"room safety code digits {code}"] = code.split(": ", 1)[-1].replace(" ", "")
    for i, f in enumerate(opus_frames):
        if len(f) >= 8:
            secrets[f"opus frame {i}"] = f
    for i, p in enumerate(pcm_blocks):
        if any(p):
            secrets[f"pcm block {i}"] = p
    cap.secrets = secrets
    from room.harness import Link as ClientLink

    _reachable(relay.relay, set(), cap.relay_values, (ClientLink,))
    cap.relay_values.append(relay.stats.render())
    return cap


def encodings(secret: bytes | str) -> dict[str, bytes]:
    """The forms a value could take on the wire or in a log (raw, hex, base64, base32, UTF-8/16)."""
    if isinstance(secret, str):
        raw = secret.encode("utf-8")
        forms = {
            "utf-8": raw,
            "utf-16-le": secret.encode("utf-16-le"),
            "utf-16-be": secret.encode("utf-16-be"),
        }
    else:
        raw = secret
        forms = {"raw": raw}
    forms["hex"] = raw.hex().encode()
    forms["HEX"] = raw.hex().upper().encode()
    forms["base64"] = base64.b64encode(raw)
    forms["base64url"] = base64.urlsafe_b64encode(raw).rstrip(b"=")
    forms["base32"] = base64.b32encode(raw).rstrip(b"=")
    forms["base32-lower"] = base64.b32encode(raw).rstrip(b"=").lower()
    return forms


def find_leaks(secrets: dict[str, bytes | str], haystack: bytes) -> list[str]:
    """``"<secret> as <encoding>"`` for every form found in ``haystack``."""
    return [
        f"{label} as {form}"
        for label, secret in secrets.items()
        for form, needle in encodings(secret).items()
        if needle in haystack
    ]


def blob(values: list[bytes | str]) -> bytes:
    """One haystack: values back to back (a value split across two is found too)."""
    return b"".join(v.encode("utf-8") if isinstance(v, str) else v for v in values)


def _bucket(n: int) -> str:
    top = 32
    while top < n:
        top *= 2
    return f"<={top}"


def visible_metadata(cap: Capture) -> dict[str, object]:
    """What the envelopes themselves tell an observer that holds no key (spec §20).

    ``kinds_by_size`` is the one insider column: the kinds the recipients
    opened at each payload size, to show what the size does and does not tell.
    """
    envs = [e for _, e in cap.relay.up] + [e for _, e in cap.relay.down]
    types = Counter(e.type.name for e in envs)
    sizes: dict[str, Counter[str]] = {}
    for e in envs:
        sizes.setdefault(e.type.name, Counter())[_bucket(len(e.payload) + 26)] += 1
    reliable = [
        e for _, e in cap.relay.up if e.type in (EnvelopeType.CONTROL, EnvelopeType.UNICAST)
    ]
    distinct = {e.payload for e in reliable}
    prefixes = Counter(p[: seal.HINT_LEN] for p in distinct)
    kinds_by_size: dict[int, set[str]] = {}
    for env, kind in cap.relay.kinds:
        kinds_by_size.setdefault(len(env.payload), set()).add(kind)
    media = [(x, e) for x, e in cap.relay.up if e.type is EnvelopeType.MEDIA]
    # a speaker proof starts with 0xFF, which no wire frame can (spec §15.4.1)
    sent_media = [(x, e) for x, e in media if not speaker_proof.is_speaker_proof(e.payload)]
    proofs = [(x, e) for x, e in media if speaker_proof.is_speaker_proof(e.payload)]
    return {
        "envelopes": len(envs),
        "types": dict(types),
        "size_histogram": {
            t: dict(sorted(c.items(), key=lambda kv: int(kv[0][2:]))) for t, c in sizes.items()
        },
        "reliable_sent": len(reliable),
        "reliable_sizes": sorted({len(p) for p in distinct}),
        "reliable_sizes_all_padded": all(seal.is_payload_len(len(p)) for p in distinct),
        "repeated_hints": sum(n - 1 for n in prefixes.values()),
        "kinds_by_size": {n: sorted(k) for n, k in sorted(kinds_by_size.items())},
        "broadcasts_without_echo": _broadcasts_without_echo(cap),
        "unicasts_to_own_slot": sum(
            1 for x, e in cap.relay.up if e.type is EnvelopeType.UNICAST and e.slot == x.slot
        ),
        "audio_frames": len(sent_media),
        "speaker_proofs": len(proofs),
        "audio_first_bytes_below_0x80": all(e.payload[0] < 0x80 for _, e in sent_media),
        "audio_first_byte_values_min": _fewest_values(sent_media, lambda p: p[0]),
        "audio_counter_fields": _field_pattern(sent_media, 1, 5),
        "proof_phase_byte_values_min": _fewest_values(proofs, lambda p: p[1]),
        "proof_first_fields": _field_pattern(proofs, 2, 10),
    }


def _broadcasts_without_echo(cap: Capture) -> int:
    """CONTROL broadcasts whose sender did not get its own copy back (spec §17.3)."""
    echoed = Counter(
        (id(to), e.payload) for to, e in cap.relay.down if e.type is EnvelopeType.CONTROL
    )
    sent = Counter((id(x), e.payload) for x, e in cap.relay.up if e.type is EnvelopeType.CONTROL)
    return sum(max(0, n - echoed[k]) for k, n in sent.items())


def _by_speaker(media: list[tuple[Link, Envelope]]) -> list[list[bytes]]:
    """Each sending client's MEDIA payloads in order (across its reconnects)."""
    out: dict[int, list[bytes]] = {}
    for link, e in media:
        out.setdefault(id(link), []).append(e.payload)
    return list(out.values())


def _fewest_values(media: list[tuple[Link, Envelope]], byte: Callable[[bytes], int]) -> int:
    """The fewest distinct values one byte position takes over one speaker's payloads."""
    return min(len({byte(p) for p in seq}) for seq in _by_speaker(media))


def _field_pattern(media: list[tuple[Link, Envelope]], start: int, end: int) -> dict[str, float]:
    """How a field read as a clear counter behaves over each speaker's payloads, in order.

    A counter in clear repeats nothing, rises at every step and mostly by one;
    a masked one repeats nothing, rises about half the time and never by one.
    """
    steps = rises = plus_one = repeats = 0
    for seq in _by_speaker(media):
        values = [int.from_bytes(p[start:end], "big") for p in seq]
        repeats += len(values) - len(set(values))
        for a, b in pairwise(values):
            steps += 1
            rises += b > a
            plus_one += b == a + 1
    return {
        "steps": steps,
        "rising_fraction": rises / steps,
        "plus_one_steps": plus_one,
        "repeats": repeats,
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.CRITICAL)
    print(json.dumps(visible_metadata(record_session()), indent=1))
