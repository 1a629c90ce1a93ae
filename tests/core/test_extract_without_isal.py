"""Extraction without isal (not preinstalled on Colab): the zlib fallback is used, and said."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.subprocess_env import repo_env

# A child process, so that isal is blocked before hubmagic is first imported.
CHILD = textwrap.dedent(
    """
    import io, json, os, sys, tarfile, tempfile
    if sys.argv[1] == "blocked":
        sys.modules["isal"] = None  # `import isal` now raises ImportError
    from hubmagic.core import extract

    payload = os.urandom(64 * 1024) + b"saved model" * 5000
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in (("saved_model.pb", payload), ("variables/variables.index", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw.seek(0)
    with tempfile.TemporaryDirectory() as dest:
        stats = extract.extract_tar(raw, dest, max_bytes=10**8)
        with open(os.path.join(dest, "saved_model.pb"), "rb") as f:
            same = f.read() == payload
    print(json.dumps({
        "decompressor": extract.decompressor_name(),
        "files": stats.files,
        "same": same,
        "isal_loaded": sys.modules.get("isal") is not None,
    }))
    """
)


def run_child(mode: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode],
        env=repo_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_without_isal_gzip_goes_through_zlib_and_says_so() -> None:
    result = run_child("blocked")
    assert result == {
        "decompressor": "zlib (isal is not installed: pip install isal for faster gzip extraction)",
        "files": 2,
        "same": True,
        "isal_loaded": False,
    }


def test_with_isal_it_is_used() -> None:
    result = run_child("normal")
    assert result == {"decompressor": "isal", "files": 2, "same": True, "isal_loaded": True}
