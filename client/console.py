"""The terminal side of a running client: plain log lines or an interactive screen.

Both consoles show the same :class:`~client.view.RoomView` and turn user input
into :class:`~client.actions.Action` values sent on a trio channel:

* :class:`PlainConsole` prints one timestamped line per event and reads
  commands line by line from stdin (scripts: ``echo hand | hushroom join ...``).
  End of input is not a request to leave.
* :class:`ScreenConsole` redraws the whole screen with plain ANSI codes
  (no curses: it works in any VT100-compatible terminal and needs no extra
  dependency) and reads single keys in cbreak mode; ``c`` opens a chat line.

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


class ScreenConsole:
    """Full-screen view redrawn with ANSI codes; single-key commands."""

    REDRAW_INTERVAL = 0.1

    def __init__(self, view: RoomView, out: TextIO | None = None) -> None:
        self.view = view
        self.out = out or sys.stdout
        self._dirty = trio.Event()
        self._chat: str | None = None

    def log(self, line: str) -> None:
        self.view.add_status(line)
        self.changed()

    def changed(self) -> None:
        self._dirty.set()

    def draw(self) -> None:
        width, height = shutil.get_terminal_size((80, 24))
        lines = render_screen(self.view, trio.current_time(), width)
        if self._chat is not None:
            lines.append(f"chat> {self._chat}")
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
        """Interpret typed characters (arrow keys arrive as escape sequences)."""
        out: list[Action] = []
        text = text.replace("\x1b[A", "\x00up").replace("\x1b[B", "\x00down")
        for key in _tokens(text):
            if self._chat is not None:
                if key in ("\r", "\n"):
                    if self._chat.strip():
                        out.append(Action("chat", text=self._chat.strip()))
                    self._chat = None
                elif key == "\x1b":
                    self._chat = None
                elif key in ("\x7f", "\b"):
                    self._chat = self._chat[:-1]
                elif len(key) == 1 and key.isprintable():
                    self._chat += key
                continue
            if key == "c":
                self._chat = ""
            elif key in ("\x00up", "k"):
                self.view.move_selection(-1)
            elif key in ("\x00down", "j"):
                self.view.move_selection(1)
            else:
                action = action_for_key(key, self.view)
                if action is not None:
                    out.append(action)
        return out


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\x00":
            word = "\x00up" if text.startswith("\x00up", i) else "\x00down"
            tokens.append(word)
            i += len(word)
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
