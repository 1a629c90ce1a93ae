"""Progress as text, for terminals, logs and plain kernels.

:class:`TextProgress` shows downloads as they run (``%hub_load`` in a
terminal, plain ``hub.load`` with ``TFHUB_DOWNLOAD_PROGRESS``);
:class:`FetchProgress` shows several at once with a status line (``hubmagic
fetch``). Both only turn the core's :class:`~hubmagic.core.progress.ProgressEvent`
records into the sentences of :mod:`hubmagic.ui.wording`, drawn for what the
stream is (:func:`stream_mode`):

``terminal`` (``stream.isatty()``)
    one line per download in progress, a block at the bottom redrawn in place
    with ANSI cursor movement; a finished download's last line stays above it.
    Two ``%hub_load`` s in threads get a line each, not one line between them.
``live`` (a Jupyter / Colab kernel's stdout: not a tty, but it renders ``\\r``)
    a kernel has no cursor movement, only "back to the start of this line":
    one download is one line updated in place (as tqdm does there); while
    several run, each phase change is a line of its own and no line is
    redrawn, since a ``\\r`` redraw shared by two downloads would make them
    overwrite each other.
``plain`` (pipes, files, CI logs)
    one line per phase change (connecting, downloading, extracting, waiting,
    retrying, done, failed) and never a ``\\r``: a log is read after the fact,
    where redraws would be glued into one long line.
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Literal, TextIO

from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.core.units import format_bytes
from hubmagic.ui.wording import (
    FINAL_PHASES,
    phase_change_line,
    progress_line,
    rate_of,
    transfer_parts,
)

Mode = Literal["terminal", "live", "plain"]
_UP = "\x1b[{}A"  # cursor up n lines
_ERASE_LINE = "\x1b[2K"
_ERASE_BELOW = "\x1b[J"
_lock = threading.RLock()  # one for every board: drawing is rare and short


def stream_mode(stream: TextIO) -> Mode:
    """How progress is drawn on ``stream`` (see the module doc)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError, OSError):  # closed or not a file
        tty = False
    if tty and os.environ.get("TERM") != "dumb":
        return "terminal"
    if type(stream).__module__.split(".")[0] == "ipykernel":  # ipykernel.iostream.OutStream
        return "live"
    return "plain"


def _columns(stream: TextIO) -> int:
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        columns = 0
    return columns or 80  # 0: a terminal that does not say (a fresh pty)


def _clip(text: str, width: int) -> str:
    """The end of a line (how far, what phase) is what matters: the start gives way."""
    return text if len(text) <= width else "..." + text[len(text) - width + 3 :]


class _Board:
    """The downloads in progress on one stream, drawn for its mode.

    A row belongs to an owner (a :class:`TextProgress`) through a weak
    reference: the row of a load that was interrupted goes with its owner.
    """

    def __init__(self, stream: TextIO, mode: Mode) -> None:
        self.stream = stream
        self.mode = mode
        self.rows: dict[tuple[int, str], tuple[weakref.ref[object], str]] = {}
        self.footer: str | None = None
        self.drawn = 0  # terminal: lines of the block on screen; live: width of its line
        self.live_key: tuple[int, str] | None = None  # live: whose line is drawn

    def live_rows(self) -> list[str]:
        for key in [k for k, (owner, _) in self.rows.items() if owner() is None]:
            del self.rows[key]
        return [text for _, text in self.rows.values()]

    def _live_key(self) -> tuple[int, str] | None:
        """live mode: the one download drawn on its updating line (None: not one)."""
        self.live_rows()
        if self.mode != "live" or len(self.rows) != 1 or self.footer:
            return None
        return next(iter(self.rows))

    def update(
        self, owner: object, handle: str, line: str, log: str | None, final: bool, draw: bool = True
    ) -> None:
        """One download's new ``line``; ``log`` is its phase-change line (None: no change)."""
        key = (id(owner), handle)
        if final:
            self.rows.pop(key, None)
        else:
            self.rows[key] = (weakref.ref(owner), line)
        if final:
            above = [line]  # stays, in every mode
        elif self.mode == "terminal" or (self.mode == "live" and len(self.live_rows()) == 1):
            above = []  # the row is redrawn in place
        else:
            above = [log] if log else []
        if draw or above:
            self.draw(above)

    def draw(self, above: list[str]) -> None:
        """Writes ``above`` as whole lines, then what is in progress (per mode)."""
        out = self._draw_terminal(above) if self.mode == "terminal" else self._draw_line(above)
        if out:
            self.stream.write(out)
            self.stream.flush()

    def _draw_terminal(self, above: list[str]) -> str:
        width = max(20, _columns(self.stream) - 1)  # a wrapped line would break the count
        block = [_clip(text, width) for text in self.live_rows()]
        block += [_clip(self.footer, width)] if self.footer else []
        out = "\r" + (_UP.format(self.drawn) if self.drawn else "")
        out += "".join(f"{_ERASE_LINE}{text}\n" for text in [*above, *block])
        self.drawn = len(block)
        return out + _ERASE_BELOW

    def _draw_line(self, above: list[str]) -> str:
        key = self._live_key()
        out = ""
        if self.drawn:
            if self.live_key in self.rows and key != self.live_key:
                out = "\n"  # another download started: this line stays, as it was
            elif above or key is None:
                out = "\r" + " " * self.drawn + "\r"
            self.drawn = 0 if out else self.drawn
        out += "".join(f"{text}\n" for text in above)
        self.live_key = key
        if key is not None:
            live = self.rows[key][1]
            out += "\r" + live + " " * max(0, self.drawn - len(live))
            self.drawn = len(live)
        return out

    @property
    def idle(self) -> bool:
        return not self.rows and not self.footer and not self.drawn


_boards: dict[int, _Board] = {}


def _board(stream: TextIO, mode: Mode | None) -> _Board:
    board = _boards.get(id(stream))
    if board is None or board.stream is not stream:
        board = _boards[id(stream)] = _Board(stream, mode or stream_mode(stream))
    return board


def _forget(board: _Board) -> None:
    if board.idle and _boards.get(id(board.stream)) is board:
        del _boards[id(board.stream)]


def print_line(text: str, stream: TextIO | None = None) -> None:
    """Prints a line above the downloads in progress on ``stream`` (default ``sys.stdout``).

    A plain ``print`` from another thread would land inside a terminal's block
    and be overwritten by the next redraw; the magics print their summary here.
    """
    out = stream or sys.stdout
    with _lock:
        board = _boards.get(id(out))
        if board is None or board.stream is not out or board.idle:
            out.write(text + "\n")
            out.flush()
        else:
            board.draw([text])


class TextProgress:
    """A progress callback that keeps one line per download up to date.

    Several instances on one stream (two ``%hub_load`` s in threads) share its
    lines: each download has its own.

    Args:
        stream: where to write; default ``sys.stdout`` at the time of each event.
        show_hits: also print a line for a cache hit.
        mode: how to draw (:func:`stream_mode`); default what the stream is.
    """

    def __init__(
        self, stream: TextIO | None = None, *, show_hits: bool = True, mode: Mode | None = None
    ) -> None:
        self._stream = stream
        self._show_hits = show_hits
        self._mode = mode
        self._since: dict[str, tuple[float, int]] = {}
        self._phase: dict[str, Phase] = {}

    def __call__(self, event: ProgressEvent) -> None:
        handle = event.handle
        if event.phase is Phase.STARTED:
            self._since[handle] = (event.elapsed, event.bytes_done)
        hidden = event.phase is Phase.DONE and event.from_cache and not self._show_hits
        changed = self._phase.get(handle) is not event.phase
        self._phase[handle] = event.phase
        line = progress_line(event, rate_of(event, self._since.get(handle)))
        final = event.phase in FINAL_PHASES
        with _lock:
            board = _board(self._stream or sys.stdout, self._mode)
            if hidden:  # a cache hit, not shown: only its row (if it had one) goes
                if board.rows.pop((id(self), handle), None) is not None:
                    board.draw([])
            else:
                board.update(
                    self, handle, line, phase_change_line(event) if changed else None, final
                )
            _forget(board)


class FetchProgress:
    """Progress for several downloads at once, from several threads (``hubmagic fetch``).

    In a terminal each download in progress has its line, redrawn in place,
    over one status line (``n of m done, k running, X downloaded, Y/s``, then
    ``N connections`` in use by them all once a download has several),
    redrawn at most ``interval`` apart unless a download changes phase; a
    finished download leaves one line above them. Elsewhere: one line per
    phase change (see :func:`stream_mode`).

    Args:
        stream: where to write.
        total: the number of handles.
        interval: seconds between two redraws without a phase change.
        clock: the time source (tests).
        mode: how to draw; default what the stream is.
    """

    def __init__(
        self,
        stream: TextIO,
        total: int,
        *,
        interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        mode: Mode | None = None,
    ) -> None:
        self._board = _Board(stream, mode or stream_mode(stream))
        self._total = total
        self._interval = interval
        self._clock = clock
        self._phase: dict[str, Phase] = {}
        self._bytes: dict[str, int] = {}
        self._since: dict[str, tuple[float, int]] = {}
        self._transfer: dict[str, tuple[int, int, int]] = {}  # connections, resumes, retries
        self._done = 0
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self._drawn = -1e9

    def __call__(self, event: ProgressEvent) -> None:
        with _lock:
            now = self._clock()
            handle = event.handle
            self._bytes[handle] = event.bytes_done
            changed = self._phase.get(handle) is not event.phase
            self._phase[handle] = event.phase
            if event.phase is Phase.STARTED:
                self._since[handle] = (event.elapsed, event.bytes_done)
            final = event.phase in FINAL_PHASES
            self._done += final
            connections = 0 if final else event.connections
            self._transfer[handle] = (connections, event.resumes, event.retries)
            self._sample(now)
            log = phase_change_line(event) if changed else None
            line = progress_line(event, rate_of(event, self._since.get(handle)))
            if final and log:
                line = log  # "a: done, 4.0 MiB in 2.00 s", "b: already in the cache"
            if self._board.mode == "terminal":
                self._board.footer = self._status_text()
            draw = log is not None or now - self._drawn >= self._interval
            self._board.update(self, handle, line, log, final, draw=draw)
            if draw:
                self._drawn = now

    def transfer_note(self, handle: str) -> str:
        """``2 resumed, 3 retries``: what the download of ``handle`` went through (or "")."""
        _, resumes, retries = self._transfer.get(handle, (0, 0, 0))
        return ", ".join(transfer_parts(0, resumes, retries))

    def finish(self) -> None:
        """Clears what is still drawn (the status line)."""
        with _lock:
            self._board.rows.clear()
            self._board.footer = None
            self._board.draw([])
            self._board.stream.flush()

    def _sample(self, now: float) -> None:
        self._samples.append((now, sum(self._bytes.values())))
        while len(self._samples) > 2 and now - self._samples[0][0] > 3.0:
            self._samples.popleft()

    def _status_text(self) -> str:
        running = sum(1 for p in self._phase.values() if p not in FINAL_PHASES)
        parts = [f"{self._done} of {self._total} done"]
        if running:
            parts.append(f"{running} running")
        parts.append(f"{format_bytes(sum(self._bytes.values()))} downloaded")
        (t0, b0), (t1, b1) = self._samples[0], self._samples[-1]
        if t1 - t0 > 0.2:
            parts.append(f"{format_bytes(max(0, b1 - b0) / (t1 - t0))}/s")
        # The connections in use by them all (the fetch's one budget) once a download
        # has several; one stream each says nothing. Resumes and retries are in the rows.
        in_use = [c for c, _, _ in self._transfer.values()]
        parts += transfer_parts(sum(in_use) if max(in_use, default=0) > 1 else 0, 0, 0)
        return ", ".join(parts)
