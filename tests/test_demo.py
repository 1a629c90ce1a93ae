"""``bash demo.sh``: builds the sample models, serves them, starts JupyterLab, stops cleanly.

The demo runs in this test's venv (``HUBMAGIC_VENV=sys.prefix``, no pip:
``HUBMAGIC_DEMO_INSTALL=0``) with its folder in the test's temporary folder
(``HUBMAGIC_DEMO_DIR``) and a 5 MB ``google/big/1``. Contract checked: it prints
``JupyterLab: <url>``, ``Hub server: <url>`` and ``Processes: hub server PID,
JupyterLab PID``; after SIGINT (Ctrl-C) or SIGTERM it exits 0 and no process it
started (hub server, JupyterLab, kernels) is left; a second run reuses the models
the first one built.

The waits tolerate a loaded machine: rather than fixed timeouts, each allows a
stall (no new output line, no process of the demo gone) of :data:`STALL_S` and
is extended by every sign of progress, up to :data:`MAX_WAIT_S` in all. The
time the demo took to stop is printed (``-s`` shows it).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo.sh"

pytestmark = [pytest.mark.slow, pytest.mark.tf]

STALL_S = 60.0
"""How long a wait allows without any progress (a new output line, a process gone)."""

MAX_WAIT_S = 600.0
"""The most any wait allows, progress or not."""


@dataclass
class Demo:
    process: subprocess.Popen[str]
    reader: threading.Thread | None = None
    lines: list[str] = field(default_factory=list)
    _queue: queue.Queue[str | None] = field(default_factory=queue.Queue)

    def read_until(self, pattern: str, stall: float = STALL_S) -> re.Match[str]:
        """Reads output lines until one matches ``pattern``; fails with the output.

        Fails when no line at all comes for ``stall`` seconds, or after MAX_WAIT_S.
        """
        regex = re.compile(pattern)
        started = time.monotonic()
        while True:
            left = min(stall, started + MAX_WAIT_S - time.monotonic())
            try:
                line = self._queue.get(timeout=max(0.0, left))
            except queue.Empty:
                waited = time.monotonic() - started
                pytest.fail(
                    f"no line matching {pattern!r} after {waited:.0f} s "
                    f"(the last {stall:.0f} s without output):\n{self.output()}"
                )
            if line is None:
                self.process.wait(timeout=10)
                pytest.fail(
                    f"demo.sh exited ({self.process.returncode}) before printing "
                    f"{pattern!r}:\n{self.output()}"
                )
            match = regex.search(line)
            if match:
                return match

    def output(self) -> str:
        return "".join(self.lines)


def _start(env: dict[str, str]) -> Demo:
    process = subprocess.Popen(
        ["bash", str(DEMO)],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    demo = Demo(process)

    def pump() -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                demo.lines.append(line)
                demo._queue.put(line)
        demo._queue.put(None)

    demo.reader = threading.Thread(target=pump, daemon=True)
    demo.reader.start()
    return demo


def _demo_env(demo_dir: Path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("HUBMAGIC_", "TFHUB_", "JUPYTER"))
    }
    env.update(
        HUBMAGIC_VENV=sys.prefix,
        HUBMAGIC_DEMO_INSTALL="0",
        HUBMAGIC_DEMO_DIR=str(demo_dir),
        HUBMAGIC_DEMO_BIG_MB="5",
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, answer.read()


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that contain ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and _running(int(proc.name)):
            found.append(f"{proc.name}: {cmdline}")
    return found


def _wait_until(condition: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return bool(condition())


def _check_running(demo: Demo) -> tuple[str, str, list[int]]:
    """Waits for the URLs, checks both servers answer; returns (lab url, token, pids)."""
    # demo.sh gives JupyterLab 120 s to answer, silently: allow more, so its own error shows.
    lab = demo.read_until(r"^JupyterLab: (http://127\.0\.0\.1:\d+)/\S*\?token=(\w+)$", 180)
    hub = re.search(r"^Hub server: (http://127\.0\.0\.1:\d+)", demo.output(), re.M)
    pids = re.search(r"^Processes: hub server (\d+), JupyterLab (\d+)$", demo.output(), re.M)
    assert hub and pids, demo.output()
    lab_url, token = lab.group(1), lab.group(2)

    status, body = _get(f"{lab_url}/api/status?token={token}")
    assert status == 200 and "started" in json.loads(body)

    status, body = _get(f"{hub.group(1)}/google/tiny/1?tf-hub-format=compressed")
    assert status == 200
    assert body[:2] == b"\x1f\x8b"
    assert gzip.decompress(body)  # a whole gzip stream
    return lab_url, token, [int(pids.group(1)), int(pids.group(2))]


def _start_kernel(lab_url: str, token: str) -> None:
    request = urllib.request.Request(
        f"{lab_url}/api/kernels",
        method="POST",
        data=b"{}",
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 201


def _wait_for_exit(demo: Demo, pids: list[int]) -> int | None:
    """Waits for demo.sh to exit while it makes progress; its exit code, or None.

    Progress is a new output line or one of ``pids`` gone: each resets the
    STALL_S allowance, within MAX_WAIT_S in all.
    """
    started = last_progress = time.monotonic()
    seen = (len(demo.lines), sum(_running(pid) for pid in pids))
    while demo.process.poll() is None:
        now = time.monotonic()
        progress = (len(demo.lines), sum(_running(pid) for pid in pids))
        if progress != seen:
            seen, last_progress = progress, now
        if now - last_progress > STALL_S or now - started > MAX_WAIT_S:
            return None
        time.sleep(0.1)
    return demo.process.returncode


def _stop_and_check(demo: Demo, signum: int, demo_dir: Path, pids: list[int]) -> None:
    kernels = [int(line.split(":")[0]) for line in _processes_mentioning(str(demo_dir))]
    started = time.monotonic()
    os.kill(demo.process.pid, signum)
    code = _wait_for_exit(demo, pids + kernels)
    took = time.monotonic() - started
    if code is None:
        os.killpg(demo.process.pid, signal.SIGKILL)
        pytest.fail(
            f"demo.sh did not stop {took:.0f} s after {signum!r}, the last {STALL_S:.0f} s "
            f"without progress:\n{demo.output()}"
        )
    print(f"demo.sh stopped {took:.1f} s after {signal.Signals(signum).name}")
    assert code == 0, demo.output()
    assert "stopped" in demo.output()
    left = [pid for pid in pids if _running(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"still running after demo.sh exited: {left}"
    # Kernels name their connection file under the demo folder.
    leftovers = _processes_mentioning(str(demo_dir))
    assert not leftovers, leftovers


def _kill_leftovers(demo: Demo, demo_dir: Path) -> None:
    """After a failure: kills the demo and whatever it started (no-op after a clean stop)."""
    if demo.process.poll() is None:
        os.killpg(demo.process.pid, signal.SIGKILL)
    demo.process.wait(timeout=10)
    if demo.reader is not None:
        demo.reader.join(timeout=10)
    pids = re.search(r"^Processes: hub server (\d+), JupyterLab (\d+)$", demo.output(), re.M)
    others = [int(line.split(":")[0]) for line in _processes_mentioning(str(demo_dir))]
    printed = [int(pid) for pid in pids.groups()] if pids else []
    for pid in printed + others:
        if _running(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="checks processes through /proc")
def test_demo_serves_models_opens_jupyterlab_and_stops_everything(tmp_path: Path) -> None:
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed: the demo builds its models with it")
    if importlib.util.find_spec("jupyterlab") is None:
        pytest.fail(
            "JupyterLab is not installed: the demo needs the [browser] extra "
            "(pip install -e '.[tf,test,browser]', as tests/run.sh does)",
            pytrace=False,
        )
    demo_dir = tmp_path / "demo"
    env = _demo_env(demo_dir)

    # First run: builds the models, starts both servers; Ctrl-C with a kernel running.
    demo = _start(env)
    try:
        demo.read_until(r"^building google/big/1 \(5 MB\)", 180)  # TensorFlow's import
        lab_url, token, pids = _check_running(demo)
        assert all(_running(pid) for pid in pids)
        _start_kernel(lab_url, token)
        assert _wait_until(lambda: _processes_mentioning(str(demo_dir / "jupyter")), 30)
        _stop_and_check(demo, signal.SIGINT, demo_dir, pids)
    finally:
        _kill_leftovers(demo, demo_dir)
    assert (demo_dir / "models" / "google" / "big" / "1" / "saved_model.pb").is_file()
    assert "reusing sample models" not in demo.output()

    # Second run: reuses the models (nothing built); SIGTERM stops it too.
    started = time.monotonic()
    demo = _start(env)
    try:
        _, _, pids = _check_running(demo)
        assert "reusing sample models" in demo.output()
        assert "building" not in demo.output()
        print(f"second run up in {time.monotonic() - started:.1f} s")
        _stop_and_check(demo, signal.SIGTERM, demo_dir, pids)
    finally:
        _kill_leftovers(demo, demo_dir)
