"""Magic arguments as users type them: split like a shell, paths checked for what they are.

Each case runs in a real InteractiveShell (the ``shell`` fixture); the same
cases through the command line are in ``tests/cli/test_cli_arguments.py``.
Run on IPython 9 and on Colab's IPython 7.34 (``.venv-ipy7``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from hubmagic.core.names import cache_key
from tests.shell_fixtures import Shell


def _usage_error(shell: Shell, name: str, line: str) -> list[str]:
    with pytest.raises(UsageError) as failed:
        shell.magic(name, line)
    return str(failed.value).splitlines()


def test_a_quoted_cache_folder_with_spaces_is_one_argument(shell: Shell, tmp_path: Path) -> None:
    drive = tmp_path / "drive" / "My Drive" / "tfhub"
    for quoted in (f'"{drive}"', f"'{drive}'", str(drive).replace(" ", "\\ ")):
        plan = shell.magic("hub_setup", f"local --cache {quoted} --dry-run")
        assert plan.cache_dir == str(drive), quoted
        assert plan.ok


def test_a_quoted_handle_with_spaces_is_one_argument(shell: Shell, tmp_path: Path) -> None:
    missing = tmp_path / "path with spaces" / "model"
    lines = _usage_error(shell, "hub_load", f'"{missing}"')
    assert lines[0] == f"No such folder: {missing}."  # no quotes in the path


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("hub_setup", "--cache ''"),
        ("hub_setup", '--cache ""'),
        ("hub_cache", "ls --cache ''"),
    ],
)
def test_an_empty_cache_is_an_error_not_the_current_folder(
    shell: Shell, name: str, line: str
) -> None:
    assert _usage_error(shell, name, line) == [
        "cache is empty: give a folder or gs://bucket/prefix."
    ]


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("hub_load", '"/content/drive/My Drive/model'),
        ("hub_setup", "--cache '/content/drive/My Drive"),
        ("hub_cache", "ls --cache \\"),
    ],
)
def test_a_line_that_cannot_be_split_is_one_line(shell: Shell, name: str, line: str) -> None:
    (message,) = _usage_error(shell, name, line)
    assert message.startswith("cannot read the arguments: ")


def test_a_file_as_cache_folder_says_it_is_a_file(shell: Shell, tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("x")
    plan, out = shell.show(f"%hub_setup local --cache {file} --dry-run")
    assert [p.message for p in plan.problems] == [
        f"the cache folder {file} is a file, not a folder"
    ]
    assert "x the cache folder" in out
    plan = shell.magic("hub_setup", f"local --cache {file}/tfhub --dry-run")
    assert [p.message for p in plan.problems] == [
        f"the cache folder {file}/tfhub cannot be created: {file} is a file"
    ]
    assert _usage_error(shell, "hub_cache", f"ls --cache {file}") == [
        f"{file} is a file, not a cache folder.",
        "fix: Check the path, or leave the cache option out to use the default cache.",
    ]


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("hub_cache", "ls --cache /proc/nope"),
        ("hub_cache", "clear --yes --cache /proc/nope"),
        ("hub_panel", "--cache /proc/nope"),
    ],
)
def test_a_cache_folder_that_does_not_exist_is_an_error(shell: Shell, name: str, line: str) -> None:
    assert _usage_error(shell, name, line) == [
        "The cache folder /proc/nope does not exist.",
        "fix: Check the path, or leave the cache option out to use the default cache.",
    ]


def test_a_folder_that_is_not_a_cache_gets_one_warning(shell: Shell, tmp_path: Path) -> None:
    folder = tmp_path / "home"
    for name in ("a", "b", "c", "d"):
        (folder / name / "deep").mkdir(parents=True)
        (folder / f"{name}.txt").write_text(name)
    _, out = shell.show(f"%hub_cache ls --cache {folder}")
    assert "Warnings:" in out
    warnings = out.split("Warnings:\n", 1)[1].splitlines()
    assert warnings == [
        f"  {folder} is not a tensorflow_hub cache: none of its 8 items is a cache entry; "
        "all left alone"
    ]


def test_a_folder_that_is_not_a_cache_sys_kernel(shell: Shell) -> None:
    if not os.path.isdir("/sys/kernel"):
        pytest.fail("this test needs Linux's /sys/kernel")
    _, out = shell.show("%hub_cache ls --cache /sys/kernel")
    warnings = out.split("Warnings:\n", 1)[1].splitlines()
    assert len(warnings) == 1 and "/sys/kernel is not a tensorflow_hub cache" in warnings[0]


def test_a_cache_with_entries_still_names_each_stray_item(shell: Shell, cache: str) -> None:
    key = cache_key("https://tfhub.dev/google/tiny/1")
    os.makedirs(os.path.join(cache, key))
    Path(cache, key, "saved_model.pb").write_bytes(b"x")
    Path(cache, "stray.txt").write_text("x")
    _, out = shell.show(f"%hub_cache ls --cache {cache}")
    assert f"{cache}/stray.txt is not a cache entry; left alone" in out


@pytest.mark.parametrize("size", ["-1G", "-5", "-0.5M"])
def test_a_negative_max_size_gets_the_size_error(shell: Shell, cache: str, size: str) -> None:
    os.makedirs(cache)
    (message,) = _usage_error(shell, "hub_cache", f"prune --max-size {size} --cache {cache}")
    assert f"{size!r} must be a positive size" in message


@pytest.mark.parametrize("device", ["bogus", "/gpu0", "/job:localhost/job:x", "/replica:x"])
def test_an_unknown_io_device_is_refused_at_setup_time(shell: Shell, device: str) -> None:
    assert _usage_error(shell, "hub_setup", f"--io-device {device} --dry-run") == [
        f"io_device {device!r} is not a TensorFlow device name.",
        "fix: Write it like /job:localhost, /cpu:0 or "
        "/job:localhost/replica:0/task:0/device:CPU:0.",
    ]


@pytest.mark.parametrize(
    "device", ["/job:localhost", "/cpu:0", "/job:worker/replica:0/task:1/device:GPU:0", "cpu:0"]
)
def test_a_tensorflow_device_name_is_accepted(shell: Shell, device: str) -> None:
    plan = shell.magic("hub_setup", f"--io-device {device} --dry-run")
    assert plan.io_device == device
