"""The terminal side of a running client: plain log lines or an interactive screen.

Both consoles show the same :class:`~client.view.RoomView` and turn user input
into :class:`~client.actions.Action` values sent on a trio channel:

* :class:`PlainConsole` prints one timestamped line per event and reads
  commands line by line from stdin (scripts: ``echo hand | hushroom join ...``).
  End of input is not a request to leave.
* :class:`ScreenConsole` redraws the whole screen with plain ANSI codes
  (no curses: it works in any VT100-compatible terminal and needs no extra
  dependency) and reads single keys in cbreak mode; ``c`` opens a chat line,
  ``/`` a command line taking every plain-mode command (``/kick NAME``).
  The selection follows a member (not a row) through re-sorts; removing,
  banning and ending the room, by key or by command line, ask "y/n" first.
  Push-to-talk, a speaker's local volume and local mute change only the
  view (what this device plays and sends), never the room.

Blocking reads from stdin happen in a worker thread abandoned on cancel, so
they never block trio and never change the terminal's file flags.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from typing import TextIO

import trio

from client.actions import Action, action_for_key, parse_line
from client.render import render_screen
from client.view import RoomView


class PlainConsole:
    """Timestamped log lines on ``out``; commands from stdin lines."""

    def __init__(self, view: RoomView, out: TextIO | None = None, label: str = "") -> None:
        self.view = view
        view.typed_commands = True
        self.out = out or sys.stdout
        self.label = f"{label}: " if label else ""
        self._t0 = trio.current_time() if _in_trio() else 0.0

    def log(self, line: str) -> None:
        now = trio.current_time() - self._t0 if _in_trio() else 0.0
        print(f"[{now:7.2f}s] {self.label}{line}", file=self.out, flush=True)

    def changed(self) -> None:
        """The view changed; plain mode shows changes as log lines only."""

    async def run(
        self, actions: trio.MemorySendChannel[Action], readline: Callable[[], str] | None = None
    ) -> None:
        """Read command lines until end of input; report bad lines, never exit on them."""
        await read_lines(actions, parse_line, self.log, readline)


async def read_lines(
    actions: trio.MemorySendChannel[Action],
    parse: Callable[[str], Action | None],
    on_error: Callable[[str], None],
    readline: Callable[[], str] | None = None,
) -> None:
    """Send ``parse(line)`` for each stdin line until end of input; bad lines go to ``on_error``.

    End of input (or no readable stdin) just stops the reading: the client keeps running.
    """
    read = readline or sys.stdin.readline
    while True:
        try:
            line = await trio.to_thread.run_sync(read, abandon_on_cancel=True)
        except (OSError, ValueError):
            return  # no readable stdin (closed, captured): keep running without it
        if not line:
            return  # end of input: keep running, just stop reading
        try:
            action = parse(line)
        except ValueError as exc:
            on_error(str(exc))
            continue
        if action is not None:
            await actions.send(action)


ESCAPES = {"up": "\x1b[A", "down": "\x1b[B", "pgup": "\x1b[5~", "pgdn": "\x1b[6~"}
"""Terminal escape sequences the view understands, by name."""
CHAT_PAGE = 5
"""Chat lines one PgUp/PgDn scrolls."""
CONFIRM = {
    "kick": "remove {name} from the room",
    "ban": "ban {name} from the room",
    "end": "end the room for everyone",
}
"""Actions the terminal view carries out only after a "y" (what the question says)."""
SELF_REMOVAL = {"r": "remove", "b": "ban"}
"""Member keys that, on one's own row, are answered with how to leave instead."""


class ScreenConsole:
    """Full-screen view redrawn with ANSI codes; single-key commands."""

    REDRAW_INTERVAL = 0.1

    def __init__(self, view: RoomView, out: TextIO | None = None) -> None:
        self.view = view
        self.out = out or sys.stdout
        self._dirty = trio.Event()
        self._line: str | None = None
        """The chat message or command being typed (``None``: single keys)."""
        self._line_kind = "chat"
        self._asking = False
        """The last moderator pressed q: the next key answers the leave question."""
        self._confirming: tuple[Action, str] | None = None
        """An action waiting for "y", and its question ("remove Bob from the room")."""

    def log(self, line: str) -> None:
        self.view.add_status(line)
        self.changed()

    def changed(self) -> None:
        self._dirty.set()

    def draw(self) -> None:
        width, height = shutil.get_terminal_size((80, 24))
        lines = render_screen(self.view, trio.current_time(), width)
        prompt = self.prompt()
        if prompt is not None:
            lines.append(prompt)
        lines = lines[: max(1, height - 1)]
        self.out.write("\x1b[H\x1b[2J" + "\r\n".join(lines))
        self.out.flush()

    async def redraw_loop(self) -> None:
        while True:
            self.draw()
            with trio.move_on_after(self.REDRAW_INTERVAL):
                await self._dirty.wait()
            self._dirty = trio.Event()

    async def run(self, actions: trio.MemorySendChannel[Action]) -> None:
        """Read keys in cbreak mode until cancelled; restore the terminal after."""
        import termios
        import tty

        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
        self.out.write("\x1b[?25l")  # hide the cursor
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self.redraw_loop)
                while True:
                    data = await trio.to_thread.run_sync(os.read, fd, 16, abandon_on_cancel=True)
                    if not data:
                        nursery.cancel_scope.cancel()
                        return
                    for action in self.keys(data.decode("utf-8", errors="ignore")):
                        await actions.send(action)
                    self.changed()
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            self.out.write("\x1b[?25h\r\n")
            self.out.flush()

    def keys(self, text: str) -> list[Action]:
        """Interpret typed characters (arrow and page keys arrive as escape sequences)."""
        out: list[Action] = []
        for name, seq in ESCAPES.items():
            text = text.replace(seq, "\x00" + name)
        for key in _tokens(text):
            if self._line is not None:
                self._edit_line(key, out)
            elif self._confirming is not None:
                (confirmed, question), self._confirming = self._confirming, None
                if key in ("y", "Y"):
                    out.append(confirmed)
                else:
                    self.log(f"not done: {question}")
            elif self._asking:
                self._asking = False
                out += self._answer(key)
            elif self._local_key(key):
                pass
            elif key == "c":
                self._line, self._line_kind = "", "chat"
            elif key == "/":
                self._line, self._line_kind = "", "command"
            elif key == "q" and self.view.successor is not None:
                self._asking = True  # the last moderator: ask what should become of the room
            elif (action := action_for_key(key, self.view)) is not None:
                self._emit(action, out)
            elif key in SELF_REMOVAL and self._selected_is_me():
                self.log(f"you cannot {SELF_REMOVAL[key]} yourself: press q to leave the room")
        return out

    def _selected_is_me(self) -> bool:
        selected = self.view.selected_member()
        return selected is not None and selected.is_me and self.view.is_moderator()

    def _emit(self, action: Action, out: list[Action]) -> None:
        """Send ``action``, or first ask "y/n" when it removes someone or ends the room."""
        question = CONFIRM.get(action.kind)
        if question is None:
            out.append(action)
            return
        target = self.view.find(action.target) if action.target is not None else None
        if action.target is not None and target is None:
            out.append(action)  # no such member: the client says so
            return
        # the question names the person; the action keeps their key, whatever re-sorts
        name = target.name if target is not None else ""
        target_key = target.handle if target is not None else None
        self._confirming = (Action(action.kind, target_key), question.format(name=name))

    def _local_key(self, key: str) -> bool:
        """Selection, chat scrolling, push-to-talk and local volume: the view alone."""
        view = self.view
        if key in ("\x00up", "k", "\x00down", "j"):
            view.move_selection(-1 if key in ("\x00up", "k") else 1)
        elif key in ("\x00pgup", "\x00pgdn"):
            view.scroll_chat(CHAT_PAGE if key == "\x00pgup" else -CHAT_PAGE)
        elif key == "t":
            view.push_to_talk, view.talking = not view.push_to_talk, False
            self.log("push-to-talk " + ("on: Space to talk" if view.push_to_talk else "off"))
        elif key == " " and view.push_to_talk:
            view.talking = not view.talking
        elif key in ("+", "=", "-", "s"):
            member = view.selected_member()
            if member is None or member.is_me:
                self.log("select another member first (↑/↓)")
            elif key == "s":
                muted = view.toggle_local_mute(member.handle)
                how = "muted for you (s to hear again)" if muted else "heard again"
                self.log(f"{member.name} {how}")
            else:
                volume = view.change_volume(member.handle, -1 if key == "-" else 1)
                self.log(f"{member.name}: volume {volume:.0%} (for you)")
        else:
            return False
        return True

    def prompt(self) -> str | None:
        """The line under the view: what is being typed, or the question being asked."""
        if self._line is not None:
            return f"{'chat' if self._line_kind == 'chat' else ''}> {self._line}"
        if self._confirming is not None:
            return f"{self._confirming[1]}? y/n"
        if self._asking and self.view.successor is not None:
            return (
                f"you are the last moderator: o = hand over to {self.view.successor.name}, "
                "e = end the room, l = leave it without a moderator, any other key = stay"
            )
        return None

    def _answer(self, key: str) -> list[Action]:
        successor = self.view.successor
        if key == "o" and successor is not None:
            return [Action("moderator", target=successor.handle)]
        if key == "e":
            return [Action("end")]
        if key == "l":
            return [Action("leave", target="anyway")]
        return []

    def _edit_line(self, key: str, out: list[Action]) -> None:
        assert self._line is not None
        if key in ("\r", "\n"):
            text = self._line.strip()
            self._line = None
            if text and self._line_kind == "chat":
                out.append(Action("chat", text=text))
            elif text:
                try:
                    action = parse_line(text.removeprefix("/"))
                except ValueError as exc:
                    self.log(str(exc))
                    return
                if action is not None:
                    self._emit(action, out)
        elif key == "\x1b":
            self._line = None
        elif key in ("\x7f", "\b"):
            self._line = self._line[:-1]
        elif len(key) == 1 and key.isprintable():
            self._line += key


def _tokens(text: str) -> list[str]:
    """Characters, with each marked escape sequence (``\\x00NAME``) as one token."""
    tokens: list[str] = []
    i = 0
    while i < len(text):
        name = (
            next((n for n in ESCAPES if text.startswith("\x00" + n, i)), None)
            if text[i] == "\x00"
            else None
        )
        if name is not None:
            tokens.append("\x00" + name)
            i += 1 + len(name)
        else:
            tokens.append(text[i])
            i += 1
    return tokens


def _in_trio() -> bool:
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True
