"""What :func:`hubmagic.core.signals.stop_on_signals` installs, and what it leaves alone."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import pytest

from hubmagic.core import signals

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _own(signum: int, frame: FrameType | None) -> None:
    """A program's own handler."""


def test_the_api_installs_only_over_the_default_and_restores_it() -> None:
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as nohup leaves it
    try:
        with signals.stop_on_signals():
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN  # ignored stays ignored
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        signal.signal(signal.SIGTERM, _own)
        with signals.stop_on_signals():
            assert signal.getsignal(signal.SIGTERM) is _own  # the program decided
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGHUP, hup)


def test_sigterm_in_the_cli_raises_stopped_and_sets_the_flag() -> None:
    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with pytest.raises(signals.Stopped) as stopped, signals.stop_on_signals(command_line=True):
            signal.raise_signal(signal.SIGTERM)
        assert stopped.value.exit_code == 143
        assert signals.stopping().is_set()
        with pytest.raises(signals.Interrupted, match="stopped by SIGTERM"):
            signals.check()  # what a download in a worker thread sees
    finally:
        signals.stopping().clear()
        signal.signal(signal.SIGTERM, previous)


def test_nothing_is_installed_outside_the_main_thread() -> None:
    seen: list[object] = []

    def run() -> None:
        with signals.stop_on_signals():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [before]
