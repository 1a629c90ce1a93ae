"""A real IPython shell with the hubmagic extension loaded.

Fixture (registered in tests/conftest.py):
    shell: a :class:`Shell` around ``InteractiveShell.instance()`` with
        ``%load_ext hubmagic`` done, ``HOME`` inside the test's folder; the
        extension is unloaded and the hubmagic session reset afterwards.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from hubmagic.core import session


class Shell:
    """An InteractiveShell whose cells raise instead of printing tracebacks."""

    def __init__(self, ip: InteractiveShell) -> None:
        self.ip = ip

    def run(self, cell: str) -> Any:
        result = self.ip.run_cell(cell, store_history=False)  # type: ignore[no-untyped-call]
        result.raise_error()
        return result.result

    def show(self, cell: str) -> tuple[Any, str]:
        """Runs a cell as a terminal does: its value, and all it showed (printed or
        displayed), without the ``Out[n]:`` prompt."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            value = self.run(cell)
        return value, re.sub(r"^Out\[\d+\]: \n?", "", out.getvalue(), flags=re.MULTILINE)

    def magic(self, name: str, line: str = "") -> Any:
        return self.ip.run_line_magic(name, line)

    @property
    def user_ns(self) -> dict[str, Any]:
        return self.ip.user_ns  # type: ignore[no-any-return]


@pytest.fixture
def shell(cache: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Shell]:
    ip = InteractiveShell.instance()
    monkeypatch.setenv("HOME", str(Path(cache).parent / "home"))
    wrapped = Shell(ip)
    wrapped.magic("load_ext", "hubmagic")
    yield wrapped
    assert ip.extension_manager is not None
    if "hubmagic" in ip.extension_manager.loaded:
        wrapped.magic("unload_ext", "hubmagic")
    session.reset()
