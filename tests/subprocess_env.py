"""The environment for running ``python -m hubmagic ...`` from the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def repo_env(**extra: str) -> dict[str, str]:
    """``os.environ`` with this checkout importable and unbuffered output, plus ``extra``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_hubmagic(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """Runs ``python -m hubmagic ARGS`` with :func:`repo_env` plus ``env``; output captured."""
    return subprocess.run(
        [sys.executable, "-m", "hubmagic", *args],
        env=repo_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
