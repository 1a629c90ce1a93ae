"""Ctrl-C during ``%hub_load``: one line, no traceback, and the cache as it was.

The download is held half-way (tests/stalled_download.py); once its first files
are extracted, a helper thread sends SIGINT to the main thread, the one running
the cell: a real Ctrl-C.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubmagic.ui.magics import LoadInterrupted
from tests.faulty_server import FaultyServer
from tests.shell_fixtures import Shell
from tests.stalled_download import downloading, stalled_server, wait_for

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
    # %hub_load looks for TensorFlow before it downloads (it never gets to import it here).
    pytest.mark.tf,
]


@pytest.fixture
def stalled(tmp_path: Path) -> Iterator[FaultyServer]:
    server = stalled_server(tmp_path / "model")
    yield server
    server.stop()


def test_ctrl_c_prints_one_line_and_leaves_the_cache_unchanged(
    shell: Shell,
    stalled: FaultyServer,
    cache: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TFHUB_CACHE_DIR", cache)
    shell.magic("config", "HubMagics.progress = 'off'")
    sent: list[bool] = []

    def ctrl_c() -> None:
        # Once the first files are extracted the download is stalled half-way.
        wait_for(lambda: downloading(Path(cache)), "the download")
        sent.append(True)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    presser = threading.Thread(target=ctrl_c, daemon=True)
    presser.start()
    capsys.readouterr()
    try:
        result = shell.ip.run_cell(f"model = %hub_load {stalled.url}/a/model.tar.gz")  # type: ignore[no-untyped-call]
    except KeyboardInterrupt:  # must not happen; keeps pytest itself running
        pytest.fail("the KeyboardInterrupt escaped the cell")
    presser.join(timeout=60)
    out = capsys.readouterr()
    assert sent
    assert isinstance(result.error_in_exec, LoadInterrupted)
    lines = [line for line in (out.out + out.err).splitlines() if line.strip()]
    assert lines == ["interrupted; the cache is unchanged"]
    assert "model" not in shell.user_ns
    # No lock, no tmp folder, no model folder: nothing at all.
    assert not Path(cache).exists() or list(Path(cache).iterdir()) == []
