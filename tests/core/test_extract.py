"""Hostile archives, served by a real server: refused, with nothing written anywhere."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import hubmagic
from hubmagic.core.errors import CacheError, UnsafeArchiveError
from hubmagic.core.extract import extract_tar
from tests.faulty_server import FaultyServer
from tests.snapshot import snapshot


def tar_gz(add: Callable[[tarfile.TarFile], None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT) as tar:
        graph = tarfile.TarInfo("saved_model.pb")
        graph.size = 4
        tar.addfile(graph, io.BytesIO(b"\x08\x01\x12\x00"))
        add(tar)
    return buffer.getvalue()


def member(
    name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"x", **extra: str
) -> Callable[[tarfile.TarFile], None]:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type = kind
        for key, value in extra.items():
            setattr(info, key, value)
        if kind == tarfile.REGTYPE:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        else:
            tar.addfile(info)

    return add


HOSTILE = {
    "absolute path": (member("/tmp/hubmagic-evil"), "absolute path"),
    "dot-dot": (member("../evil"), r"outside its folder \('\.\.'\)"),
    "nested dot-dot": (member("variables/../../evil"), r"outside its folder"),
    "symlink": (member("link", tarfile.SYMTYPE, linkname="/etc/passwd"), "symbolic link"),
    "relative symlink": (member("assets", tarfile.SYMTYPE, linkname=".."), "symbolic link"),
    "hardlink": (member("hard", tarfile.LNKTYPE, linkname="saved_model.pb"), "hard link"),
    "char device": (member("dev", tarfile.CHRTYPE), "device or FIFO"),
    "block device": (member("blk", tarfile.BLKTYPE), "device or FIFO"),
    "fifo": (member("fifo", tarfile.FIFOTYPE), "device or FIFO"),
    "backslash": (member("..\\evil"), "backslash"),
}


@pytest.fixture
def serve() -> Iterator[Callable[[bytes], str]]:
    servers: list[FaultyServer] = []

    def start(payload: bytes) -> str:
        servers.append(FaultyServer(payload))
        return f"{servers[-1].url}/hostile.tar.gz"

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_member_is_refused_and_nothing_is_written(
    case: str, serve: Callable[[bytes], str], tmp_path: Path, cache: str
) -> None:
    add, message = HOSTILE[case]
    url = serve(tar_gz(add))
    os.makedirs(cache)
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeArchiveError, match=message):
        hubmagic.resolve(url, cache_dir=cache)
    assert snapshot(tmp_path) == before
    assert not os.path.exists("/tmp/hubmagic-evil")


def test_gzip_bomb_is_refused_past_the_limit(
    serve: Callable[[bytes], str], tmp_path: Path, cache: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 200 MB of zeros compress to about 200 KB.
    zeros = member("variables/variables.data-00000-of-00001", data=bytes(200 * 1024 * 1024))
    url = serve(tar_gz(zeros))
    monkeypatch.setenv("HUBMAGIC_MAX_EXTRACT_BYTES", "50M")
    os.makedirs(cache)
    before = snapshot(tmp_path)
    with pytest.raises(UnsafeArchiveError, match="decompression bomb"):
        hubmagic.resolve(url, cache_dir=cache)
    assert snapshot(tmp_path) == before


def test_padding_bomb_after_the_last_member_is_refused(tmp_path: Path) -> None:
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        member("saved_model.pb", data=b"g")(tar)
    archive = gzip.compress(plain.getvalue() + bytes(20 * 1024 * 1024), compresslevel=1)
    with pytest.raises(UnsafeArchiveError, match="padding"):
        extract_tar(io.BytesIO(archive), str(tmp_path), max_bytes=1024 * 1024)


def test_plain_tar_and_dot_slash_names_are_fine(tmp_path: Path) -> None:
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        member("./", tarfile.DIRTYPE)(tar)
        member("./saved_model.pb", data=b"graph")(tar)
        member("./variables/variables.index", data=b"index")(tar)
    plain.seek(0)
    (tmp_path / "out").mkdir()
    stats = extract_tar(plain, str(tmp_path / "out"), max_bytes=10**6)
    assert (tmp_path / "out/saved_model.pb").read_bytes() == b"graph"
    assert (tmp_path / "out/variables/variables.index").read_bytes() == b"index"
    assert stats.files == 2


def test_unwritable_cache_is_a_clear_error(
    fake_hub_server: hubmagic.server.HubServer,
    tmp_path: Path,
) -> None:
    cache = tmp_path / "readonly"
    cache.mkdir()
    if os.geteuid() == 0:
        # root ignores permission bits; the immutable attribute stops it too.
        if subprocess.run(["chattr", "+i", str(cache)], capture_output=True).returncode != 0:
            pytest.skip("needs chattr +i (ext4-like file system) when running as root")
    else:
        cache.chmod(0o555)
    try:
        with pytest.raises(CacheError, match="not writable") as info:
            hubmagic.resolve(f"{fake_hub_server.url}/google/tiny/1", cache_dir=str(cache))
        assert isinstance(info.value, OSError)
        assert os.listdir(cache) == []
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(cache)], check=True)
        cache.chmod(0o755)


FULL_DISK_CHILD = textwrap.dedent(
    """
    import resource, sys
    import hubmagic
    # Python ignores SIGXFSZ, so going past the limit is an EFBIG error.
    limit = int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        hubmagic.resolve(sys.argv[1], cache_dir=sys.argv[2])
    except hubmagic.HubmagicError as exc:
        print(type(exc).__name__)
        print(exc)
        sys.exit(3)
    """
)


def test_full_disk_is_a_clear_error_and_leaves_no_trace(
    fake_hub_server: hubmagic.server.HubServer,
    tmp_path: Path,
    cache: str,
) -> None:
    # A file size limit (RLIMIT_FSIZE) makes writes fail like a full disk does.
    os.makedirs(cache)
    before = snapshot(tmp_path)
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            FULL_DISK_CHILD,
            f"{fake_hub_server.url}/google/big/1",
            cache,
            "5000000",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 3, child.stderr
    kind, message = child.stdout.split("\n", 1)
    assert kind == "CacheError"
    assert "file size limit" in message
    assert snapshot(tmp_path) == before
