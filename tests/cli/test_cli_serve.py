"""Tests of ``python -m hubmagic serve`` as a real subprocess."""

from __future__ import annotations

import io
import queue
import re
import signal
import socket
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.subprocess_env import repo_env

STARTUP_TIMEOUT = 60


def _hubmagic(*args: str, timeout: float = STARTUP_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubmagic", *args],
        env=repo_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Serve:
    """A running ``hubmagic serve`` subprocess whose stdout lines are read in a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hubmagic", "serve", *args],
            env=repo_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def readline(self) -> str:
        line = self.lines.get(timeout=STARTUP_TIMEOUT)
        if line is None:
            raise AssertionError(f"hubmagic serve ended early:\n{self.finish()[1]}")
        self.stdout.append(line)
        return line

    def finish(self, sig: int | None = None) -> tuple[int, str]:
        """Sends ``sig`` (if any), waits, and returns the exit code and stderr."""
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise
        return self.proc.returncode, err


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    """A folder with one (fake) model folder and one prebuilt archive."""
    root = tmp_path / "models"
    model = root / "team" / "fake" / "1"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"graph")
    (model / "variables" / "variables.index").write_bytes(b"index")
    (root / "team" / "prebuilt").mkdir(parents=True)
    (root / "team" / "prebuilt" / "2.tar.gz").write_bytes(b"prebuilt")
    return root


@pytest.fixture
def serve(models_dir: Path) -> Iterator[Serve]:
    server = Serve(str(models_dir), "--port", "0")
    yield server
    if server.proc.poll() is None:
        server.proc.kill()
        server.proc.communicate()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_prints_url_serves_and_stops_cleanly(
    serve: Serve, models_dir: Path, sig: int
) -> None:
    first = serve.readline()
    match = re.fullmatch(r"Serving 2 models from (.+) at (http://127\.0\.0\.1:(\d+))\n", first)
    assert match, first
    assert Path(match.group(1)) == models_dir.resolve()
    url = match.group(2)
    assert int(match.group(3)) != 0
    assert [serve.readline().strip() for _ in range(2)] == [
        f"{url}/team/fake/1",
        f"{url}/team/prebuilt/2",
    ]

    response = requests.get(f"{url}/team/fake/1?tf-hub-format=compressed", timeout=30)
    assert response.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
        file = tar.extractfile("saved_model.pb")
        assert file is not None and file.read() == b"graph"
    assert requests.get(f"{url}/team/prebuilt/2.tar.gz", timeout=30).status_code == 404

    code, err = serve.finish(sig)
    assert code == 0, err
    assert "Traceback" not in err
    assert '"GET /team/fake/1?tf-hub-format=compressed HTTP/1.1" 200' in err
    assert "warning" not in err


def test_serve_gcs_prefix(models_dir: Path) -> None:
    server = Serve(str(models_dir), "--port", "0", "--gcs-prefix", "gs://bucket/models/")
    try:
        url = re.findall(r"at (http://\S+)", server.readline())[0]
        response = requests.get(
            f"{url}/team/fake/1?tf-hub-format=uncompressed", allow_redirects=False, timeout=30
        )
        assert response.status_code == 303 and response.text == "gs://bucket/models/team/fake/1"
    finally:
        code, err = server.finish(signal.SIGINT)
    assert code == 0 and "Traceback" not in err


def test_serve_not_a_folder_exits_1(tmp_path: Path) -> None:
    file = tmp_path / "file.txt"
    file.write_text("x")
    for target in (file, tmp_path / "missing"):
        result = _hubmagic("serve", str(target), "--port", "0")
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert str(target) in result.stderr
        assert result.stdout == ""


def test_serve_port_in_use_exits_1(models_dir: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _hubmagic("serve", str(models_dir), "--port", str(port))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"127.0.0.1:{port}" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--bogus"],
        ["serve"],
        ["serve", ".", "--port", "eighty"],
        ["no-such-command"],
        [],
    ],
)
def test_bad_usage_exits_2(args: list[str]) -> None:
    result = _hubmagic(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "usage: hubmagic" in result.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("10.1.2.3", False),
    ],
)
def test_non_loopback_hosts_are_detected(host: str, loopback: bool) -> None:
    from hubmagic.cli.serve import _is_loopback

    assert _is_loopback(host) is loopback
