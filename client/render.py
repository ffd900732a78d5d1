"""Text rendering of a :class:`~client.view.RoomView`: the screen and the help line."""

from __future__ import annotations

import textwrap

from client.view import MemberView, RoomView

SPEAKING = "♪"
HAND = "✋"
RECORDING = "● REC"


def member_line(view: RoomView, member: MemberView, now: float, selected: bool) -> str:
    mark = SPEAKING if view.speaking(member, now) else " "
    hand = f" {HAND}" if member.hand_raised else ""
    you = " (you)" if member.is_me else ""
    role = "" if member.role == "listener" else f" [{member.role}]"
    rec = f" {RECORDING}" if member.recording else ""
    if member.handle in view.local_mutes:
        local = " (muted for you)"
    elif member.handle in view.volumes:
        local = f" (volume {view.volumes[member.handle]:.0%})"
    else:
        local = ""
    cursor = ">" if selected else " "
    return f"{cursor} {mark} {member.name}{you}{role}{hand}{rec}{local}"


def talk_line(view: RoomView) -> str | None:
    """Whether this user's audio goes out, when that is not simply "on stage, unmuted"."""
    if view.self_muted:
        return "(you are muted)"
    if view.push_to_talk:
        return "push-to-talk: TALKING (Space to stop)" if view.talking else (
            "push-to-talk: silent (Space to talk)"
        )
    return None


def key_help(view: RoomView) -> str:
    keys = ["h hand", "m mute", "t push-to-talk", "c chat", "/ command", "PgUp/PgDn chat"]
    keys += ["↑↓ select", "+/- volume", "s mute for you", "q leave"]
    if view.push_to_talk:
        keys = ["Space talk", *keys]
    if view.invited_to_speak:
        keys = ["a accept", "d decline", *keys]
    if view.is_moderator():
        keys += ["i invite", "v to audience", "M ask to mute", "r remove", "b ban", "E end"]
        if view.knocks:
            keys += ["y admit", "n deny"]
    return "  ".join(keys)


def render_screen(view: RoomView, now: float, width: int = 80) -> list[str]:
    """The whole screen as lines (no ANSI codes; the caller positions them)."""
    selected = view.selected_member()
    title = f"hushroom — {view.room_name or 'room'}"
    link = f"{view.connection}: {view.link_detail}" if view.link_detail else view.connection
    lines = [title[:width], f"safety code: {view.safety_code or '…'}   link: {link}"]
    if view.invite:
        lines.append(f"invite: {view.invite}")
    lines.append("")
    stage = view.stage()
    lines.append(f"STAGE ({len(stage)})")
    lines += [member_line(view, m, now, m is selected) for m in stage] or ["   (nobody)"]
    audience = view.audience()
    lines.append(f"AUDIENCE ({len(audience)})")
    lines += [member_line(view, m, now, m is selected) for m in audience] or ["   (nobody)"]
    if view.hand_queue:
        names = [view.members[h].name for h in view.hand_queue if h in view.members]
        lines.append("raised hands: " + ", ".join(names))
    if view.knocks:
        lines.append("knocking: " + ", ".join(k.name for k in view.knocks))
    if view.invited_to_speak:
        lines.append("*** you are invited to speak: a = accept, d = decline ***")
    talk = talk_line(view)
    if talk is not None:
        lines.append(talk)
    if view.audio_line:  # paths are long: wrapped, never cut
        lines += textwrap.wrap(view.audio_line, width=max(20, width), break_on_hyphens=False)
    if view.chat:
        lines.append("")
        lines += view.visible_chat()
        if view.chat_scroll:
            lines.append(f"(chat: {view.chat_scroll} newer lines below; PgDn)")
    lines.append("")
    lines += list(view.status)
    lines.append("")
    # wrap between key entries (two spaces), never inside one ("y admit")
    entries = [entry.replace(" ", "\u00a0") for entry in key_help(view).split("  ")]
    wrapped = textwrap.wrap("  ".join(entries), width=max(20, width), break_on_hyphens=False)
    lines += [line.replace("\u00a0", " ") for line in wrapped]
    return [line if line.startswith("invite: ") else line[:width] for line in lines]
