"""What TensorFlow raises while loading becomes one line and a fix (its own error kept).

Each failure through ``hubmagic.load`` (the error, with TensorFlow's as
``__cause__``) and through ``%hub_load`` (a UsageError: one line and a fix
line, no traceback). Also the argument cases that need a real load: a quoted
folder with spaces, a handle with a trailing slash.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from IPython.core.error import UsageError

import hubmagic
from hubmagic.core.errors import HubmagicError, InvalidSettingError, NotASavedModelError
from hubmagic.core.names import cache_key
from hubmagic.server import HubServer
from tests.shell_fixtures import Shell

pytestmark = pytest.mark.tf


def _tiny(server: HubServer) -> str:
    return f"{server.url}/google/tiny/1"


def _garbage_model(root: Path) -> Path:
    """A folder shaped like a SavedModel whose saved_model.pb is not one."""
    folder = root / "garbage model"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(bytes(range(256)) * 4)
    return folder


def _magic_lines(shell: Shell, line: str) -> list[str]:
    with pytest.raises(UsageError) as failed:
        shell.magic("hub_load", line)
    assert failed.value.__cause__ is None  # shown without TensorFlow's traceback
    return str(failed.value).splitlines()


def test_tags_the_model_does_not_have(shell: Shell, hub_server: HubServer, cache: str) -> None:
    handle = _tiny(hub_server)
    with pytest.raises(InvalidSettingError) as failed:
        hubmagic.load(handle, tags=["serve", "bogus"], cache_dir=cache)
    error = failed.value
    assert (
        error.message == f"{handle} has no MetaGraph with the tags serve,bogus (it has ['serve'])."
    )
    assert isinstance(error.__cause__, ValueError)  # TensorFlow's, kept
    assert not isinstance(error.__cause__, HubmagicError)
    shell.magic("hub_setup", f"--cache {cache}")
    lines = _magic_lines(shell, f"{handle} --tags serve,bogus")
    assert lines == [
        error.message,
        "fix: Leave the tags out (TensorFlow then picks the only MetaGraph), "
        "or give tags the model has.",
    ]


def test_a_folder_of_garbage_bytes(shell: Shell, tmp_path: Path) -> None:
    folder = _garbage_model(tmp_path)
    with pytest.raises(NotASavedModelError) as failed:
        hubmagic.load(str(folder))
    error = failed.value
    assert error.message.startswith(f"TensorFlow could not load {folder}: ")
    assert "\n" not in error.message
    assert error.__cause__ is not None and not isinstance(error.__cause__, HubmagicError)
    lines = _magic_lines(shell, f'"{folder}"')
    assert len(lines) == 2 and lines[0] == error.message
    assert lines[1].startswith("fix: Check that the folder holds a SavedModel")
    assert "%hub_cache ls" in lines[1]


def test_an_io_device_tensorflow_does_not_have(
    shell: Shell, hub_server: HubServer, cache: str
) -> None:
    handle = _tiny(hub_server)
    with pytest.raises(InvalidSettingError) as failed:
        hubmagic.load(handle, io_device="/job:nope", cache_dir=cache)
    error = failed.value
    assert error.message == f"TensorFlow has no device /job:nope to read {handle} through."
    assert error.__cause__ is not None and "unknown device" in str(error.__cause__)
    shell.magic("hub_setup", f"--cache {cache} --io-device /job:nope")
    assert _magic_lines(shell, handle) == [
        error.message,
        "fix: Give an io device this runtime has, such as /job:localhost or /cpu:0, "
        "or run %hub_setup again without one.",
    ]


def test_an_io_device_that_is_no_device_name_is_refused_before_downloading(
    hub_server: HubServer, cache: str
) -> None:
    mark = hub_server.mark()
    with pytest.raises(InvalidSettingError, match="is not a TensorFlow device name"):
        hubmagic.load(_tiny(hub_server), io_device="gpu0", cache_dir=cache)
    assert hub_server.requests_since(mark) == ()
    assert not os.path.exists(cache)


def test_a_quoted_folder_with_spaces_loads(
    shell: Shell, hub_server: HubServer, cache: str, tmp_path: Path
) -> None:
    model = hubmagic.load(_tiny(hub_server), cache_dir=cache)
    assert model is not None
    folder = tmp_path / "My Drive" / "tiny model"
    shutil.copytree(Path(cache) / cache_key(_tiny(hub_server)), folder)
    loaded = shell.magic("hub_load", f'"{folder}"')
    assert hasattr(loaded, "signatures")
    loaded = shell.magic("hub_load", f"'{folder}'")
    assert hasattr(loaded, "signatures")


@pytest.mark.parametrize("tail", ["/", "?tf-hub-format=compressed"])
def test_a_handle_with_a_trailing_slash_or_a_format_query_loads(
    shell: Shell, hub_server: HubServer, cache: str, tail: str
) -> None:
    handle = _tiny(hub_server) + tail
    shell.magic("hub_setup", f"--cache {cache}")
    model = shell.magic("hub_load", handle)
    assert hasattr(model, "signatures")
    assert (Path(cache) / cache_key(handle) / "saved_model.pb").is_file()  # keyed as given
