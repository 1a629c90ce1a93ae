"""A tiny terminal: replays what a program wrote to a tty into the lines a user sees.

Understands what :mod:`hubmagic.ui.textprogress` writes (``\\r``, ``\\n``, cursor
up ``ESC[nA``, erase line ``ESC[2K``, erase below ``ESC[J``) and fails on any
other escape sequence, so a new one cannot slip past the tests. A snapshot of
the screen is kept after each ``ESC[J`` (the end of a redraw).
"""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"\x1b\[(\d*)([A-Za-z])")


class Screen:
    def __init__(self) -> None:
        self.lines: list[str] = [""]
        self.row = 0
        self.col = 0
        self.snapshots: list[list[str]] = []

    def feed(self, text: str) -> Screen:
        pos = 0
        while pos < len(text):
            match = _ESCAPE.match(text, pos)
            if match is not None:
                self._escape(int(match.group(1) or 0), match.group(2))
                pos = match.end()
                continue
            char = text[pos]
            pos += 1
            if char == "\r":
                self.col = 0
            elif char == "\n":
                self.row += 1
                self.col = 0
                if self.row == len(self.lines):
                    self.lines.append("")
            else:
                assert char != "\x1b", f"unexpected escape at {text[pos - 1 : pos + 8]!r}"
                line = self.lines[self.row].ljust(self.col)
                self.lines[self.row] = line[: self.col] + char + line[self.col + 1 :]
                self.col += 1
        return self

    def _escape(self, n: int, code: str) -> None:
        if code == "A":
            self.row = max(0, self.row - (n or 1))
        elif code == "K" and n == 2:
            self.lines[self.row] = ""
        elif code == "J" and n == 0:
            self.lines[self.row] = self.lines[self.row][: self.col]
            del self.lines[self.row + 1 :]
            self.snapshots.append(self.text_lines())
        else:
            raise AssertionError(f"unexpected escape sequence ESC[{n}{code}")

    def text_lines(self) -> list[str]:
        """The screen, without the trailing empty line the cursor may sit on."""
        lines = [line.rstrip() for line in self.lines]
        while lines and not lines[-1]:
            lines.pop()
        return lines
