"""The room session's pipelines, built once from the state they read and update (spec §8, §12–§16).

A session owns its state in collaborators (chain, epoch keys, slots, the
chair, ...: see :mod:`e2ee.room.session`).  What it does with that state
runs in pipelines that keep none of their own (but for what the timers and
the room secret keep, named below): each is built here, once, with the
collaborators it reads and updates, is handed the roster and our state on
each call, and sends through the outbox (spec §8).  None holds the session,
so none can call back into it: the session routes what they return.

====================  ====================================================  ============
pipeline              does                                                  spec
====================  ====================================================  ============
``control_send``      our control messages onto the outbox, when we may     §14.2
``announce``          our slot announced; the stage's slots told            §16.4
``epoch_install``     the chain advanced, epoch keys held, payloads freed   §14.3, §15.1
``catch_up_keys``     re-key secrets and sync keys judged and installed     §15.2, §16.4
``welcome_in``        welcome pieces reassembled; verdicts checked          §13.1, §13.5
``pair_out``          pair messages to a member's current channel and slot  §15.3
``promotion``         pair channels and our slot for a new moderator        §15.3, §16.4
``join_requests``     knocks, offers, requests, welcomes, denials           §13.3–§13.5
``commit_flush``      sending the chair's next commit and fresh secrets     §12.5, §15.2
``sync_replies``      syncs and snapshots for lagging members               §16.4, §16.7
``heads``             our head beacons out, others' head claims in          §16.2–§16.4
``stale_senders``     alerts, forwarded commits, syncs for stale senders    §15.4
``take_over``         absence timers; the deputy's take-over queued         §12.2, §16.4
``frames_in``         audio frames only from a stage member's slot          §15.4, §15.6
``member_tables``     every per-member table told of a join or a leave      §16.7
``control_routing``   a control message accepted, its outcome routed        §14.3, §14.4
``role_change``       delivery class and announcement for a new role        §12.2, §16.4
``commit_in``         a commit placed, applied, its effects routed          §12.3, §12.5
``snapshot_install``  a welcome's or an offered snapshot installed          §13.5, §16.4
``timers``            what is due, in order; owns the head beacon's time    §16.2, §16.4
``relay_link``        our link welcomed or new; a peer's link come or gone  §8, §16.4
``room_secret``       rotations sent and followed; owns the admission key   §6.4, §13.7
``audio_out``         our frames out, when we may send them                 §15.4–§15.6
====================  ====================================================  ============
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from e2ee.identity import IdentityKey, SessionKey
from e2ee.room.absence import AbsenceTimers
from e2ee.room.admitting import Admissions
from e2ee.room.announce import Announcements
from e2ee.room.audio_out import AudioOut
from e2ee.room.authority import Authority
from e2ee.room.catch_up_keys import CatchUpKeys
from e2ee.room.chain import Chain
from e2ee.room.chair import Chair
from e2ee.room.chunks import ChunkAssembler
from e2ee.room.commit_flush import CommitFlush
from e2ee.room.commit_in import CommitIn
from e2ee.room.config import RoomConfig
from e2ee.room.control_in import ControlIn
from e2ee.room.control_out import ControlOut
from e2ee.room.control_routing import ControlRouting
from e2ee.room.control_send import ControlSender
from e2ee.room.delivery import Delivery
from e2ee.room.epoch_install import EpochInstall
from e2ee.room.epochs import EpochKeys
from e2ee.room.frames_in import FramesIn
from e2ee.room.fresh import FreshSecrets
from e2ee.room.heads import Heads
from e2ee.room.join_requests import JoinRequests
from e2ee.room.joiner import Joiner
from e2ee.room.knocking import Knocking
from e2ee.room.liveness import QuietWatch
from e2ee.room.media import Media
from e2ee.room.member_tables import MemberTables
from e2ee.room.outbox import Outbox
from e2ee.room.pair_out import PairOut
from e2ee.room.pairs import Pairs
from e2ee.room.pending import PendingPayloads
from e2ee.room.promotion import Promotion
from e2ee.room.recording import RecordingMarks
from e2ee.room.relay_link import RelayLink
from e2ee.room.role_change import RoleChange
from e2ee.room.room_secret import RoomSecret
from e2ee.room.slots import Slots
from e2ee.room.snapshot_install import SnapshotInstall
from e2ee.room.stale_senders import StaleSenders
from e2ee.room.sync_replies import SyncReplies
from e2ee.room.take_over import TakeOver
from e2ee.room.timers import Timers
from e2ee.room.welcome_in import WelcomeIn


class Pipelines:
    """Every pipeline of one session, wired to the state it works on (see the module table)."""

    __slots__ = (
        "announcements", "audio_out", "catch_up_keys", "commit_flush", "commit_in", "control",
        "control_routing", "epoch_install", "frames_in", "heads", "join_requests",
        "member_tables", "pair_out", "promotion", "relay_link", "role_change", "room_secret",
        "snapshots", "stale_senders", "sync_replies", "take_over", "timers", "welcome_in",
    )  # fmt: skip

    def __init__(
        self,
        identity: IdentityKey,
        session_key: SessionKey,
        room_id: bytes,
        admission_key: bytes,
        rng: Callable[[int], bytes],
        cfg: RoomConfig,
        counters: Counter[str],
        out: Outbox,
        chain: Chain,
        keys: EpochKeys,
        fresh: FreshSecrets,
        held: PendingPayloads,
        slots: Slots,
        chair: Chair,
        admissions: Admissions,
        authority: Authority,
        joiner: Joiner,
        knocking: Knocking,
        chunks: ChunkAssembler,
        control_out: ControlOut,
        control_in: ControlIn,
        pairs: Pairs,
        quiet: QuietWatch,
        absence: AbsenceTimers,
        recording: RecordingMarks,
        media: Media,
        delivery: Delivery,
    ) -> None:
        me = identity.public
        self.epoch_install = install = EpochInstall(chain, keys, held)
        self.catch_up_keys = CatchUpKeys(out, counters, chain, keys, fresh, install)
        self.control = control = ControlSender(control_out, keys, chain, out, rng)
        self.announcements = announce = Announcements(me, control, slots)
        self.welcome_in = WelcomeIn(joiner, authority, chunks, session_key, room_id, counters)
        self.pair_out = post = PairOut(rng, out, slots, pairs, held)
        self.promotion = Promotion(me, post, slots, announce)
        self.join_requests = JoinRequests(
            me, room_id, rng, out, admissions, chair, authority, chain, keys, slots, post
        )
        self.commit_flush = flush = CommitFlush(me, out, chair, chain, keys, post)
        self.sync_replies = replies = SyncReplies(chair, authority, chain, keys, slots, post)
        self.heads = Heads(identity, room_id, rng, out, chain, keys, slots, quiet, replies)
        self.stale_senders = StaleSenders(
            me, room_id, rng, out, counters, chair, chain, keys, slots, replies
        )
        self.take_over = TakeOver(me, chair, slots, absence)
        self.frames_in = FramesIn(me, media, slots, keys, chain, self.stale_senders, out)
        self.member_tables = MemberTables(admissions, control_in, slots, chair, media, absence)
        self.control_routing = ControlRouting(
            out, control_in, chain, slots, recording, announce, self.heads, replies, chair,
            absence, self.take_over, flush,
        )  # fmt: skip
        self.role_change = RoleChange(me, quiet, delivery, announce)
        self.commit_in = CommitIn(
            me, out, counters, chain, keys, fresh, install, authority, chair, quiet, delivery,
            self.role_change, self.member_tables, self.promotion, self.join_requests,
            self.take_over, flush,
        )  # fmt: skip
        self.snapshots = SnapshotInstall(
            me, out, chain, install, fresh, admissions, slots, knocking, post, self.role_change,
            announce,
        )  # fmt: skip
        self.timers = Timers(
            me, cfg.head_beacon, counters, out, knocking, control, slots, chain, keys, fresh,
            chunks, media, chair, replies, absence, self.take_over, flush, self.heads, quiet,
        )  # fmt: skip
        self.audio_out = AudioOut(me, out, counters, media, keys, chain, fresh, quiet)
        self.relay_link = RelayLink(
            me,
            out,
            slots,
            chunks,
            chair,
            delivery,
            knocking,
            announce,
            self.timers,
            self.take_over,
        )
        self.room_secret = RoomSecret(
            identity, room_id, admission_key, rng, out, counters, admissions, self.relay_link
        )
