"""The terminal view model, its rendering, and the key/line command bindings."""

from __future__ import annotations

import pytest

from client.actions import Action, action_for_key, parse_line
from client.console import ScreenConsole
from client.render import render_screen
from client.view import CHAT_HISTORY, CHAT_LINES, Knock, MemberView, RoomView


def room(me_role: str = "moderator") -> RoomView:
    view = RoomView(room_name="Tea", safety_code="12345 67890")
    view.set_members(
        [
            MemberView("m1", "Alice", me_role, is_me=True),
            MemberView("s1", "Bob", "speaker"),
            MemberView("l1", "Carol", "listener"),
            MemberView("l2", "Dave", "listener"),
        ]
    )
    return view


def test_stage_and_audience_split_and_hands_first() -> None:
    view = room()
    view.set_hand_queue(["l2"])
    assert [m.name for m in view.stage()] == ["Alice", "Bob"]
    assert [m.name for m in view.audience()] == ["Dave", "Carol"]  # raised hand first
    assert view.members["l2"].hand_raised and not view.members["l1"].hand_raised


def test_speaking_indicator_follows_audio_times() -> None:
    view = room()
    view.audio_from("s1", 10.0)
    lines = render_screen(view, now=10.1)
    bob = next(line for line in lines if "Bob" in line)
    assert "♪" in bob
    lines = render_screen(view, now=11.0)
    assert "♪" not in next(line for line in lines if "Bob" in line)


def test_render_shows_safety_code_hands_knocks_invitation() -> None:
    view = room()
    view.set_hand_queue(["l1"])
    view.knocks.append(Knock("k1", "Mallory"))
    view.invited_to_speak = True
    text = "\n".join(render_screen(view, 0.0))
    assert "safety code: 12345 67890" in text
    assert "raised hands: Carol" in text
    assert "knocking: Mallory" in text
    assert "invited to speak" in text
    assert "y admit" in text


def test_roster_update_keeps_speaking_times() -> None:
    view = room()
    view.audio_from("s1", 5.0)
    view.set_members([MemberView("s1", "Bob", "speaker"), MemberView("m1", "Alice", "moderator")])
    assert view.members["s1"].last_audio == 5.0
    assert "l1" not in view.members


def test_keys_for_listener_and_moderator() -> None:
    listener = room("listener")
    assert action_for_key("h", listener) == Action("hand")
    listener.set_hand_queue(["m1"])
    assert action_for_key("h", listener) == Action("lower")
    assert action_for_key("a", listener) is None
    listener.invited_to_speak = True
    assert action_for_key("a", listener) == Action("accept")
    assert action_for_key("i", listener) is None  # not a moderator

    mod = room()
    mod.selected = "s1"  # Bob
    assert action_for_key("v", mod) == Action("audience", target="s1")
    assert action_for_key("r", mod) == Action("kick", target="s1")
    mod.selected = "m1"  # yourself: no per-member action
    assert action_for_key("r", mod) is None
    mod.knocks.append(Knock("k1", "Mallory"))
    assert action_for_key("y", mod) == Action("approve", target="k1")


def test_screen_console_arrows_and_chat_line() -> None:
    view = room()
    console = ScreenConsole(view)
    assert console.keys("\x1b[B\x1b[B\x1b[B") == []  # nobody, then Alice, Bob, Carol
    assert view.selected_member() is not None
    assert view.selected_member().name == "Carol"  # type: ignore[union-attr]
    assert console.keys("chello there\r") == [Action("chat", text="hello there")]
    assert console.keys("c\x1bq") == [Action("leave")]  # escape abandons the chat line


def test_parse_line_commands() -> None:
    assert parse_line("  ") is None
    assert parse_line("hand") == Action("hand")
    assert parse_line("invite Bob") == Action("invite", target="Bob")
    assert parse_line("chat hi all") == Action("chat", text="hi all")
    assert parse_line("approve") == Action("approve")
    with pytest.raises(ValueError, match="needs a member"):
        parse_line("kick")
    with pytest.raises(ValueError, match="unknown command"):
        parse_line("dance")


def test_find_member_by_name_prefix() -> None:
    view = room()
    assert view.find("bo") is view.members["s1"]
    assert view.find("Carol") is view.members["l1"]
    assert view.find("zzz") is None


def test_screen_command_line_takes_every_plain_mode_command() -> None:
    view = room()
    console = ScreenConsole(view)
    assert console.keys("/moderator Bob\r") == [Action("moderator", target="Bob")]
    assert console.keys("/kick Carol\r") == []  # asks first
    assert console.prompt() == "remove Carol from the room? y/n"
    assert console.keys("y/hand\r") == [Action("kick", target="l1"), Action("hand")]
    assert console.keys("/who") == []
    assert console.prompt() == "> who"
    assert console.keys("\x7f\x7f\x7f\r") == []  # erased: nothing sent
    assert console.keys("/dance\r") == []  # refused with one status line
    assert list(view.status)[-1].startswith("unknown command 'dance'")


def test_last_moderator_is_asked_before_leaving() -> None:
    view = room()
    view.successor = view.members["s1"]  # what the room adapter sets: Bob could take over
    console = ScreenConsole(view)
    assert console.keys("q") == []
    prompt = console.prompt()
    assert prompt is not None and "o = hand over to Bob" in prompt and "e = end the room" in prompt
    assert console.keys("o") == [Action("moderator", target="s1")]
    assert console.prompt() is None
    assert console.keys("qe") == [Action("end")]
    assert console.keys("ql") == [Action("leave", target="anyway")]
    assert console.keys("qx") == []  # any other key: stay
    view.successor = None  # not the last moderator (or alone): q leaves at once
    assert console.keys("q") == [Action("leave")]


def test_chat_scrollback_beyond_the_visible_lines() -> None:
    view = room()
    for i in range(CHAT_LINES + 10):
        view.add_chat(f"Bob: line {i}")
    lines = render_screen(view, now=0.0)
    assert f"Bob: line {CHAT_LINES + 9}" in lines and "Bob: line 9" not in lines
    console = ScreenConsole(view)
    console.keys("\x1b[5~\x1b[5~")  # PgUp twice: ten lines back
    lines = render_screen(view, now=0.0)
    assert "Bob: line 0" in lines and f"Bob: line {CHAT_LINES}" not in lines
    assert "(chat: 10 newer lines below; PgDn)" in lines
    console.keys("\x1b[5~")  # no further back than the oldest line
    assert view.visible_chat()[0] == "Bob: line 0"
    console.keys("\x1b[6~\x1b[6~\x1b[6~")
    assert view.chat_scroll == 0 and view.visible_chat()[-1] == f"Bob: line {CHAT_LINES + 9}"


def test_chat_history_is_bounded() -> None:
    view = room()
    for i in range(CHAT_HISTORY + 1):
        view.add_chat(f"Bob: {i}")
    assert len(view.chat) == CHAT_HISTORY and view.chat[0] == "Bob: 1"


# -- the cursor follows a person; removing, banning and ending ask first (issue 11 item 1) ----


def test_selection_stays_on_the_member_when_a_raised_hand_resorts_the_audience() -> None:
    view = room()
    console = ScreenConsole(view)
    console.keys("jjj")  # Alice, Bob, Carol
    assert view.selected_member() is view.members["l1"]
    view.set_hand_queue(["l2"])  # Dave raises a hand: the audience is now Dave, Carol
    assert [m.name for m in view.audience()] == ["Dave", "Carol"]
    assert view.selected_member() is view.members["l1"]  # still Carol, not the row
    assert console.keys("r") == []
    assert console.prompt() == "remove Carol from the room? y/n"
    view.set_hand_queue([])  # another re-sort while the question is open
    assert console.keys("y") == [Action("kick", target="l1")]
    lines = render_screen(view, now=0.0)
    assert next(line for line in lines if line.startswith(">")) == ">   Carol"


def test_selection_moves_from_the_member_not_from_the_row() -> None:
    view = room()
    view.selected = "l1"  # Carol
    view.set_hand_queue(["l2"])  # Dave jumps above Carol: Alice, Bob, Dave, Carol
    view.move_selection(1)
    assert view.selected == "m1"  # Carol is last now: down wraps to the top
    view.selected = "l1"
    view.move_selection(-1)
    assert view.selected == "l2"  # the row above Carol is now Dave's


def test_a_selected_member_who_leaves_leaves_nobody_selected_and_it_is_said() -> None:
    view = room()
    view.selected = "s1"
    view.set_members([m for m in view.members.values() if m.handle != "s1"])
    assert view.selected is None and view.selected_member() is None
    assert list(view.status)[-1] == "Bob left: nobody is selected now (↑/↓ to select)"
    console = ScreenConsole(view)
    assert console.keys("r") == []  # nobody selected: nothing to remove, nothing asked
    assert console.prompt() is None


def test_remove_ban_and_end_ask_and_anything_but_y_cancels() -> None:
    view = room()
    console = ScreenConsole(view)
    view.selected = "l2"
    assert console.keys("b") == [] and console.prompt() == "ban Dave from the room? y/n"
    assert console.keys("n") == [] and console.prompt() is None
    assert list(view.status)[-1] == "not done: ban Dave from the room"
    assert console.keys("r") == [] and console.keys("x") == []  # any other key cancels
    assert console.keys("E") == [] and console.prompt() == "end the room for everyone? y/n"
    assert console.keys("Y") == [Action("end")]
    assert console.keys("bv") == []  # 'v' answers the question: no move to the audience
    assert console.keys("/end\r") == [] and console.keys("y") == [Action("end")]
    assert console.keys("/ban dave\r") == [] and console.keys("y") == [Action("ban", target="l2")]
    assert console.keys("i") == [Action("invite", target="l2")]  # harmless: at once


def test_removing_or_banning_yourself_is_refused_with_a_line() -> None:
    view = room()
    console = ScreenConsole(view)
    view.selected = "m1"  # the moderator's own row
    for key, kind in (("r", "remove"), ("b", "ban")):
        assert console.keys(key) == [] and console.prompt() is None  # no question, no action
        assert list(view.status)[-1] == f"you cannot {kind} yourself: press q to leave the room"


# -- push-to-talk, local volume and local mute (issue 11 item 12) -----------------------


def test_push_to_talk_toggles_talking_and_shows_the_state() -> None:
    view = room()
    console = ScreenConsole(view)
    assert view.transmitting()
    assert console.keys("t") == []
    assert view.push_to_talk and not view.transmitting()
    assert "push-to-talk: silent (Space to talk)" in render_screen(view, 0.0)
    console.keys(" ")
    assert view.transmitting()
    assert "push-to-talk: TALKING (Space to stop)" in render_screen(view, 0.0)
    view.self_muted = True  # muted wins over talking
    assert not view.transmitting() and "(you are muted)" in render_screen(view, 0.0)
    view.self_muted = False
    console.keys(" t")
    assert not view.push_to_talk and view.transmitting()


def test_volume_and_local_mute_keys_act_on_the_selected_member() -> None:
    view = room("listener")  # any member, not only moderators
    console = ScreenConsole(view)
    assert console.keys("+") == []
    assert list(view.status)[-1] == "select another member first (↑/↓)"
    view.selected = "s1"
    console.keys("++")
    assert view.volume_of("s1") == 1.5
    assert list(view.status)[-1] == "Bob: volume 150% (for you)"
    console.keys("-" * 10)
    assert view.volume_of("s1") == 0.0  # never below 0
    console.keys("+" * 20)
    assert view.volume_of("s1") == 2.0  # never above 200 %
    assert "(volume 200%)" in next(line for line in render_screen(view, 0.0) if "Bob" in line)
    console.keys("s")
    assert view.volume_of("s1") == 0.0
    assert "(muted for you)" in next(line for line in render_screen(view, 0.0) if "Bob" in line)
    console.keys("s")
    assert view.volume_of("s1") == 2.0  # unmuting restores the volume
    view.set_members([m for m in view.members.values() if m.handle != "s1"])
    assert view.volumes == {} and view.local_mutes == set()  # forgotten with the member


def test_recording_mark_and_audio_line_are_shown() -> None:
    view = room()
    view.members["l1"].recording = True
    view.audio_line = "audio: recording the room to /tmp/a/long/folder/name/room.wav"
    lines = render_screen(view, 0.0, width=40)
    assert next(line for line in lines if "Carol" in line).endswith("Carol ● REC")
    assert "audio: recording the room to" in lines
    assert "/tmp/a/long/folder/name/room.wav" in lines  # wrapped, not cut at the width
