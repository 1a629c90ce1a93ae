"""The top-level Python API: lazy exports, the calls that span layers, settings errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib import resources
from pathlib import Path

import pytest

import hubmagic
from hubmagic.server import HubServer
from tests.subprocess_env import repo_env


def test_every_export_resolves_and_the_version_is_written_once() -> None:
    for name in hubmagic.__all__:
        assert getattr(hubmagic, name) is not None, name
    from hubmagic._version import __version__

    assert hubmagic.__version__ == __version__
    assert (resources.files("hubmagic") / "py.typed").is_file()


def test_wrappers_keep_the_signatures_users_read() -> None:
    import inspect

    assert "cache_dir" in inspect.signature(hubmagic.resolve).parameters
    assert "keras" in inspect.signature(hubmagic.load).parameters
    assert "dry_run" in inspect.signature(hubmagic.setup).parameters


@pytest.mark.parametrize("bad", [-1, 1.5, "20G"])
def test_prune_with_a_bad_size_is_a_setting_error(bad: object, tmp_path: Path) -> None:
    with pytest.raises(hubmagic.InvalidSettingError, match="max_bytes="):
        hubmagic.prune(bad, str(tmp_path))  # type: ignore[arg-type]


def _script(handle: str, cache: str, **env: str) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(
        f"""
        import hubmagic
        print("PATH=" + hubmagic.resolve({handle!r}, cache_dir={cache!r}))
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=repo_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_tfhub_download_progress_prints_progress_in_a_script(
    fake_hub_server: HubServer, tmp_path: Path
) -> None:
    handle = f"{fake_hub_server.url}/google/tiny/1"
    quiet = _script(handle, str(tmp_path / "a"))
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.startswith("PATH=")  # nothing else without the variable
    loud = _script(handle, str(tmp_path / "b"), TFHUB_DOWNLOAD_PROGRESS="1")
    assert loud.returncode == 0, loud.stderr
    assert f"{handle}: done in" in loud.stdout
    assert loud.stdout.rstrip().splitlines()[-1].startswith("PATH=")
