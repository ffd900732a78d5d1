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
            elif self._asking:
                self._asking = False
                out += self._answer(key)
            elif key == "c":
                self._line, self._line_kind = "", "chat"
            elif key == "/":
                self._line, self._line_kind = "", "command"
            elif key in ("\x00up", "k"):
                self.view.move_selection(-1)
            elif key in ("\x00down", "j"):
                self.view.move_selection(1)
            elif key in ("\x00pgup", "\x00pgdn"):
                self.view.scroll_chat(CHAT_PAGE if key == "\x00pgup" else -CHAT_PAGE)
            elif key == "q" and self.view.successor is not None:
                self._asking = True  # the last moderator: ask what should become of the room
            else:
                action = action_for_key(key, self.view)
                if action is not None:
                    out.append(action)
        return out

    def prompt(self) -> str | None:
        """The line under the view: the chat or command being typed, or the leave question."""
        if self._line is not None:
            return f"{'chat' if self._line_kind == 'chat' else ''}> {self._line}"
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
                    out.append(action)
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
