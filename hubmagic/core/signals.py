"""SIGTERM and SIGHUP stop a download the way Ctrl-C does: what it made is removed.

Python turns SIGINT into ``KeyboardInterrupt`` in the main thread, and the
cleanup (``CacheLock.__exit__``, the resolver's and the stores' ``finally``
blocks) runs on the way out. SIGTERM and SIGHUP kill the process at once by
default, leaving ``<key>.lock`` and ``<key>.<uid>.tmp`` behind: plain
tensorflow_hub then waits ten minutes on that lock. While
:func:`stop_on_signals` is active they raise :class:`Stopped` in the main
thread instead, so the same cleanup runs.

A signal is only ever handled in the main thread. Downloads running in other
threads (``hubmagic fetch -j``, and the gzip thread of every download) notice
through a process-wide flag: the handler sets it before raising (SIGINT's
too, while a handler is installed), and the read-ahead, which every
downloaded byte passes, polls it with :func:`check`. So a download stops even
while its server sends nothing, instead of after the read timeout.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from hubmagic.core.errors import HubmagicError

STOP_SIGNALS: tuple[int, ...] = tuple(
    int(getattr(signal, name)) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""The signals turned into :class:`Stopped` (Windows has no SIGHUP)."""

_stopping = threading.Event()
_signum = [0]


class Stopped(BaseException):
    """The process was told to stop (SIGTERM, SIGHUP) while hubmagic was working.

    A BaseException, like ``KeyboardInterrupt``: code that handles ``Exception``
    (recording a failed download and going on with the next) must not swallow it.

    Attributes:
        signum: the signal's number.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal_name(signum)}")

    @property
    def exit_code(self) -> int:
        """What a shell reports for a process killed by the signal: 128 + its number."""
        return 128 + self.signum


class Interrupted(HubmagicError):
    """Raised by :func:`check` in a thread that is not the main one: the process is stopping.

    An Exception (not a BaseException): it must travel through the libraries
    running that thread (a decompressor's worker catches ``Exception`` and hands
    it to its reader) like any read error.
    """


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def stopping() -> threading.Event:
    """The process-wide flag set by the handlers (a fetch's cancel event, for one)."""
    return _stopping


def check() -> None:
    """Raises :class:`Interrupted` once a handler was told to stop (polled while reading)."""
    if _stopping.is_set():
        raise Interrupted(f"stopped by {signal_name(_signum[0])}")


def _request_stop(signum: int) -> bool:
    """Sets the flag; whether this is the first request."""
    first = not _stopping.is_set()
    if first:
        _signum[0] = signum
        _stopping.set()
    return first


def _handler(
    raise_: Callable[[int], BaseException], *, force: bool = True
) -> Callable[[int, FrameType | None], None]:
    def handle(signum: int, frame: FrameType | None) -> None:
        if _request_stop(signum) or not force:
            raise raise_(signum)
        # Told again while cleaning up: the user insists, do what the signal does
        # by default (the next resolve takes a dead process's lock over at once).
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    return handle


def _interrupt(signum: int) -> BaseException:
    return KeyboardInterrupt()


@contextlib.contextmanager
def stop_on_signals(*, command_line: bool = False) -> Iterator[None]:
    """Within the block, SIGTERM / SIGHUP raise :class:`Stopped` in the main thread.

    Nothing is installed outside the main thread (Python allows handlers only
    there), and a signal that is ignored (``nohup`` ignores SIGHUP) stays ignored.

    SIGINT still raises ``KeyboardInterrupt``, and also sets the flag, when its
    handler is Python's default (so a stalled download stops at once).

    Args:
        command_line: for ``hubmagic`` itself, which owns the process: the
            caller turns :class:`Stopped` into an exit code, and a second signal
            while cleaning up (a second Ctrl-C too) does what the signal does
            by default. Otherwise (the
            Python API, the magics) a handler is installed only over the default
            one: a program that installed its own handler decided what the
            signal means (a graceful shutdown that lets the current download
            finish, say), and raising in the middle of its code would break
            that. After the cleanup the signal is delivered again with the
            default action, so the process ends as it would have without
            hubmagic, minus the leftovers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted: dict[int, Any] = {}
    for signum in STOP_SIGNALS:
        current = signal.getsignal(signum)
        if current == signal.SIG_DFL or (command_line and current not in (signal.SIG_IGN, None)):
            wanted[signum] = _handler(Stopped)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        # In a notebook a second Ctrl-C must not kill the kernel: it interrupts again.
        wanted[signal.SIGINT] = _handler(_interrupt, force=command_line)
    previous = {signum: signal.signal(signum, handler) for signum, handler in wanted.items()}
    try:
        yield
    except Stopped as exc:
        _restore(previous)
        previous = {}
        if not command_line and exc.signum in wanted and exc.signum != signal.SIGINT:
            signal.raise_signal(exc.signum)  # the default action: the process ends here
        raise
    finally:
        _restore(previous)
        if wanted and not command_line:
            _stopping.clear()


def _restore(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        if handler is not None:  # None: not installed from Python, cannot restore
            signal.signal(signum, handler)
