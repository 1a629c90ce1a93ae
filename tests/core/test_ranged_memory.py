"""Memory stays bounded whatever the model's size: a 1 GB download in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.subprocess_env import repo_env
from tools.range_server import RangeServer

GB = 10**9
MB = 10**6
BLOCK = 1024 * 1024

CHILD = """
import json, sys, time
import hubmagic
start = time.monotonic()
events = []
path = hubmagic.resolve(sys.argv[1], cache_dir=sys.argv[2], progress=events.append)
status = open("/proc/self/status").read()
hwm = int(next(l for l in status.splitlines() if l.startswith("VmHWM:")).split()[1])
print(json.dumps({
    "path": path,
    "hwm_kib": hwm,
    "seconds": time.monotonic() - start,
    "connections": max(e.connections for e in events),
}))
"""


class _Repeating:
    """``size`` bytes of one random block repeated (a plain tar stores them as they are)."""

    def __init__(self, size: int) -> None:
        self._left = size
        self._block = os.urandom(BLOCK)

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        self._left -= n
        whole, rest = divmod(n, BLOCK)
        return self._block * whole + self._block[:rest]


def _write_archive(path: Path, data_bytes: int) -> None:
    with tarfile.open(path, "w") as tar:
        for name, size in (
            ("saved_model.pb", 20_000),
            ("variables/variables.index", 300),
            ("variables/variables.data-00000-of-00001", data_bytes),
        ):
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, _Repeating(size))  # type: ignore[arg-type,unused-ignore]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_1_gb_download_peaks_under_150_mb(tmp_path: Path) -> None:
    archive = tmp_path / "big.tar"
    _write_archive(archive, GB)
    cache = tmp_path / "cache"
    # Capped (8 x 50 MB/s) so that the network, not the extractor, is the limit and
    # the download goes parallel (one uncapped loopback stream outruns the extractor).
    with RangeServer(archive, per_connection_rate=50 * MB) as server:
        child = subprocess.run(
            [sys.executable, "-c", CHILD, server.handle_url, str(cache)],
            env=repo_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert child.returncode == 0, child.stderr[-2000:]
        report = json.loads(child.stdout.strip().splitlines()[-1])
        assert server.connections_used() > 1
    data = Path(report["path"], "variables", "variables.data-00000-of-00001")
    assert data.stat().st_size == GB
    assert report["connections"] > 1
    assert report["hwm_kib"] * 1024 < 150 * 1024**2, f"peak RSS {report['hwm_kib'] // 1024} MiB"
