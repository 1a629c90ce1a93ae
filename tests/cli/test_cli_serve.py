"""Tests of ``python -m hubmagic serve`` as a real subprocess."""

from __future__ import annotations

import fcntl
import io
import os
import queue
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import termios
import threading
import time
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
            # A deadline, not a duration: it stops in about a second, but a loaded
            # machine (CI under a CPU burner) was seen to need more than 10 s.
            _, err = self.proc.communicate(timeout=60)
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
        ["serve", ".", "--port", "99999"],
        ["serve", ".", "--port", "-1"],
        ["serve", ".", "--max-connections", "0"],
        ["serve", ".", "--idle-timeout", "0"],
        ["serve", ".", "--idle-timeout", "nan"],
        ["no-such-command"],
        [],
    ],
)
def test_bad_usage_exits_2(args: list[str]) -> None:
    result = _hubmagic(*args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "usage: hubmagic" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("hubmagic")


def test_port_out_of_range_says_the_range() -> None:
    result = _hubmagic("serve", ".", "--port", "99999")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "hubmagic serve: error: argument --port: must be between 0 and 65535, not 99999"
    )


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


# -- under abuse: the connection limit, idle connections, stuck readers, secrets ----------


def _url_and_port(server: Serve) -> tuple[str, int]:
    url = re.findall(r"at (http://\S+)", server.readline())[0]
    return url, int(url.rsplit(":", 1)[1])


def _send_get(sock: socket.socket, target: str) -> None:
    sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())


def _read_answer(sock: socket.socket) -> tuple[int, bytes]:
    """Reads one answer with a Content-Length body; returns its status and head."""
    stream = sock.makefile("rb")
    head = b""
    while (line := stream.readline()) not in (b"\r\n", b""):
        head += line
    match = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    stream.read(int(match.group(1)) if match else 0)
    stream.close()
    return int(head.split(b" ", 2)[1]), head


def _closed_within(sock: socket.socket, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if select.select([sock], [], [], left)[0]:
            try:
                if not sock.recv(65536):
                    return True
            except ConnectionError:
                return True
    return False


def test_serve_answers_503_past_max_connections(models_dir: Path) -> None:
    server = Serve(str(models_dir), "--port", "0", "--max-connections", "3")
    try:
        _, port = _url_and_port(server)
        socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(8)]
        try:
            for sock in socks:
                _send_get(sock, "/team/fake/1")
            answers = [_read_answer(sock) for sock in socks]
            assert [status for status, _ in answers] == [200] * 3 + [503] * 5, answers
            assert all(b"\r\nRetry-After: 1\r\n" in head for _, head in answers[3:])
            assert all(_closed_within(sock, 30) for sock in socks[3:])
            for sock in socks[:3]:  # the three in their slots are served again
                _send_get(sock, "/team/fake/1")
                assert _read_answer(sock)[0] == 200
        finally:
            for sock in socks:
                sock.close()
    finally:
        code, err = server.finish(signal.SIGINT)
    assert code == 0 and "Traceback" not in err
    assert err.count("refused: 3 connections open") == 5, err


def test_serve_closes_idle_connections(models_dir: Path) -> None:
    server = Serve(str(models_dir), "--port", "0", "--idle-timeout", "1")
    try:
        _, port = _url_and_port(server)
        with (
            socket.create_connection(("127.0.0.1", port), timeout=30) as silent,
            socket.create_connection(("127.0.0.1", port), timeout=30) as kept,
        ):
            _send_get(kept, "/team/fake/1")
            assert _read_answer(kept)[0] == 200
            assert _closed_within(silent, 30)
            assert _closed_within(kept, 30)
    finally:
        code, err = server.finish(signal.SIGINT)
    assert code == 0 and "Traceback" not in err


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (kB) and Threads of process ``pid``, from /proc/<pid>/status."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM", "Threads")}


def _cpu_ticks(pid: int) -> int:
    """User + system CPU time of process ``pid``, in clock ticks (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


STUCK_READERS = 20
MB_PER_STUCK_READER = 5  # measured 2.1 (128 KiB buffers); 6.1 with joined 1 MiB chunks


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads /proc/<pid>/status")
def test_serve_memory_stays_bounded_with_stuck_readers(tmp_path: Path) -> None:
    root = tmp_path / "models"
    model = root / "team" / "big" / "1"
    (model / "variables").mkdir(parents=True)
    (model / "saved_model.pb").write_bytes(b"graph")
    # Incompressible, and far more than the socket buffers of a client hold.
    (model / "variables" / "variables.data-00000-of-00001").write_bytes(os.urandom(24 << 20))
    server = Serve(str(root), "--port", "0")
    socks: list[socket.socket] = []
    try:
        url, port = _url_and_port(server)
        pid = server.proc.pid
        target = "/team/big/1?tf-hub-format=compressed"
        assert len(requests.get(url + target, timeout=60).content) > 24 << 20  # warm-up
        before = _proc_status(pid)
        for _ in range(STUCK_READERS):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.settimeout(30)
            sock.connect(("127.0.0.1", port))
            _send_get(sock, target)
            socks.append(sock)  # never read
        # Stuck: every reader has bytes waiting, and neither they, the server's peak
        # memory nor its CPU time (all its threads blocked sending) move for 3 polls.
        deadline = time.monotonic() + 120
        seen: list[object] = []
        while True:
            queued = [
                struct.unpack("i", fcntl.ioctl(s, termios.FIONREAD, b"\0" * 4))[0] for s in socks
            ]
            status = _proc_status(pid)
            seen = [*seen[-2:], (queued, status["VmHWM"], _cpu_ticks(pid))]
            if all(queued) and len(seen) == 3 and seen.count(seen[0]) == 3:
                break
            assert time.monotonic() < deadline, f"readers not stuck in 120 s: {seen[-1]}"
            time.sleep(0.5)
        assert status["Threads"] > STUCK_READERS  # one answering each, and the main one
        # Another client is still served meanwhile.
        assert requests.get(f"{url}/team/big/1", timeout=30).status_code == 200
        grown_mb = (status["VmHWM"] - before["VmHWM"]) / 1024
        print(
            f"{STUCK_READERS} stuck readers: peak RSS {before['VmHWM'] / 1024:.0f} -> "
            f"{status['VmHWM'] / 1024:.0f} MB, {grown_mb / STUCK_READERS:.2f} MB each"
        )
        assert grown_mb < STUCK_READERS * MB_PER_STUCK_READER, (before, status)
    finally:
        for sock in socks:
            sock.close()
        code, err = server.finish(signal.SIGINT)
    assert code == 0, err
    assert "Traceback" not in err


def test_serve_log_never_shows_secrets(models_dir: Path) -> None:
    server = Serve(str(models_dir), "--port", "0")
    try:
        url, port = _url_and_port(server)
        signed = (
            "/team/fake/1?tf-hub-format=compressed&X-Goog-Algorithm=GOOG4-RSA-SHA256"
            "&X-Goog-Credential=sa%40proj.iam.gserviceaccount.com%2F20260101"
            "&X-Goog-Signature=deadbeefsecret&Expires=1700000000&GoogleAccessId=idsecret"
        )
        assert requests.get(url + signed, timeout=30).status_code == 200
        assert requests.get(f"{url}/team/fake/1?token=toksecret&key=keysecret", timeout=30).ok
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            _send_get(sock, f"http://alice:pwsecret@127.0.0.1:{port}/team/fake/1")
            assert _read_answer(sock)[0] == 200
    finally:
        code, err = server.finish(signal.SIGINT)
    assert code == 0 and "Traceback" not in err
    for secret in (
        "deadbeef",
        "idsecret",
        "toksecret",
        "keysecret",
        "pwsecret",
        "alice",
        "gserviceaccount",
    ):
        assert secret not in err, err
    assert "X-Goog-Signature=REDACTED" in err and "tf-hub-format=compressed" in err
    assert "http://REDACTED@127.0.0.1" in err
