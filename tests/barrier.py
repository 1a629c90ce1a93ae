"""A start barrier for child processes: each says it is ready, then all go at once.

The parent makes a :class:`StartBarrier`, gives each child a ready file of
its own and the go file (:meth:`StartBarrier.child_args`), and calls
:meth:`StartBarrier.release` with the children: it waits (with a deadline)
until every child has created its ready file, then creates the go file. A
child runs :data:`CHILD_CODE`'s ``wait_at_barrier(ready, go)`` once it is set
up (hubmagic imported), so all of them start their work together, however
long their interpreters took to start.
"""

from __future__ import annotations

import subprocess
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

CHILD_CODE = textwrap.dedent(
    """
    def wait_at_barrier(ready, go, timeout=60.0):
        import os, sys, time

        if ready == "-":
            return
        open(ready, "w").close()
        deadline = time.monotonic() + timeout
        while not os.path.exists(go):
            if time.monotonic() > deadline:
                sys.exit(f"not released from the start barrier in {timeout} s")
            time.sleep(0.002)
    """
)
"""Defines ``wait_at_barrier(ready, go)`` for a child program; ``ready`` "-": no barrier."""

NO_BARRIER = ("-", "-")
"""The ready and go arguments of a child that starts at once."""


class StartBarrier:
    """Ready files and a go file in ``folder`` (created)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.go = folder / "go"
        self._children = 0

    def child_args(self) -> tuple[str, str]:
        """(ready file, go file) for one more child."""
        self._children += 1
        return str(self.folder / f"ready-{self._children}"), str(self.go)

    def ready_count(self) -> int:
        return sum(1 for _ in self.folder.glob("ready-*"))

    def release(self, children: Sequence[subprocess.Popen[str]], timeout: float = 60) -> None:
        """Waits until every child is ready, then lets them all go.

        Fails the test if a child exits first or they are not all ready in
        ``timeout`` seconds.
        """
        assert len(children) == self._children, "one child_args() per child"
        deadline = time.monotonic() + timeout
        while self.ready_count() < len(children):
            for child in children:
                if child.poll() is not None:
                    _, err = child.communicate()
                    pytest.fail(f"a child exited ({child.returncode}) before the barrier:\n{err}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{self.ready_count()} of {len(children)} children ready in {timeout} s"
                )
            time.sleep(0.01)
        self.go.touch()
